"""From per-face values to what the trust page may say: each metric's mean with its 95% interval and n,
over all faces and per class, and the verdict of a paired comparison, said only where the interval supports it.

The intervals and verdicts come from generator/explain/evidence.py. Everything here is plain dicts of numbers and
verdict kinds, so the page context and the cache hold no objects, and the templates put each kind into words.
"""
from __future__ import annotations

import numpy as np

from generator.data.fer2013 import NUM_CLASSES
from generator.explain.evidence import UNCLEAR, Estimate, below, interval, paired_difference, verdict

# Fewer faces than this give no verdict: the bootstrap's resamples of 1 to 4 values take too few distinct means to
# bound anything (one face has no interval at all: evidence.interval gives the value itself as both ends).
MIN_FACES = 5


def summary(values, targets, seed: int) -> dict:
    """{"all": estimate, "per_class": [estimate of class 0, ..., 6]}; NaN values (no score on that face) are left
    out of the means and of n."""
    values, targets = np.asarray(values, dtype=np.float64), np.asarray(targets)
    if values.shape != targets.shape:
        raise ValueError(f"one class per value expected: {values.size} values, {targets.size} classes")
    return {"all": interval(values, seed).as_dict(),
            "per_class": [interval(values[targets == c], seed).as_dict() for c in range(NUM_CLASSES)]}


def against(values, reference, higher_is_better: bool, seed: int) -> dict:
    """A method against a reference (the random map) on the same faces, in the same order: the mean difference
    face by face with its interval, and BETTER, WORSE or UNCLEAR (evidence.verdict; UNCLEAR below MIN_FACES)."""
    difference = paired_difference(values, reference, seed)
    kind = verdict(difference, higher_is_better) if difference.n >= MIN_FACES else UNCLEAR
    return {"difference": difference.as_dict(), "verdict": kind}


def sanity(final_rho, targets, threshold: float, seed: int) -> dict:
    """The randomisation check's rho with every layer random, per face: its summary and the verdict, BETTER (the
    whole interval below ``threshold``: passes), WORSE (above: fails) or UNCLEAR."""
    scores = summary(final_rho, targets, seed)
    overall = Estimate(**scores["all"])
    scores["verdict"] = below(overall, threshold) if overall.n >= MIN_FACES else UNCLEAR
    return scores
