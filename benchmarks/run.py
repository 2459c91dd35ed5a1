"""Side-by-side benchmark: each stage of ours against its reference, same model, same faces, one run.

    python benchmarks/run.py [--faces N] [--skip-course] [--only keras|occlusion|lime|ascent] [--batch-sizes 32,64]
        [--threads N]

Prints a table: stage, model, reference, reference seconds, ours seconds, ratio (reference / ours), whether
the outputs agree, and the roofline: each side's achieved GFLOP/s as a share of the peak measured at the start of
the same run (benchmarks/roofline.py). References run at their own best batch size, measured here first. Then the
CSV parse against pandas and whole builds (benchmarks/builds.py), and a summary against the targets.

    --only forward|keras|occlusion|lime|ascent|csv|builds   runs one part
"""
from __future__ import annotations

import argparse
import contextlib
import io
import time
from pathlib import Path

import numpy as np
import torch

from generator.config import ModelSettings
from generator.data import synth
from generator.explain.filters import ascend, find_conv, layer_input
from generator.explain.lime_explain import classifier_fn, explain, segmenter
from generator.explain import occlusion_incremental as incremental
from generator.explain.occlusion import occluded, occlusion
from generator.models.cnn import FerCNN
from generator.models.fast import inference_model
from generator.models.load import NormalisedModel, load_model

import builds
import keras_forward
import parse_csv
from roofline import forward_flops, peak_gflops

ROWS = []
PEAK = [float("nan")]  # GFLOP/s, measured in main()


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _rate(flops, seconds):
    if flops is None:
        return "—"
    rate = flops / seconds / 1e9
    return f"{rate:.1f} ({rate / PEAK[0]:.0%})"


def report(stage, model, reference, ref_s, ours_s, agree, ref_flops=None, ours_flops=None):
    """One row. ``*_flops``: the floating-point work each side does, for the roofline columns."""
    roof = f"{_rate(ref_flops, ref_s)} | {_rate(ours_flops, ours_s)}"
    ROWS.append((stage, model, reference, ref_s, ours_s, ref_s / ours_s, agree, roof))
    print(f"{stage:<16}{model:<8}{reference:<34}{ref_s:>9.2f}{ours_s:>9.2f}{ref_s / ours_s:>8.2f}x  {agree}  "
          f"GFLOP/s ref | ours: {roof}", flush=True)


