"""Whole builds, timed as a user runs them: `python -m generator build` in a fresh process.

    python benchmarks/builds.py [--full-csv] [--skip-demo] [--against DIR]

- cold: an empty project folder (so an empty cache) builds the demo report;
- template edit: a Jinja comment added to one template, then a rebuild (no analysis may be recomputed);
- nothing changed: one more rebuild (no file of site_src may be rewritten);
- with --full-csv: a cold build on a 35,887-row FER2013-format CSV, with its peak memory (resident set size);
- with --against DIR (a checkout of another commit, e.g. `git worktree add ../before HEAD~1`): a cold demo build
  by that checkout's code in the same run, each stage's time beside this code's, and the ratio of the two (the target
  allows this code's cold build at most 1.5 times the previous commit's).

Each row gives the wall time, the target it is held to, and what the build printed about the cache and the files.
Then, for the cold demo build, the estimate it said before its stages ran against each stage's measured time
(build-timings.json), and their ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "templates" / "en" / "q3.md.j2"


# Runs `python -m generator` and reports the process's own peak resident set size when it exits. VmHWM, not
# getrusage: on Linux a child's ru_maxrss starts from its parent's at fork, so a big parent would hide the build's.
WITH_PEAK = ("import atexit, runpy, sys; atexit.register(lambda: print('peak-rss-kib', next(int(line.split()[1]) "
             "for line in open('/proc/self/status') if line.startswith('VmHWM')), file=sys.stderr)); "
             "sys.argv[0] = 'generator'; runpy.run_module('generator', run_name='__main__')")


# A line of the estimate, as generator/estimate.py lays it out: "~   12.3 s  q1 saliency and gradient methods"
ESTIMATE_LINE = re.compile(r"^\s*~\s*([0-9.]+) s  (.+)$")


def estimate_against_timings(stdout: str, timings: dict) -> list[tuple[str, float, float]]:
    """(step, estimated seconds, measured seconds) for every step the build estimated."""
    estimated = [(m[2], float(m[1])) for m in map(ESTIMATE_LINE.match, stdout.splitlines()) if m]
    return [(name, seconds, timings[name]) for name, seconds in estimated if name in timings]


def run_build(project: Path, *extra: str, code: Path = ROOT) -> tuple[float, str, float, str]:
    """(wall seconds, the build's summary lines, peak RSS in MiB, its whole stdout). ``code``: the checkout whose
    generator package builds (run from its folder, so its package is the one imported)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WITH_PEAK, "build", "--config", str(project / "pyproject.toml"),
                           *extra], cwd=code, capture_output=True, text=True, env=dict(os.environ, PYTHONHASHSEED="0"))
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"build failed:\n{done.stderr}")
    peak = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("peak-rss-kib"))
    lines = [line.strip() for line in done.stdout.splitlines() if "reused" in line or "Built the report" in line]
    return wall, " | ".join(lines), peak / 1024, done.stdout


