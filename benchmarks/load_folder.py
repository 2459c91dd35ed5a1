"""Time the load of an image folder of FER2013's size (35,887 JPEGs) against the CSV loader on the same faces.

    python benchmarks/load_folder.py [--images 35887] [--runs 3] [--threads 1,8]

Beside benchmarks/parse_csv.py: the reference is ``load_csv`` on a CSV of the very faces the folder decodes to,
timed in the same run, so the ratio says what a folder costs over the CSV. The folder is written once to a
temporary folder in the layout of Kaggle's image copy (train/<class>/Training_N.jpg, test/<class>/PublicTest_N.jpg),
48x48 gray JPEGs at Pillow's default quality; its faces are the synthetic ones (2,000 rendered, shifted into
variants), smooth like real faces, so the JPEGs decode as real ones do. The files are in the page cache (they were
just written): a first read from a cold disk adds the disk's time. Wall and CPU times are both printed: on a shared
machine the wall clock swings with other jobs. ``--threads`` times the loader with each thread count.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from generator.data import folders, synth
from generator.data.fer2013 import load_csv, write_csv
from generator.data.spellings import CLASS_ORDER

from parse_csv import best_of


def faces(count: int) -> tuple[np.ndarray, np.ndarray]:
    base, labels, _ = synth.render_dataset(0, range(min(count, 2000)))
    k = np.arange(count)
    shifted = np.stack([np.roll(base[i % len(base)], i // len(base), axis=1) for i in k])
    return shifted, labels[k % len(base)]


def write_folder(root: Path, images: np.ndarray, labels: np.ndarray) -> None:
    for k in range(len(images)):
        split, usage = ("test", "PublicTest") if k % 10 == 9 else ("train", "Training")
        path = root / split / CLASS_ORDER[labels[k]] / f"{usage}_{k}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[k], "L").save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=35887)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", default=f"1,{folders.THREADS}")
    args = parser.parse_args()
    images, labels = faces(args.images)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary) / "fer2013"
        write_folder(root, images, labels)
        size = sum(p.stat().st_size for p in root.rglob("*.jpg")) / 2**20
        loaded = folders.load_folder(root)
        csv = Path(temporary) / "same.csv"
        write_csv(csv, loaded.dataset.images, loaded.dataset.labels, loaded.dataset.usage)
        best_of(1, lambda: load_csv(csv))  # imports numba and loads its compiled parser
        reference, data = best_of(args.runs, lambda: load_csv(csv))
        assert np.array_equal(data.images, loaded.dataset.images)
        print(f"{args.images} JPEGs, {size:.1f} MiB; the CSV of the same faces {csv.stat().st_size / 2**20:.0f} MiB")
        print(f"{'loader':<22}{'wall s':>8}{'CPU s':>8}{'wall/CSV':>10}{'CPU/CSV':>9}")
        print(f"{'load_csv (reference)':<22}{reference[0]:>8.2f}{reference[1]:>8.2f}{1:>9.1f}x{1:>8.1f}x")
        for threads in (int(t) for t in args.threads.split(",")):
            folders.THREADS = threads
            ours, result = best_of(args.runs, lambda: folders.load_folder(root))
            assert np.array_equal(result.dataset.images, loaded.dataset.images)
            print(f"{f'load_folder, {threads} thr':<22}{ours[0]:>8.2f}{ours[1]:>8.2f}"
                  f"{ours[0] / reference[0]:>9.1f}x{ours[1] / reference[1]:>8.1f}x")
        hashed, _ = best_of(args.runs, lambda: folders.folder_sha256(root))
        print(f"{'folder_sha256 (rebuild)':<22}{hashed[0]:>8.2f}{hashed[1]:>8.2f}"
              f"{hashed[0] / reference[0]:>9.1f}x{hashed[1] / reference[1]:>8.1f}x")


if __name__ == "__main__":
    main()
