"""ROAD's noisy linear imputation (Rong et al., "A Consistent and Efficient Evaluation Strategy for Attribution
Methods", ICML 2022), for many images at once.

Each removed pixel becomes the weighted mean of its in-image neighbours, direct ones weighing 1/6 and diagonal ones
1/12 as in ROAD's NoisyLinearImputer; removed neighbours are unknowns too, so the removed pixels of an image solve
one sparse linear system (a discrete Laplace equation with the kept pixels as boundary values). Filling with the
face's mean gray instead leaves a flat patch whose shape tells the model which pixels were taken; a smooth fill
from the neighbours hides it. Small Gaussian noise on the imputed pixels then hides the fill's own smoothness.

The systems are solved together by conjugate gradients in torch: the matrix (the weights of each pixel's in-image
neighbours on the diagonal, minus the weights between removed neighbours) is symmetric, and positive definite
whenever a pixel is kept, because every removed region then touches a kept pixel on the connected 8-neighbour
grid. An image with every pixel removed has no boundary values: it takes ``gray``. CG stops for an image when the
largest residual of its equations is below ``TOLERANCE``; the imputed pixels are then within about 1e-4 of the
exact solution (tests/test_imputation.py checks against scipy's sparse solver), far below ``NOISE_STD``.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

DIRECT, DIAGONAL = 1 / 6, 1 / 12  # ROAD's neighbour weights: they sum to 1 inside the image
# On [0, 1] pixels: 2.5 gray levels of 255. Above 8-bit quantisation (1/255), well below the detail a linear fill
# misses on a face (the residual of the fill of one pixel from its neighbours has a std of ~0.03 on FER faces).
# ROAD uses 0.01 on its own input scale.
NOISE_STD = 0.01
TOLERANCE = 1e-5    # largest residual of an image's equations at which CG stops
MAX_ITERATIONS = 1000  # a 48x48 system converges in ~150; a bound, so a bug cannot spin forever
CHUNK = 2048        # images per CG batch: ~10 vectors of CHUNK x 48 x 48 float32, under 100 MB



def _neighbour_sum(x: torch.Tensor) -> torch.Tensor:
    """Weighted sum of each pixel's in-image neighbours of (B, H, W); outside the image counts as absent. Shifted
    slices: on CPU three times faster than a one-channel conv2d."""
    p = F.pad(x, (1, 1, 1, 1))
    direct = p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:]
    diagonal = p[:, :-2, :-2] + p[:, :-2, 2:] + p[:, 2:, :-2] + p[:, 2:, 2:]
    return direct * DIRECT + diagonal * DIAGONAL


def solve(images: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """The noiseless linear imputation of (B, H, W) images where ``removed`` (B, H, W) is True; kept pixels keep
    their values. Images with every pixel removed are returned unchanged (the caller fills them)."""
    out = np.array(images, dtype=np.float64)
    todo = np.flatnonzero(removed.any(axis=(1, 2)) & ~removed.all(axis=(1, 2)))
    for start in range(0, len(todo), CHUNK):
        index = todo[start:start + CHUNK]
        mask = torch.from_numpy(removed[index]).to(torch.float32)
        known = torch.from_numpy(out[index]).to(torch.float32) * (1 - mask)
        solved = _conjugate_gradients(known, mask).double().numpy()
        out[index] = np.where(removed[index], solved, out[index])
    return out


def _conjugate_gradients(known: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Solves, for the removed pixels (mask 1) of every image of the batch at once,
    totals * x - neighbour_sum(x over removed pixels) = neighbour_sum(known pixels).
    An image stops when its largest residual is below TOLERANCE: its step is then zero, and once an eighth of the
    batch has stopped, the stopped images leave it, so the rest iterate on fewer images."""
    totals = _neighbour_sum(torch.ones_like(known[:1]))  # 1 inside, 2/3 on an edge, 5/12 in a corner
    kept = 1 - mask
    b = mask * _neighbour_sum(known)
    # the first guess: the mean of the kept pixels (fewer iterations than the neighbours' sum or a blurred fill)
    x = mask * ((known * kept).sum(dim=(1, 2)) / kept.sum(dim=(1, 2)))[:, None, None]
    r = b - mask * (totals * x - _neighbour_sum(x))
    p, rr = r.clone(), (r * r).sum(dim=(1, 2))
    solution = x.clone()
    index = torch.arange(len(known))
    for _ in range(MAX_ITERATIONS):
        done = r.abs().amax(dim=(1, 2)) <= TOLERANCE
        if int(done.sum()) * 8 >= len(done):
            solution[index[done]] = x[done]
            keep = ~done
            if not bool(keep.any()):
                return solution
            index, x, r, p, rr, mask, done = index[keep], x[keep], r[keep], p[keep], rr[keep], mask[keep], done[keep]
        ap = mask * (totals * p - _neighbour_sum(p))
        alpha = torch.where(done, 0.0, rr / (p * ap).sum(dim=(1, 2)).clamp_min(1e-30))[:, None, None]
        x += alpha * p
        r -= alpha * ap
        rr_next = (r * r).sum(dim=(1, 2))
        beta = torch.where(done, 0.0, rr_next / rr.clamp_min(1e-30))[:, None, None]
        p = r + beta * p
        rr = rr_next
    raise RuntimeError(f"imputation: conjugate gradients did not reach {TOLERANCE} in {MAX_ITERATIONS} steps")


def impute(images: np.ndarray, removed: np.ndarray, gray: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """ROAD's noisy linear imputation of (B, H, W) images: the removed pixels solved from the kept ones, plus
    ``noise`` (B, H, W, already scaled) on the removed pixels only. ``gray`` (B,) fills an image with no kept pixel.
    """
    out = solve(images, removed)
    empty = removed.all(axis=(1, 2))
    out[empty] = np.asarray(gray, dtype=np.float64)[empty, None, None]
    return np.where(removed, out + noise, out)
