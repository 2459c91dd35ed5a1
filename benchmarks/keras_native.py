"""A Keras mini-Xception three ways, in one run: through Keras 3 on its PyTorch backend (the fallback path), as
its native translation (generator/models/keras_translate.py), and the translation on the fast inference path
(traced, frozen, optimised for inference; channels-first and channels-last). Forward and input-gradient
milliseconds per face at 64x64, and each path's ratio to Keras's. A measurement, not a gate.

    python benchmarks/keras_native.py [--batch 64] [--rounds 5] [--modules 4]

The paths take turns within each round, and each figure is the median over the rounds, so a machine whose load
changes during the run slows every path alike. ``uptime`` is printed before and after.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's generator, whichever is installed


def frozen(model: torch.nn.Module, example: torch.Tensor) -> torch.nn.Module:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model.eval(), example).eval()))


def forward_seconds(model, x: torch.Tensor) -> float:
    with torch.inference_mode():
        start = time.perf_counter()
        model(x)
        return time.perf_counter() - start


def gradient_seconds(model, x: torch.Tensor) -> float:
    pixels = x.clone().requires_grad_(True)
    start = time.perf_counter()
    (grad,) = torch.autograd.grad(model(pixels)[:, 3].sum(), pixels)  # the input only: no weight gradient
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modules", type=int, default=4)
    args = parser.parse_args()
    print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    import keras_models
    from generator.models.keras_model import load_keras
    from generator.models.keras_translate import native_or_keras

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mini_xception.keras"
        keras_models.mini_xception(args.modules).save(path)
        reference = load_keras(path)
        native = native_or_keras(reference, path)
    assert type(native).__name__ == "TranslatedModel", "the mini-Xception did not translate"
    x = torch.rand(args.batch, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    # The translation runs channels-last (keras_translate.translate); its channels-first copy is the comparison.
    first = copy.deepcopy(native).to(memory_format=torch.contiguous_format)
    paths = {"Keras 3, torch backend (fallback)": reference, "native, channels-first": first,
             "native, channels-last (the eager translation)": native, "native, frozen": frozen(first, x),
             "native, frozen, channels-last (the fast path)": frozen(native, x)}
    with torch.inference_mode():
        expected = reference(x)
        for name, model in paths.items():
            gap = float((model(x) - expected).abs().max())
            assert gap < 1e-4, f"{name}: its scores differ from Keras's by {gap:.2g}"
    gradients = list(paths)[:3]
    times = {(name, kind): [] for name in paths for kind in ("forward", "gradient")}
    for model in paths.values():  # warm-up: oneDNN's first call per shape picks its kernels
        forward_seconds(model, x)
    for name in gradients:
        gradient_seconds(paths[name], x)
    for _ in range(args.rounds):
        for name, model in paths.items():
            times[name, "forward"].append(forward_seconds(model, x))
            if name in gradients:
                times[name, "gradient"].append(gradient_seconds(model, x))
    per_face = {key: statistics.median(values) * 1000 / args.batch for key, values in times.items() if values}
    base_f = per_face["Keras 3, torch backend (fallback)", "forward"]
    base_g = per_face["Keras 3, torch backend (fallback)", "gradient"]
    print(f"mini-Xception ({args.modules} modules), 64x64, batch {args.batch}, median of {args.rounds} rounds, "
          f"torch threads {torch.get_num_threads()}, KERAS_BACKEND={os.environ.get('KERAS_BACKEND')}")
    print(f"| path | forward ms/face | x Keras | input gradient ms/face | x Keras |")
    print("|---|---|---|---|---|")
    for name in paths:
        f = per_face[name, "forward"]
        g = per_face.get((name, "gradient"))
        grad = f"{g:.3f} | {base_g / g:.2f}x" if g else "- | -"
        print(f"| {name} | {f:.3f} | {base_f / f:.2f}x | {grad} |")
    print("uptime after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
