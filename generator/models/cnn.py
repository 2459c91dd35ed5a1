"""The default course-style CNN: VGG-like blocks of 3x3 convs, each block ending in 2x2 max-pooling.

The course default is three blocks of two convs, 64/128/256 filters. The demo model is a narrower variant that
keeps the 64-filter second conv of block 1, the layer question 2 looks at by default.
"""
from __future__ import annotations

import torch
from torch import nn

COURSE_BLOCKS = ((64, 64), (128, 128), (256, 256))
DEMO_BLOCKS = ((16, 64), (48,), (96,))
DEMO_KWARGS = {"blocks": [list(b) for b in DEMO_BLOCKS], "hidden": 64}


class FerCNN(nn.Module):
    """``blocks`` lists each block's conv widths; the head flattens, then one hidden layer and the 7 scores."""

    def __init__(self, blocks=COURSE_BLOCKS, hidden: int = 512, num_classes: int = 7, dropout: float = 0.3,
                 batch_norm: bool = True, size: int = 48):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for widths in blocks:
            for width in widths:
                layers.append(nn.Conv2d(channels, width, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(nn.ReLU(inplace=False))
                channels = width
            layers.append(nn.MaxPool2d(2))
            size //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels * size * size, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