def bench_forward(name, model, fast):
    """The fast inference path against the eager model, each at its best batch size: seconds per 10,000 faces."""
    def per_image(m, batch):
        x = torch.rand(batch, 1, 48, 48, generator=torch.Generator().manual_seed(batch))
        with torch.inference_mode():
            m(x)  # warm-up
            seconds, _ = timed(lambda: [m(x) for _ in range(max(1, 2048 // batch))])
        return seconds / (max(1, 2048 // batch) * batch)
    eager = {b: per_image(model, b) for b in BATCH_SIZES}
    ours = {b: per_image(fast, b) for b in BATCH_SIZES}
    b_ref, b_ours = min(eager, key=eager.get), min(ours, key=ours.get)
    x = torch.rand(37, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        gap = float((model(x) - fast(x)).abs().max())
    work = 10_000 * forward_flops(model)
    report("forward", name, f"eager, batch {b_ref} (ours: batch {b_ours})", eager[b_ref] * 10_000,
           ours[b_ours] * 10_000, f"max |logit diff| {gap:.1e}", work, work)


def naive_occlusion(model, face, target, batch):
    """The reference: eager, inference_mode, one forward per box position, ``batch`` positions per call."""
    image = torch.from_numpy(face.astype(np.float32))[None]
    grid = [(y, x) for y in range(48) for x in range(48)]
    out = []
    with torch.inference_mode():
        for k in range(0, len(grid), batch):
            stack = torch.stack([occluded(image, y, x, 15, 1.0) for y, x in grid[k:k + batch]])
            out.append(torch.softmax(model(stack).double(), 1)[:, target])
    return torch.cat(out).numpy().reshape(48, 48)


BATCH_SIZES = [8, 16, 32, 64, 128]  # tried for the references; --batch-sizes trims the list on a busy machine


def best_batch(fn):
    """The batch size at which ``fn(batch)`` runs fastest (timed on one call each)."""
    return min(BATCH_SIZES, key=lambda b: timed(lambda: fn(b))[0])


def bench_occlusion(name, model, fast, faces, targets):
    batch = best_batch(lambda b: naive_occlusion(model, faces[0], targets[0], b))
    ref_s, ref = timed(lambda: [naive_occlusion(model, f, t, batch) for f, t in zip(faces, targets)])
    # ours as the build runs it: the incremental path on the eager model, the fast model if it falls back
    ours_s, ours = timed(lambda: [occlusion(model, f, t, batched_model=fast).heatmap for f, t in zip(faces, targets)])
    gap = max(float(np.abs(a - b).max()) for a, b in zip(ref, ours))
    path = "incremental" if incremental.prepare(model) is not None else "batched"
    work = len(faces) * 48 * 48 * forward_flops(model)  # ours does less (only changed windows): nominal work
    report("occlusion", name, f"naive loop, eager, batch {batch}", ref_s, ours_s,
           f"max |diff| {gap:.1e} ({path}; ours' GFLOP/s counts the naive work)", work, work)
    from captum.attr import Occlusion
    x = torch.from_numpy(faces.astype(np.float32))[:, None]
    per_eval = best_batch(lambda b: Occlusion(model).attribute(x[:1], sliding_window_shapes=(1, 15, 15),
                                                               baselines=1.0, target=int(targets[0]),
                                                               perturbations_per_eval=b))
    captum_s, _ = timed(lambda: [Occlusion(model).attribute(x[k:k + 1], sliding_window_shapes=(1, 15, 15),
                                                            baselines=1.0, target=int(targets[k]),
                                                            perturbations_per_eval=per_eval)
                                 for k in range(len(faces))])
    # Captum slides whole windows only ((48-15+1)^2 positions); compare time per forward pass.
    captum_per_pass = captum_s / len(faces) / (34 * 34 + 1)
    ours_per_pass = ours_s / len(faces) / (48 * 48 + 1)
    report("occlusion/pass", name, f"Captum Occlusion, {per_eval} per eval", captum_per_pass * 1000,
           ours_per_pass * 1000, "(ms per forward pass)")


def bench_lime(name, model, fast, faces, targets):
    def reference(face, target):  # the lime package as shipped: eager model, its default batch size of 10
        from lime import lime_image
        explainer = lime_image.LimeImageExplainer(random_state=0)
        with contextlib.redirect_stderr(io.StringIO()):  # lime's own progress bar
            exp = explainer.explain_instance(face, classifier_fn(model, 10), labels=(target,), top_labels=None,
                                             hide_color=float(face.mean()), num_samples=1000, batch_size=10,
                                             segmentation_fn=segmenter(50, 8.0, 0), random_seed=0)
        weights = np.zeros(exp.segments.max() + 1)
        for s, w in exp.local_exp[target]:
            weights[s] = w
        return weights
    ref_s, ref = timed(lambda: [reference(f, int(t)) for f, t in zip(faces, targets)])
    ours_s, ours = timed(lambda: [explain(fast, f, int(t), seed=0).weights for f, t in zip(faces, targets)])
    gap = max(float(np.abs(a - b).max()) for a, b in zip(ref, ours))
    work = len(faces) * 1000 * forward_flops(model)
    report("lime", name, "lime package, eager, batch 10", ref_s, ours_s, f"max |weight diff| {gap:.1e}", work, work)


def bench_ascent(name, model, filters_ref: int, threads: int | None):
    _, layer = find_conv(model, "")

    def one_filter_full_network(f):  # the reference: one filter, the whole network, full conv output
        x = (0.5 + torch.from_numpy(np.random.default_rng([0, f]).normal(0, 0.05, (1, 1, 48, 48)))).float()
        x = x.clamp(0, 1).requires_grad_(True)
        optimiser = torch.optim.Adam([x], lr=0.05)
        captured = {}
        handle = layer.register_forward_hook(lambda _m, _i, out: captured.__setitem__("out", out))
        shifts = np.random.default_rng([0, 1 << 20]).integers(-1, 2, (100, 2))
        for step in range(100):
            shifted = torch.roll(x, shifts=tuple(int(v) for v in shifts[step]), dims=(2, 3))
            model(shifted)
            act = captured["out"][0, f].mean()
            tv = (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
            objective = act - 0.01 * ((x - 0.5) ** 2).mean() - 0.05 * tv
            optimiser.zero_grad()
            (-objective).backward()
            optimiser.step()
            with torch.no_grad():
                x.clamp_(0, 1)
        handle.remove()
        return x.detach()[0, 0].numpy()
    # ascend runs single-threaded; the reference too unless --threads says otherwise. On this shared machine a
    # quick timing to pick the reference's best count was unreliable: the load swings faster than it can measure.
    default = torch.get_num_threads()
    ref_threads = threads or 1
    torch.set_num_threads(ref_threads)
    ref_s, ref = timed(lambda: [one_filter_full_network(f) for f in range(filters_ref)])
    torch.set_num_threads(default)
    ours_s, ours = timed(lambda: ascend(model, layer, range(layer.out_channels), steps=100, seed=0))
    # Adam moves a pixel by about lr whatever the gradient's size, so float-level differences between a full conv
    # and ours (a dot product with the channel's gradient) can flip a near-zero gradient: compare the final
    # activations, and the images' mean gap.
    _, layer_ref = find_conv(model, "")
    with torch.no_grad():
        act = [float(layer_ref(layer_input(model, layer_ref, torch.from_numpy(ref[f]).float()[None, None]))[0, f]
                     .mean()) for f in range(filters_ref)]
    gap = max(abs(a - ours.activation[f]) for f, a in enumerate(act))
    pixel = float(np.mean([np.abs(ref[f] - ours.images[f]).mean() for f in range(filters_ref)]))
    # The reference is timed on a few filters and scaled to all of them: it is linear in the filter count.
    # Work per step and filter, forward + backward (3x forward): the reference runs the whole network; ours the
    # layers before the filter layer, then one dot product with the channel's constant gradient.
    reaching = layer_input(model, layer, torch.rand(1, 1, 48, 48))
    inputs = reaching.numel()  # C x H x W reaching the layer
    with torch.no_grad():
        out_pixels = layer(reaching).shape[-2:].numel()
    whole_layer = 2.0 * layer.in_channels / layer.groups * layer.kernel_size[0] * layer.kernel_size[1] \
        * out_pixels * layer.out_channels
    upto = forward_flops(model, upto=layer)
    before = upto - whole_layer
    steps_filters = 100 * layer.out_channels
    report("filter ascent", name, f"one filter at a time, {filters_ref}x{ref_threads} thr",
           ref_s / filters_ref * layer.out_channels, ours_s,
           f"max |activation diff| {gap:.1e}, mean |pixel diff| {pixel:.1e}",
           steps_filters * (forward_flops(model) + 2 * upto),  # backward runs from the layer down only
           steps_filters * (3 * max(before, 0.0) + 4.0 * inputs))


def bench_keras(name, model):
    """The same network as a Keras model (Keras 3, PyTorch backend) against PyTorch eager, each at its best batch
    size: seconds per 10,000 faces. The ratio is how many times longer Keras takes; a measurement, not a gate."""
    twin = keras_forward.keras_twin(model)
    if twin is None:
        print('keras forward: keras is not installed (pip install -e ".[keras]"): no row', flush=True)
        return
    keras_s = {b: keras_forward.seconds_per_image(twin, b, timed) for b in BATCH_SIZES}
    torch_s = {b: keras_forward.seconds_per_image(model, b, timed) for b in BATCH_SIZES}
    b_keras, b_torch = min(keras_s, key=keras_s.get), min(torch_s, key=torch_s.get)
    x = torch.rand(37, 1, 48, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        gap = float((twin(x) - model(x)).abs().max())
    work = 10_000 * forward_flops(model)
    report("keras forward", name, f"Keras twin, batch {b_keras} (PyTorch: batch {b_torch})",
           keras_s[b_keras] * 10_000, torch_s[b_torch] * 10_000, f"max |logit diff| {gap:.1e}", work, work)


def bench_csv(rows: int = 35887):
    """load_csv against pandas.read_csv + the faster of two pixel-splitting idioms, on a FER2013-sized file."""
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fer2013.csv"
        builds.write_full_csv(path, rows)
        parse_csv.best_of(1, lambda: parse_csv.load_csv(path))  # imports numba, loads its compiled parser
        (ours, _), data = parse_csv.best_of(3, lambda: parse_csv.load_csv(path))
        try:
            (ref, _), idiom, images, labels = parse_csv.pandas_reference(path, 3)
        except ImportError:
            print("csv: pandas is not installed (pip install pandas): no reference row", flush=True)
            return
        agree = np.array_equal(images, data.images) and np.array_equal(labels, data.labels)
        report("csv parse", "-", f"pandas.read_csv + {idiom}", ref, ours, f"arrays equal: {agree}")


def summary(build_rows) -> None:
    print("\n| stage | model | reference | ref s | ours s | ratio | outputs | GFLOP/s ref \\| ours (share of peak) |")
    print("|---|---|---|---|---|---|---|---|")
    for stage, model, reference, ref_s, ours_s, ratio, agree, roof in ROWS:
        print(f"| {stage} | {model} | {reference} | {ref_s:.2f} | {ours_s:.2f} | {ratio:.2f}x | {agree} | "
              f"{roof.replace('|', chr(92) + '|')} |")
    for what, seconds, target, said in build_rows:
        print(f"| {what} | demo | target {target} | | {seconds:.1f} | | {said} | |")
    print(f"\nPeak: {PEAK[0]:.1f} GFLOP/s (best float32 2048x2048 matrix product, {torch.get_num_threads()} threads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=2)
    parser.add_argument("--skip-course", action="store_true")
    parser.add_argument("--only", choices=("forward", "keras", "occlusion", "lime", "ascent", "csv", "builds"),
                        help="run one part")
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)),
                        help="batch sizes tried for the references, comma-separated")
    parser.add_argument("--threads", type=int,
                        help="torch threads for the references (default: torch's own; for the filter ascent's "
                             "reference: 1, as ascend itself)")
    args = parser.parse_args()
    BATCH_SIZES[:] = [int(b) for b in args.batch_sizes.split(",")]
    if args.threads:  # on a machine shared with other jobs, 2 threads on 2 cores can run 5-10x slower than 1
        torch.set_num_threads(args.threads)
    PEAK[0] = peak_gflops()
    print(f"peak {PEAK[0]:.1f} GFLOP/s", flush=True)
    rows = [49, 99, 9, 59, 39, 19, 279][: args.faces]
    images, labels, _ = synth.render_dataset(0, rows)
    faces = images / 255.0
    models = [("demo", load_model(ModelSettings(), Path(".")).model)]
    if not args.skip_course:
        torch.manual_seed(0)
        models.append(("course", NormalisedModel(FerCNN().eval(), 255.0, 0.0, 1.0, "logits").eval()))
    print(f"{'stage':<16}{'model':<8}{'reference':<34}{'ref s':>9}{'ours s':>9}{'ratio':>9}  outputs agree")
    for name, model in models:
        fast = inference_model(model, print) if args.only in (None, "forward", "occlusion", "lime") else None
        if args.only in (None, "forward"):
            bench_forward(name, model, fast)
        if args.only in (None, "keras"):
            bench_keras(name, model)
        if args.only in (None, "occlusion"):
            bench_occlusion(name, model, fast, faces, labels)
        if args.only in (None, "lime"):
            bench_lime(name, model, fast, faces, labels)
        if args.only in (None, "ascent"):
            bench_ascent(name, model, filters_ref=4 if name == "demo" else 2, threads=args.threads)
    if args.only in (None, "csv"):
        bench_csv()
    build_rows, comparison = [], []
    if args.only in (None, "builds"):
        for row in builds.measure(full_csv=True, comparison=comparison):
            print(f"{row[0]:<34}{row[1]:8.1f} s   target {row[2]:<22}{row[3]}", flush=True)
            build_rows.append(row)
        builds.print_comparison(comparison)
    summary(build_rows)


if __name__ == "__main__":
    main()
