"""Shared fixtures: a tiny CNN and tiny FER2013-format files, so no test needs a training run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from generator.models.cnn import FerCNN

ROOT = Path(__file__).resolve().parent.parent
TINY_KWARGS = {"blocks": [[4, 8]], "hidden": 8}


def tiny_model(seed: int = 0) -> FerCNN:
    torch.manual_seed(seed)
    model = FerCNN(**TINY_KWARGS).eval()
    with torch.no_grad():  # give BatchNorm non-trivial statistics, so eval mode is tested for real
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model


def snapshot(folder: Path) -> dict:
    """Every file under ``folder``: relative path -> (bytes, mtime in ns). Equal snapshots: nothing was rewritten."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def model():
    return tiny_model()


def write_rows(path: Path, header: str, rows: list[str], newline: str = "\n", bom: bool = False) -> Path:
    text = newline.join([header, *rows]) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def pixel_string(seed: int) -> str:
    return " ".join(map(str, np.random.default_rng(seed).integers(0, 256, 48 * 48).tolist()))


@pytest.fixture
def kaggle_csv(tmp_path):
    usages = ["Training", "Training", "PublicTest", "PrivateTest", "PublicTest"]
    rows = [f"{k % 7},{pixel_string(k)},{u}" for k, u in enumerate(usages)]
    return write_rows(tmp_path / "fer2013.csv", "emotion,pixels,Usage", rows)


@pytest.fixture
def course_csv(tmp_path):
    rows = [f'{k % 7},"{pixel_string(k)}"' for k in range(21)]
    return write_rows(tmp_path / "train.csv", "label,feature", rows)
