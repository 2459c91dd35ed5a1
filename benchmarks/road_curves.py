"""How long do deletion and insertion take on many faces? Times ROAD's imputation alone, then curves_many with
"road" and with "mean" (the forward passes of the demo CNN included), on synthetic validation faces.

    python benchmarks/road_curves.py [--faces 70] [--orders 12]

Half the orders come from smooth maps (big holes: the slow systems, as Grad-CAM or occlusion give), half are
random (scattered holes). Prints wall and CPU seconds; on a shared machine the CPU seconds are the steadier figure.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from generator.config import ModelSettings
from generator.data import synth
from generator.explain import faithfulness as faith
from generator.models.fast import inference_model
from generator.models.load import load_model


def timed(label: str, images: int, run) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<28}{wall:>9.1f} s wall{cpu:>9.1f} s CPU{wall / images * 1e3:>8.2f} ms/image wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=70)
    parser.add_argument("--orders", type=int, default=12)
    args = parser.parse_args()
    fast = inference_model(load_model(ModelSettings(), Path(".")).model)
    rows = list(range(7 * 200, 7 * 200 + args.faces))
    images, labels, _ = synth.render_dataset(0, rows)
    faces = images / 255.0
    rng = np.random.default_rng(0)
    smooth = gaussian_filter(rng.uniform(size=(args.faces, args.orders, 48, 48)), (0, 0, 4, 4))
    orders = np.stack([[faith.pixel_order(smooth[n, m], 0) if m % 2 else rng.permutation(48 * 48)
                        for m in range(args.orders)] for n in range(args.faces)])
    pairs = [(n, m) for n in range(args.faces) for m in range(args.orders)]
    count = len(pairs) * 2 * 49
    faith._road_fill(faces[:1], orders[:1, :1], [(0, 0)], 48, 0)  # numba's compiled code loaded from its cache
    print(f"{args.faces} faces x {args.orders} orders x 2 curves x 49 steps = {count} images")
    timed("ROAD imputation alone", count, lambda: [faith._road_fill(faces, orders, pairs[k:k + 16], 48, 0)
                                                   for k in range(0, len(pairs), 16)])
    timed("curves_many, road", count, lambda: faith.curves_many(fast, faces, labels, orders, imputation="road"))
    timed("curves_many, mean", count, lambda: faith.curves_many(fast, faces, labels, orders, imputation="mean"))


if __name__ == "__main__":
    main()
