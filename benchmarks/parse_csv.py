"""Time the parse of a 35,887-row FER2013-format CSV (FER2013's size) against pandas, where pandas is installed.

    python benchmarks/parse_csv.py [--rows 35887] [--runs 3]

pandas is not a dependency of the generator: `pip install pandas` (or the `bench` extra) for the reference row.
The reference is `pandas.read_csv(path)` followed by the faster of two common idioms for the pixel strings, each
timed in the same run (str.split takes minutes). Wall and CPU times are both printed: on a shared machine the wall
clock swings with other jobs. The file is written once to a temporary folder: random pixels 0-255 (mostly 3-digit
numbers, like real faces), Kaggle's three columns, the real file's Usage proportions.
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
    """The best (wall, CPU) seconds of ``runs`` calls, and the last result. CPU time is this process's, all
    threads: on a machine shared with other jobs it varies far less than the wall clock."""
    times, result = [], None
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return (min(t[0] for t in times), min(t[1] for t in times)), result


def pandas_reference(path: Path, runs: int):
    """The best time of read_csv plus the fastest pixel idiom (each idiom timed once: the slow one takes minutes)."""
    import pandas as pd
    read_time, frame = best_of(runs, lambda: pd.read_csv(path))
    idiom_times = {}
    for name, split in PIXEL_IDIOMS.items():
        idiom_times[name], pixels = best_of(1, lambda: split(frame["pixels"]))
        print(f"  pandas: read_csv {read_time[0]:.2f} s (CPU {read_time[1]:.2f} s) + {name} "
              f"{idiom_times[name][0]:.2f} s (CPU {idiom_times[name][1]:.2f} s)", flush=True)
    fastest = min(idiom_times, key=lambda name: idiom_times[name][1])
    pixels = PIXEL_IDIOMS[fastest](frame["pixels"])
    total = tuple(a + b for a, b in zip(read_time, idiom_times[fastest]))
    return total, fastest, pixels.reshape(-1, 48, 48), frame["emotion"].to_numpy()


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
        first, _ = best_of(1, lambda: load_csv(path))  # imports numba (and compiles the parser once after an install)
        ours, data = best_of(args.runs, lambda: load_csv(path))
        assert np.array_equal(data.images, images) and np.array_equal(data.labels, labels)
        exact, _ = best_of(1, lambda: _load_exactly(path))
        print(f"{args.rows} rows, {size:.0f} MiB. load_csv, best of {args.runs}: {ours[0]:.2f} s (CPU {ours[1]:.2f} s); "
              f"its first call in this process {first[0]:.2f} s; the exact slow parser alone {exact[0]:.2f} s "
              f"(CPU {exact[1]:.2f} s)")
        try:
            reference, idiom, ref_images, ref_labels = pandas_reference(path, args.runs)
        except ImportError:
            print("pandas is not installed: pip install pandas for the reference row")
            return
        agree = np.array_equal(ref_images, images) and np.array_equal(ref_labels, labels)
        print(f"reference: pandas.read_csv + {idiom}, the faster idiom in CPU time; outputs agree: {agree}")
        print(f"{'':<10}{'reference s':>12}{'ours s':>10}{'ratio':>8}")
        for k, clock in enumerate(("wall", "CPU")):
            print(f"{clock:<10}{reference[k]:>12.2f}{ours[k]:>10.2f}{reference[k] / ours[k]:>7.1f}x")


if __name__ == "__main__":
    main()
