"""Which batch size should LIME's classifier function use? Times one explanation per batch size, same seed.

    python benchmarks/lime_batch.py [--course]

By default the bundled demo CNN; --course uses the course-sized CNN (64/128/256 channels, random weights: speed
does not depend on the weights). lime's own default batch size is 10.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from generator.config import ModelSettings
from generator.data import synth
from generator.explain.lime_explain import explain
from generator.models.cnn import FerCNN
from generator.models.load import NormalisedModel, load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", action="store_true")
    parser.add_argument("--sizes", default="8,10,16,32,64,128")
    args = parser.parse_args()
    if args.course:
        torch.manual_seed(0)
        model = NormalisedModel(FerCNN().eval(), 255.0, 0.0, 1.0, "logits").eval()
    else:
        model = load_model(ModelSettings(), Path(".")).model
    face = synth.render(synth.make_spec(0, 59))[0] / 255.0
    reference = None
    print(f"{'batch':>6}{'seconds':>10}{'faces/s':>10}  same weights as batch 8")
    for size in (int(s) for s in args.sizes.split(",")):
        explain(model, face, 3, seed=0, num_samples=64, batch_size=size)  # warm-up
        start = time.perf_counter()
        result = explain(model, face, 3, seed=0, num_samples=1000, batch_size=size)
        seconds = time.perf_counter() - start
        reference = result.weights if reference is None else reference
        print(f"{size:>6}{seconds:>10.2f}{1000 / seconds:>10.0f}  {np.allclose(result.weights, reference, atol=1e-6)}")


if __name__ == "__main__":
    main()
