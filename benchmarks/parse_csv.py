"""Time the parse of a 35,887-row FER2013-format CSV (FER2013's size), against pandas where it is installed.

    python benchmarks/parse_csv.py [--rows 35887]

The file is written once to a temporary folder: random pixels 0-255 (mostly 3-digit numbers, like real faces),
Kaggle's three columns, the real file's Usage proportions.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from generator.data.fer2013 import load_csv, write_csv


def best_of(runs: int, fn):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def pandas_reference(path: Path):
    import pandas as pd
    frame = pd.read_csv(path)
    pixels = np.array([np.array(s.split(), dtype=np.uint8) for s in frame["pixels"]])
    return pixels.reshape(-1, 48, 48), frame["emotion"].to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=35887)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.rows, 48, 48), dtype=np.uint8)
    labels = rng.integers(0, 7, args.rows)
    usage = np.where(np.arange(args.rows) < 0.8 * args.rows, "Training",
                     np.where(np.arange(args.rows) < 0.9 * args.rows, "PublicTest", "PrivateTest"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fer2013.csv"
        write_csv(path, images, labels, usage)
        size = path.stat().st_size / 2**20
        ours, data = best_of(args.runs, lambda: load_csv(path))
        assert np.array_equal(data.images, images) and np.array_equal(data.labels, labels)
        print(f"{args.rows} rows, {size:.0f} MiB, best of {args.runs}")
        print(f"{'stage':<12}{'reference':<22}{'reference s':>12}{'ours s':>10}{'ratio':>8}  outputs agree")
        try:
            reference, (ref_images, ref_labels) = best_of(args.runs, lambda: pandas_reference(path))
            agree = np.array_equal(ref_images, images) and np.array_equal(ref_labels, labels)
            print(f"{'csv parse':<12}{'pandas + str.split':<22}{reference:>12.2f}{ours:>10.2f}"
                  f"{reference / ours:>7.2f}x  {agree}")
        except ImportError:
            print(f"{'csv parse':<12}{'(pandas missing)':<22}{'-':>12}{ours:>10.2f}{'-':>8}  -")


if __name__ == "__main__":
    main()