def _demo_builds(comparison: list) -> list[tuple]:
    """The rows of the three demo builds; ``comparison`` receives the cold build's estimate against its times."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "pyproject.toml").write_text(f"[tool.generator]\nsite_dir = '{project / 'site_src'}'\n")
        wall, said, peak, stdout = run_build(project)
        rows.append(("cold build, demo report", wall, "<= 60 s", f"peak RSS {peak:.0f} MiB; {said}"))
        comparison.extend(estimate_against_timings(stdout, json.loads((project / "build-timings.json").read_text())))
        original = TEMPLATE.read_text()
        try:
            TEMPLATE.write_text(original + "{# edited by benchmarks/builds.py #}\n")
            wall, said, _, _ = run_build(project)
            rows.append(("rebuild after a template edit", wall, "<= 3 s", said))
        finally:
            TEMPLATE.write_text(original)
        wall, said, _, _ = run_build(project)
        rows.append(("rebuild, nothing changed", wall, "<= 2 s", said))
    return rows


def write_full_csv(path: Path, rows: int = 35887) -> None:
    import numpy as np

    from generator.data.fer2013 import write_csv
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (rows, 48, 48), dtype=np.uint8)
    usage = np.where(np.arange(rows) < 0.8 * rows, "Training", np.where(np.arange(rows) < 0.9 * rows,
                                                                         "PublicTest", "PrivateTest"))
    write_csv(path, images, rng.integers(0, 7, rows), usage)


def measure(full_csv: bool, demo: bool = True, comparison: list | None = None) -> list[tuple]:
    """Rows of (what, seconds, target, printed). ``comparison``, if given, receives (step, estimated seconds,
    measured seconds) of the cold demo build."""
    rows = []
    if demo:
        rows += _demo_builds(comparison if comparison is not None else [])
    if full_csv:
        with tempfile.TemporaryDirectory() as folder:
            project = Path(folder)
            write_full_csv(project / "fer2013.csv")
            (project / "pyproject.toml").write_text(
                f"[tool.generator]\nsite_dir = '{project / 'site_src'}'\n[tool.generator.data]\ncsv = 'fer2013.csv'\n")
            wall, said, peak, _ = run_build(project)
            rows.append(("cold build, 35,887-row CSV", wall, "peak RSS <= 2048 MiB",
                         f"peak RSS {peak:.0f} MiB; {said}"))
    return rows


def cold_stage_times(code: Path) -> tuple[float, dict]:
    """A cold demo build by the checkout ``code``: (wall seconds, each step's seconds from build-timings.json)."""
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "pyproject.toml").write_text(f"[tool.generator]\nsite_dir = '{project / 'site_src'}'\n")
        wall, _, _, _ = run_build(project, code=code)
        return wall, json.loads((project / "build-timings.json").read_text())


def print_against(other: Path) -> None:
    """This code's cold demo build and ``other``'s, in one run, step by step (the previous commit first)."""
    before_wall, before = cold_stage_times(other)
    after_wall, after = cold_stage_times(ROOT)
    print(f"\ncold demo build, step by step: {other} against this checkout")
    print(f"  {'step':<40}{'before':>10}{'now':>10}{'now/before':>12}")
    for name in list(before) + [n for n in after if n not in before]:
        b, a = before.get(name), after.get(name)
        ratio = f"{a / b:12.2f}" if a is not None and b else ""
        print(f"  {name:<40}{'' if b is None else f'{b:9.1f}s':>10}{'' if a is None else f'{a:9.1f}s':>10}{ratio}")
    print(f"  {'whole build (wall)':<40}{before_wall:9.1f}s{after_wall:9.1f}s{after_wall / before_wall:12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-csv", action="store_true", help="also build from a full-size CSV (memory)")
    parser.add_argument("--skip-demo", action="store_true", help="no demo builds (with --full-csv: memory only)")
    parser.add_argument("--against", type=Path, help="a checkout of another commit: its cold demo build beside ours")
    args = parser.parse_args()
    if args.against:
        print_against(args.against.resolve())
    comparison: list = []
    for what, seconds, target, said in measure(args.full_csv, demo=not args.skip_demo, comparison=comparison):
        print(f"{what:<34}{seconds:8.1f} s   target {target:<22}{said}", flush=True)
    print_comparison(comparison)


def print_comparison(rows: list[tuple[str, float, float]]) -> None:
    """The estimate against the measured time of each step, and of all of them."""
    if not rows:
        return
    print("\nestimate said before the cold demo build's stages, against their measured times (target: a ratio "
          "between 0.5 and 2)")
    print(f"  {'step':<40}{'estimated':>10}{'measured':>10}{'measured/estimated':>20}")
    for name, estimated, measured in rows + [("all of them", sum(r[1] for r in rows), sum(r[2] for r in rows))]:
        ratio = measured / estimated if estimated else float("inf")
        flag = "" if 0.5 <= ratio <= 2 else "   outside the factor of 2"
        print(f"  {name:<40}{estimated:9.1f}s{measured:9.1f}s{ratio:20.2f}{flag}")


if __name__ == "__main__":
    main()
