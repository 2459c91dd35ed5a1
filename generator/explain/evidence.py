"""How far a mean over faces can be trusted: a 95% bootstrap confidence interval, and verdicts that are said only
where the interval supports them.

Every trust number is a mean over faces (one value per face). Its interval comes from ``scipy.stats.bootstrap``
(BCa, 2,000 resamples, seeded), not from resampling written by hand. A comparison of two methods is paired: the
difference is taken face by face on the same faces, then bootstrapped, so the faces' own spread (an easy face, a
hard one) cancels out of it.

The means are exact: each is the correctly rounded sum (``math.fsum``) over n. With a few faces, some resamples are
reorderings of the observed faces, and BCa's bias correction counts the resample means below, equal to and above
the observed one (ties count half). A float sum in another order would put such a mean a last bit off the observed
one, and so move the interval to a neighbouring order statistic whenever the faces' values move by float noise
(another CPU's kernels). An exact sum gives every reordering of the same faces the same bits: a tie stays a tie.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap

LEVEL = 0.95
RESAMPLES = 2000

# The verdict of a comparison: the templates put each into words, in both languages.
BETTER, WORSE, UNCLEAR = "better", "worse", "indistinguishable"


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` faces with its 95% interval [low, high]. NaN everywhere when no face has a value."""
    mean: float
    low: float
    high: float
    n: int

    def excludes(self, value: float) -> bool:
        """True when the whole interval lies on one side of ``value``."""
        return bool(self.low > value or self.high < value)

    def as_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    return values[np.isfinite(values)]


def exact_mean(sample, axis=-1) -> np.ndarray:
    """The mean along ``axis``, each one the exactly rounded sum over the count: the same bits for the same values
    in any order."""
    sample = np.moveaxis(np.asarray(sample, np.float64), axis, -1)
    rows = sample.reshape(-1, sample.shape[-1])
    means = np.array([math.fsum(row) for row in rows.tolist()], np.float64) / sample.shape[-1]
    return means.reshape(sample.shape[:-1])


def interval(values, seed: int, resamples: int = RESAMPLES) -> Estimate:
    """The mean of ``values`` (NaN values left out, as faces with no value) and its 95% BCa bootstrap interval.

    With one value, or values all equal, there is nothing to resample: the interval is the mean itself. Where BCa
    is undefined (its jackknife degenerates, as with a few 0/1 hits), the percentile interval is used instead."""
    values = _finite(values)
    n = len(values)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    mean = float(exact_mean(values))
    if n == 1 or np.ptp(values) == 0:
        return Estimate(mean, mean, mean, n)
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy warns where BCa degenerates; the fallback handles it
            result = bootstrap((values,), exact_mean, n_resamples=resamples, confidence_level=LEVEL,
                               method=method, vectorized=True, rng=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return Estimate(mean, low, high, n)
    return Estimate(mean, float("nan"), float("nan"), n)


def paired_difference(a, b, seed: int, resamples: int = RESAMPLES) -> Estimate:
    """The mean of ``a - b`` face by face, with its interval. ``a`` and ``b`` hold one value per face for the same
    faces in the same order; a face where either is NaN is left out of both."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"a paired comparison needs the same faces on both sides: {a.size} values against {b.size}")
    return interval(a - b, seed, resamples)


def verdict(difference: Estimate, higher_is_better: bool) -> str:
    """BETTER or WORSE when the interval of the difference excludes 0, on the side that says so; UNCLEAR
    otherwise (then the page says "not distinguishable ... at n = N")."""
    if not difference.excludes(0.0):
        return UNCLEAR
    return BETTER if (difference.mean > 0) == higher_is_better else WORSE


def below(estimate: Estimate, threshold: float) -> str:
    """BETTER when the whole interval lies below ``threshold`` (the sanity check's rho), WORSE when it lies above,
    UNCLEAR when it holds the threshold."""
    if not estimate.excludes(threshold):
        return UNCLEAR
    return BETTER if estimate.high < threshold else WORSE
