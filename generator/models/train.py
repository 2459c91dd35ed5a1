"""Train the demo CNN on synthetic faces, deterministically (same seed, same weights on the same machine)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from generator.data import synth
from generator.data.fer2013 import as_model_input
from generator.models.cnn import DEMO_KWARGS, FerCNN

ARCHITECTURE = "generator.models.cnn:FerCNN"
DEMO_WEIGHTS = Path(__file__).with_name("demo_cnn.pt")
DEMO_DATA = {"seed": 0, "count": 8400}  # the synthetic set the demo model was trained on; every tenth is held out


@dataclass
class TrainResult:
    model: nn.Module
    val_accuracy: float
    history: list  # (epoch, train loss, validation accuracy)


def demo_split(seed: int, count: int):
    indices = np.arange(count)
    validation = np.array([synth.usage_of(i) == "PublicTest" for i in indices])
    return indices[~validation], indices[validation]


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
    model.eval()
    with torch.inference_mode():
        predicted = torch.cat([model(x[k:k + batch]).argmax(1) for k in range(0, len(x), batch)])
    return float((predicted == y).float().mean())


def train_demo(seed: int = 0, count: int = DEMO_DATA["count"], epochs: int = 8, batch: int = 64, lr: float = 3e-3,
               progress: Callable[[str], None] = lambda _: None) -> TrainResult:
    torch.manual_seed(seed)
    train_idx, val_idx = demo_split(DEMO_DATA["seed"], count)
    progress(f"rendering {count} synthetic faces")
    x_train_np, y_train_np, _ = synth.render_dataset(DEMO_DATA["seed"], train_idx)
    x_val_np, y_val_np, _ = synth.render_dataset(DEMO_DATA["seed"], val_idx)
    x_train, y_train = as_model_input(x_train_np), torch.from_numpy(y_train_np)
    x_val, y_val = as_model_input(x_val_np), torch.from_numpy(y_val_np)
    model = FerCNN(**DEMO_KWARGS)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(x_train) + batch - 1) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total = 0.0
        for k in range(0, len(order), batch):
            pick = order[k:k + batch]
            x = x_train[pick]
            flip = torch.rand(len(pick), generator=generator) < 0.5  # faces are left-right symmetric
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = nn.functional.cross_entropy(model(x), y_train[pick])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(pick)
        val = accuracy(model, x_val, y_val)
        history.append((epoch + 1, total / len(x_train), val))
        progress(f"epoch {epoch + 1}/{epochs}: train loss {total / len(x_train):.3f}, held-out accuracy {val:.1%}")
    return TrainResult(model.eval(), history[-1][2], history)


def save_checkpoint(result: TrainResult, path: Path) -> None:
    """A self-describing checkpoint: architecture import path, kwargs, weights, and how inputs are scaled."""
    torch.save({
        "architecture": ARCHITECTURE, "kwargs": DEMO_KWARGS, "state_dict": result.model.state_dict(),
        "input": {"scale": 255.0, "mean": 0.0, "std": 1.0}, "output": "logits",
        "val_accuracy": result.val_accuracy, "history": result.history, "data": DEMO_DATA,
    }, path)
