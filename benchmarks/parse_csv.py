"""Time the parse of a 35,887-row FER2013-format CSV (FER2013's size) against pandas, where pandas is installed.

    python benchmarks/parse_csv.py [--rows 35887] [--runs 3]

pandas is not a dependency of the generator: `pip install pandas` (or the `bench` extra) to get the reference row.
The reference is `pandas.read_csv(path)` followed by the fastest of two common idioms for the pixel strings, timed
in the same run; the file is written once to a temporary folder: random pixels 0-255 (mostly 3-digit numbers, like
real faces), Kaggle's three columns, the real file's Usage proportions.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from generator.data.fer2013 import _load_exactly, load_csv, write_csv

PIXEL_IDIOMS = {
    "np.fromstring per row": lambda strings: np.stack([np.fromstring(s, dtype=np.uint8, sep=" ") for s in strings]),
    "str.split().tolist()": lambda strings: np.array(strings.str.split().tolist(), dtype=np.uint8),
}


def best_of(runs: int, fn):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def pandas_reference(path: Path, runs: int):
    """The best time of read_csv plus the fastest pixel idiom (each idiom timed once: the slow one takes minutes)."""
    import pandas as pd
    read_time, frame = best_of(runs, lambda: pd.read_csv(path))
    idiom_times = {}
    for name, split in PIXEL_IDIOMS.items():
        idiom_times[name], pixels = best_of(1, lambda: split(frame["pixels"]))
        print(f"  pandas: read_csv {read_time:.2f} s + {name} {idiom_times[name]:.2f} s", flush=True)
    fastest = min(idiom_times, key=idiom_times.get)
    pixels = PIXEL_IDIOMS[fastest](frame["pixels"])
    return read_time + idiom_times[fastest], fastest, pixels.reshape(-1, 48, 48), frame["emotion"].to_numpy()


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
        start = time.perf_counter()
        data = load_csv(path)  # the first call imports numba (and compiles the parser once after an install)
        first = time.perf_counter() - start
        ours, data = best_of(args.runs, lambda: load_csv(path))
        assert np.array_equal(data.images, images) and np.array_equal(data.labels, labels)
        exact, _ = best_of(1, lambda: _load_exactly(path))
        print(f"{args.rows} rows, {size:.0f} MiB; load_csv best of {args.runs}: {ours:.2f} s "
              f"(first call in this process {first:.2f} s); the exact slow parser alone {exact:.2f} s")
        try:
            reference, idiom, ref_images, ref_labels = pandas_reference(path, args.runs)
        except ImportError:
            print("pandas is not installed: pip install pandas for the reference row")
            return
        agree = np.array_equal(ref_images, images) and np.array_equal(ref_labels, labels)
        print(f"{'stage':<12}{'reference':<40}{'reference s':>12}{'ours s':>10}{'ratio':>8}  outputs agree")
        print(f"{'csv parse':<12}{'pandas.read_csv + ' + idiom:<40}{reference:>12.2f}{ours:>10.2f}"
              f"{reference / ours:>7.1f}x  {agree}")


if __name__ == "__main__":
    main()
