"""How far from the machine's limit a stage runs: its floating-point work per second against a peak measured in
the same run.

The peak is the best of a few large float32 matrix products (the most compute-bound operation torch has here).
A model's work is counted from its Conv2d and Linear layers (2 FLOPs per multiply-add), the layers that dominate
a CNN; a backward pass is counted as twice its forward.
"""
from __future__ import annotations

import time

import torch
from torch import nn


def peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up: thread pool, caches
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def forward_flops(model: nn.Module, upto: nn.Module | None = None) -> float:
    """FLOPs of one 48x48 image through ``model`` (or through its layers up to and including ``upto``)."""
    total, stop = [0.0], [False]

    def count(module, _inputs, output):
        if stop[0]:
            return
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total[0] += 2.0 * k * output[0].numel()
        elif isinstance(module, nn.Linear):
            total[0] += 2.0 * module.in_features * module.out_features
        if module is upto:
            stop[0] = True

    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(torch.rand(1, 1, 48, 48))
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def share(flops: float, seconds: float, peak: float) -> str:
    """Achieved GFLOP/s and its fraction of the peak, as a table cell."""
    rate = flops / seconds / 1e9
    return f"{rate:6.1f} GFLOP/s ({rate / peak:4.0%})"
