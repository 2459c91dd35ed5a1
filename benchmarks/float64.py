"""The price of computing in float64 (generator/models/load.py, COMPUTE_DTYPE): the demo CNN's forward pass and
forward + backward (what the gradient methods run), in float32 and in float64, side by side in one run, as ratios.

    python benchmarks/float64.py [--batch 64] [--repeats 5]

Each time is the best of ``repeats`` (the machine may be shared); the ratio is float64's over float32's.
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from generator.config import ModelSettings
from generator.models.load import load_model


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    loaded = load_model(ModelSettings(), Path("."))  # the bundled demo CNN, in float64 as a build runs it
    models = {"float32": copy.deepcopy(loaded.model).to(torch.float32), "float64": loaded.model}
    x = torch.rand(args.batch, 1, 48, 48, generator=torch.Generator().manual_seed(0))
    targets = torch.arange(args.batch) % 7
    rows = {}
    for name, model in models.items():
        def forward(model=model):
            with torch.inference_mode():
                model(x)

        def backward(model=model):
            pixels = x.clone().requires_grad_(True)
            model(pixels)[torch.arange(args.batch), targets].sum().backward()
        forward(), backward()  # warm-up
        rows[name] = (best_of(args.repeats, forward), best_of(args.repeats, backward))
    print(f"demo CNN, batch {args.batch}, best of {args.repeats}, CPU kernels "
          f"{torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads")
    print(f"{'':10} {'forward':>10} {'fwd+bwd':>10}")
    for name, (fwd, bwd) in rows.items():
        print(f"{name:10} {fwd:9.3f}s {bwd:9.3f}s")
    ratio = [rows["float64"][k] / rows["float32"][k] for k in range(2)]
    print(f"{'ratio':10} {ratio[0]:9.2f}x {ratio[1]:9.2f}x")


if __name__ == "__main__":
    main()
