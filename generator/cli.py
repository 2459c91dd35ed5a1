"""Thin command line. Heavy modules (torch, matplotlib) are imported inside the commands, so --help is instant.

Exit codes: see EXIT_CODES (also in --help and docs/errors.md).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from generator.questions import ALONE

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FLAG_KEYS = {"model": "model.path", "data": "data.csv", "seed": "seed", "out": "site_dir"}
EXIT_CODES = """exit codes:
  0    success
  1    an unexpected error: a bug (run again with --debug before the command for the traceback)
  2    bad input: one line names the file, the row or the key, and what was expected
  130  interrupted (Ctrl-C): the site folder holds the previous report or the new one, never a mix"""


def _say(message: str) -> None:
    """Progress and summaries go to stdout, so that stderr holds nothing but an error's one line."""
    print(message, flush=True)


def _error(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class LoopBars:
    """The build's named loops as tqdm bars on ``stream``, with elapsed time and ETA. tqdm's ``disable=None``
    keeps them quiet when ``stream`` is not a terminal. A line said while a bar is drawn goes above it."""

    def __init__(self, stream):
        self.stream = stream
        self.bars: dict = {}

    def __call__(self, name: str, done: int, total: int) -> None:
        from tqdm import tqdm
        if name not in self.bars:
            self.bars[name] = tqdm(total=total, desc=f"  {name}", file=self.stream, disable=None, dynamic_ncols=True)
        bar = self.bars[name]
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            del self.bars[name]

    def say(self, line: str) -> None:
        from tqdm import tqdm
        tqdm.write(f"  {line}", file=self.stream)


def build_progress():
    """Progress for the build: lines on stdout; on a terminal, its loops as bars. When stdout is not a terminal (a
    log, a pipe, a test), each loop stays one plain line per item, as in ``q3: LIME 3/7``."""
    from generator.progress import Progress
    if not sys.stdout.isatty():
        return Progress(lambda line: _say(f"  {line}"))
    bars = LoopBars(sys.stdout)
    return Progress(bars.say, bars)


def _settings(args):
    from generator.config import load_settings, parse_override
    overrides = dict(parse_override(text) for text in args.set)
    labels = {}
    for flag, key in FLAG_KEYS.items():
        value = getattr(args, flag, None)
        if value is not None:
            if flag == "data":  # a CSV or an image folder; it replaces whichever the file sets
                key = "data.folder" if Path(value).is_dir() else "data.csv"
                other = "data.csv" if key == "data.folder" else "data.folder"
                overrides[other], labels[other] = "", "--data"
            overrides[key] = str(Path(value).resolve()) if flag in ("model", "data", "out") else value
            labels[key] = f"--{flag}"
    return load_settings(Path(args.config), overrides, labels)


def cmd_build(args) -> None:
    from generator.rebuild import rebuild_pages
    settings = _settings(args)
    start = time.perf_counter()
    # Unchanged analysis inputs: render the pages from the last build without importing torch (about a second).
    quick = not (args.force or args.only or args.device != "cpu")
    result = rebuild_pages(settings, TEMPLATES) if quick else None
    if result is None:
        if args.only:  # before parsing the data: --only updates a full build, it cannot start one
            from generator.only import require_full_build
            from generator.store import Store
            site_dir = settings.resolve(settings.site_dir)
            require_full_build(Store(settings.root, site_dir), site_dir, args.only)
        from generator.inputs import load_data
        data = load_data(settings)  # before torch is imported: a bad CSV is reported in a second, not after five
        for line in data.messages():
            _say(f"  {line}")
        from generator.build import build
        result = build(settings, TEMPLATES, progress=build_progress(), force=args.force, data=data,
                       device=args.device, only=args.only)
    _write_timings(settings.root / "build-timings.json", result)
    for stage, seconds in result["stages"].items():
        _say(f"  {seconds:7.2f} s  {stage}")
    files = result["files"]
    if result["cached"]:
        _say(f"  reused from the cache: {', '.join(result['cached'])} (--force recomputes)")
    if result.get("absent"):
        from generator.site.strings import CLASS_NAMES
        names = ", ".join(f"{c} {CLASS_NAMES['en'][c].lower()}" for c in result["absent"])
        them = "it" if len(result["absent"]) == 1 else "them"
        _say(f"  absent classes: the data has no face of {names}; every page marks {them} absent and explains the "
             f"other classes")
    _say(f"Built the report in {time.perf_counter() - start:.1f} s: {files['written']} files written, "
         f"{files['unchanged']} unchanged, {files['removed']} removed, in {result['site_dir']}")
    _say("Next: mkdocs serve   (then open http://127.0.0.1:8000/)")


def _write_timings(path: Path, result: dict) -> None:
    import json
    path.write_text(json.dumps({k: round(v, 3) for k, v in result["stages"].items()}, indent=1) + "\n")


def cmd_synth(args) -> None:
    import numpy as np
    from generator.data import synth
    from generator.data.fer2013 import write_csv
    indices = np.arange(args.count)
    images, labels, parts = synth.render_dataset(args.seed, indices)
    out = Path(args.out)
    write_csv(out, images, labels, [synth.usage_of(int(i)) for i in indices])
    masks = out.with_suffix(".masks.npz")
    np.savez_compressed(masks, parts=parts, part_names=np.array(synth.PARTS), labels=labels)
    _say(f"Wrote {args.count} synthetic faces to {out}, and their part masks to {masks}")


def cmd_train(args) -> None:
    from generator.models.train import DEMO_WEIGHTS, save_checkpoint, train_demo
    start = time.perf_counter()
    result = train_demo(seed=args.seed, epochs=args.epochs,
                        progress=lambda m: _say(f"  {time.perf_counter() - start:6.1f} s  {m}"))
    out = Path(args.out) if args.out else DEMO_WEIGHTS
    save_checkpoint(result, out)
    _say(f"Held-out accuracy {result.val_accuracy:.1%}; trained in {time.perf_counter() - start:.0f} s; "
         f"weights in {out}")


def cmd_layers(args) -> None:
    from generator.models.layers import conv_listing
    from generator.models.load import load_model
    settings = _settings(args)
    loaded = load_model(settings.model, settings.root, notice=_say)
    geometry = loaded.model.geometry
    fed = "" if geometry.is_identity else f", fed to the model as {geometry.input_shape}"
    print(f"Conv layers of {loaded.path.name} ({loaded.description}), output shape for one 48x48 face{fed}:")
    for k, conv in enumerate(conv_listing(loaded.model)):
        kind = "" if conv.kind == "Conv2d" else f"  {conv.kind}"  # a Keras model's convs are of three kinds
        print(f"  {k:2d}  {conv.name:<28} {conv.in_channels:>4} -> {conv.out_channels:<4} out {conv.shape}{kind}")


def cmd_pdf(args) -> None:
    from generator.pdf import make_pdfs
    start = time.perf_counter()
    root = Path(args.config).resolve().parent
    out = Path(args.out).resolve() if args.out else root
    written = make_pdfs(root, out, full=args.full)
    _say(f"Printed the {'whole report' if args.full else 'hand-in version'} in {time.perf_counter() - start:.1f} s: " + ", ".join(str(p) for p in written))


def cmd_settings(args) -> None:
    from generator import settings_doc
    sys.stdout.write(settings_doc.markdown() if args.markdown else settings_doc.toml())


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m generator", description="Explainable-AI report generator.",
                                  epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = top.add_subparsers(dest="command", required=True)

    def with_settings(p):
        p.add_argument("--config", default="pyproject.toml", help="settings file with [tool.generator]")
        p.add_argument("--model", help="checkpoint file (overrides model.path)")
        p.add_argument("--data", help="FER2013-format CSV or image folder (overrides data.csv and data.folder)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override any setting, e.g. --set images.min_confidence=0.8")
        return p

    build = with_settings(commands.add_parser(
        "build", help="compute every explanation and write site_src/",
        description="Compute every explanation and write site_src/. Before computing, it says how long each stage\n"
                    "will take on this machine, and the one --set that would cut the most (nothing when every\n"
                    "stage comes from the cache).",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter))
    build.add_argument("--seed", type=int, help="overrides seed")
    build.add_argument("--out", help="docs folder to write (overrides site_dir)")
    build.add_argument("--force", action="store_true", help="recompute every stage, ignoring the cache")
    build.add_argument("--only", choices=ALONE,
                       help="recompute one question and rewrite only its pages and figures (after a full build)")
    build.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                       help="where the model runs (default cpu; cuda is untested)")
    build.set_defaults(run=cmd_build)
    layers = with_settings(commands.add_parser("layers", help="list the model's conv layers and output shapes"))
    layers.set_defaults(run=cmd_layers)
    pdf = commands.add_parser(
        "pdf", help="print the hand-in version as handin.zh-TW.pdf and handin.en.pdf (needs the pdf extra)",
        description="Build the site from the docs folder as it is (no analysis) into a temporary folder and print\n"
                    "each language's hand-in page to a PDF with headless Chromium: handin.zh-TW.pdf and\n"
                    "handin.en.pdf (the four answers, each from a new page, and a short appendix). With --full,\n"
                    "the whole report: report.zh-TW.pdf and report.en.pdf.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    pdf.add_argument("--config", default="pyproject.toml", help="the project's settings file; its folder holds "
                     "mkdocs.yml and gets the PDFs")
    pdf.add_argument("--out", help="folder for the two PDFs (default: the project folder)")
    pdf.add_argument("--full", action="store_true", help="print the whole report (every page of the site) instead")
    pdf.set_defaults(run=cmd_pdf)
    settings = commands.add_parser(
        "settings", help="print every setting with its type, default and meaning",
        description="Print every setting of [tool.generator] with its default and meaning, as TOML to copy into\n"
                    "pyproject.toml, or with --markdown as the page docs/settings.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    settings.add_argument("--markdown", action="store_true", help="print the Markdown of docs/settings.md")
    settings.set_defaults(run=cmd_settings)
    synth = commands.add_parser("synth", help="write synthetic faces as a FER2013 CSV plus a masks file")
    synth.add_argument("--out", default="data/synthetic.csv")
    synth.add_argument("--count", type=int, default=8400)
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(run=cmd_synth)
    train = commands.add_parser("train", help="train the demo CNN on synthetic faces")
    train.add_argument("--epochs", type=int, default=8)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", help="where to save (default: the bundled demo weights)")
    train.set_defaults(run=cmd_train)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from generator.errors import InputError
    try:
        args.run(args)
    except InputError as error:
        if args.debug:
            raise
        _error(f"error: {error}")
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        _error("interrupted: the site folder holds the previous report or the new one, complete, never a mix")
        return 130
    except Exception as error:  # noqa: BLE001 -- a bug: one line and a way to see more, not a wall of traceback
        if args.debug:
            raise
        first_line = (str(error).strip().splitlines() or [""])[0]
        _error(f"internal error, a bug: {type(error).__name__}: {first_line} (run again as "
             "`python -m generator --debug ...` for the traceback, and report it)")
        return 1
    return 0
