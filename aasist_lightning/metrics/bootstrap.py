"""How far to trust an EER: bootstrap confidence intervals, a paired bootstrap test of two systems scored
on the same trials, and the mean ± std / min / max of a group of seeds.

The bootstrap resamples trials with replacement within each class (stratified, so every replicate keeps the
numbers of bona fide and spoof trials), or, when speaker ids are given, whole speakers as blocks: the trials
of one speaker are not independent, and resampling them one by one makes the interval too narrow. A
replicate is a vector of trial weights (how many times each trial was drawn), so all replicates of one chunk
are computed at once from one sort of the scores. EERs are fractions, as everywhere in ``metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from aasist_lightning.metrics.eer import as_scores

#: Fewer speakers than this are too few blocks for a bootstrap (a replicate of 2 speakers is often 1 speaker
#: twice): the trials are resampled instead.
MIN_SPEAKERS = 10
#: Weight matrices are built in chunks of at most this many entries (replicates × trials): ~40 MB of float64.
_CHUNK = 5_000_000


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval; ``method`` is 'trials' or 'speakers'."""

    value: float
    low: float
    high: float
    confidence: float
    n_boot: int
    method: str


@dataclass(frozen=True)
class PairedDifference:
    """``EER(A) - EER(B)`` on the same trials: the observed difference, its percentile interval and the
    two-sided bootstrap p-value of "no difference"."""

    eer_a: float
    eer_b: float
    difference: Interval
    p_value: float


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation (0 for one value), min and max of a group of runs (e.g. seeds)."""

    n: int
    mean: float
    std: float
    min: float
    max: float


def spread(values: ArrayLike) -> Spread:
    """:class:`Spread` of ``values`` (NaNs ignored); ValueError when none is left."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        raise ValueError("no values to summarise")
    std = float(np.std(arr, ddof=1)) if arr.size > 1 else 0.0
    return Spread(int(arr.size), float(np.mean(arr)), std, float(np.min(arr)), float(np.max(arr)))


def _check_labels(labels: ArrayLike, n: int) -> np.ndarray:
    arr = np.asarray(labels).reshape(-1)
    if arr.size != n:
        raise ValueError(f"{arr.size} labels for {n} scores: give one label per trial")
    if not np.isin(arr, (0, 1)).all():
        raise ValueError(f"labels must be 1 (bona fide) or 0 (spoof), got {np.unique(arr).tolist()}")
    is_bona = arr == 1
    if is_bona.all() or not is_bona.any():
        raise ValueError("the EER needs both bona fide and spoof trials")
    return is_bona


def weighted_eer(scores: np.ndarray, is_bona: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """EER of each row of ``weights`` (replicates × trials; trial i counted ``weights[:, i]`` times), with the
    official DET points and tie order (:func:`metrics.eer.det_curve`): unit weights give ``compute_eer``.
    NaN for a replicate without a bona fide or a spoof trial."""
    order = np.argsort(np.concatenate((scores[is_bona], scores[~is_bona])), kind="mergesort")
    trial_index = np.concatenate((np.flatnonzero(is_bona), np.flatnonzero(~is_bona)))[order]
    w = weights[:, trial_index]
    # Trials rejected at each DET point (point i rejects the i + 1 lowest), in the weights' own dtype: integer
    # counts keep the official float operations exact and move half the bytes of float64.
    bona_rejected = np.cumsum(w * is_bona[trial_index], axis=1, dtype=w.dtype)
    spoof_accepted = np.cumsum(w, axis=1, dtype=w.dtype)
    spoof_accepted -= bona_rejected  # spoof trials rejected, for now
    n_bona, n_spoof = bona_rejected[:, -1:], spoof_accepted[:, -1:].copy()
    np.subtract(n_spoof, spoof_accepted, out=spoof_accepted)
    with np.errstate(invalid="ignore", divide="ignore"):
        frr = bona_rejected / n_bona
        far = spoof_accepted / n_spoof
    gap = frr - far
    np.abs(gap, out=gap)
    idx = np.argmin(gap, axis=1)
    rows = np.arange(w.shape[0])
    eer = (frr[rows, idx] + far[rows, idx]) / 2
    # The DET curve's first point (nothing rejected: miss 0, false alarm 1) is the EER point only when no
    # later point is closer: the official argmin takes the first of equal gaps.
    eer[gap[rows, idx] >= 1] = 0.5
    eer[(n_bona[:, 0] == 0) | (n_spoof[:, 0] == 0)] = np.nan
    return eer


def _replicate_weights(
    n_bona: int, n_trials: int, block: np.ndarray | None, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_boot`` × trials draw counts of trials in class order (the ``n_bona`` bona fide ones first): per
    class (stratified), or per speaker when ``block`` gives each trial's speaker number."""
    if block is None:
        weights = np.empty((n_boot, n_trials), dtype=np.int32)
        weights[:, :n_bona] = _draw_counts(n_bona, n_boot, rng)
        weights[:, n_bona:] = _draw_counts(n_trials - n_bona, n_boot, rng)
        return weights
    return _draw_counts(int(block.max()) + 1, n_boot, rng)[:, block]


def _draw_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` × ``n``: how often each of n items is drawn in n draws with replacement (one bincount of all
    replicates' draws, offset per replicate: far faster than ``rng.multinomial`` for many items)."""
    draws = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]
    return np.bincount(draws.reshape(-1), minlength=n_boot * n).reshape(n_boot, n).astype(np.int32)


def _boot_eers(
    systems: Sequence[np.ndarray],
    is_bona: np.ndarray,
    groups: np.ndarray | None,
    n_boot: int,
    seed: int,
) -> np.ndarray:
    """systems × n_boot EERs, every system resampled with the same weights (paired)."""
    rng = np.random.default_rng(seed)
    # Class order (bona fide first): the stratified draws fill two slices instead of scattering by mask.
    stacked = np.concatenate((np.flatnonzero(is_bona), np.flatnonzero(~is_bona)))
    n_bona = int(is_bona.sum())
    in_order = np.arange(is_bona.size) < n_bona
    block = None if groups is None else np.unique(groups[stacked], return_inverse=True)[1].reshape(-1)
    chunk = max(1, _CHUNK // is_bona.size)
    out = np.empty((len(systems), n_boot))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        weights = _replicate_weights(n_bona, is_bona.size, block, stop - start, rng)
        for i, scores in enumerate(systems):
            out[i, start:stop] = weighted_eer(scores[stacked], in_order, weights)
    return out


def _groups(speakers: ArrayLike | None, n: int) -> np.ndarray | None:
    """Speaker ids as blocks, or None (resample trials) when there are too few speakers for blocks."""
    if speakers is None:
        return None
    arr = np.asarray(speakers).reshape(-1)
    if arr.size != n:
        raise ValueError(f"{arr.size} speaker ids for {n} trials: give one per trial")
    return arr if np.unique(arr).size >= MIN_SPEAKERS else None


def _interval(value: float, samples: np.ndarray, confidence: float, method: str) -> Interval:
    kept = samples[~np.isnan(samples)]
    tail = 50 * (1 - confidence)
    low, high = np.percentile(kept, [tail, 100 - tail]) if kept.size else (np.nan, np.nan)
    return Interval(value, float(low), float(high), confidence, int(kept.size), method)


def _check(n_boot: int, confidence: float) -> None:
    if n_boot < 1 or not 0 < confidence < 1:
        raise ValueError(f"need n_boot >= 1 and 0 < confidence < 1, got {n_boot} and {confidence}")


def bootstrap_eer(
    scores: ArrayLike,
    labels: ArrayLike,
    speakers: ArrayLike | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """The EER of one set of trials with its bootstrap percentile interval; ``labels`` 1 bona fide / 0 spoof,
    ``speakers`` (optional) one id per trial to resample speakers as blocks (at least :data:`MIN_SPEAKERS`).
    Replicates that lose a whole class are dropped (``n_boot`` of the result counts those kept)."""
    _check(n_boot, confidence)
    score_arr = as_scores(scores, "CM")
    is_bona = _check_labels(labels, score_arr.size)
    groups = _groups(speakers, score_arr.size)
    value = float(weighted_eer(score_arr, is_bona, np.ones((1, score_arr.size), dtype=np.int32))[0])
    samples = _boot_eers([score_arr], is_bona, groups, n_boot, seed)[0]
    return _interval(value, samples, confidence, "trials" if groups is None else "speakers")


def paired_bootstrap(
    scores_a: Sequence[ArrayLike],
    scores_b: Sequence[ArrayLike],
    labels: ArrayLike,
    speakers: ArrayLike | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Paired bootstrap of ``mean EER(A) - mean EER(B)``: A and B are one or more runs (e.g. seeds) whose
    score arrays are aligned on the same trials; every replicate resamples the same trials for all of them.

    The p-value is two-sided for "A and B have the same EER": the share of replicates whose difference lies at
    least as far from the observed one as the observed one lies from 0 (the bootstrap distribution shifted to
    the null), with the usual +1 so it is never 0.
    """
    _check(n_boot, confidence)
    if not scores_a or not scores_b:
        raise ValueError("both sides of a comparison need at least one run")
    systems = [as_scores(s, "CM") for s in (*scores_a, *scores_b)]
    n = systems[0].size
    if any(s.size != n for s in systems):
        raise ValueError(f"runs scored on different numbers of trials ({sorted({s.size for s in systems})})")
    is_bona = _check_labels(labels, n)
    groups = _groups(speakers, n)
    ones = np.ones((1, n), dtype=np.int32)
    point = np.array([weighted_eer(s, is_bona, ones)[0] for s in systems])
    boot = _boot_eers(systems, is_bona, groups, n_boot, seed)
    k = len(scores_a)
    eer_a, eer_b = float(point[:k].mean()), float(point[k:].mean())
    observed = eer_a - eer_b
    diffs = boot[:k].mean(axis=0) - boot[k:].mean(axis=0)
    kept = diffs[~np.isnan(diffs)]
    p_value = (1 + int(np.sum(np.abs(kept - observed) >= abs(observed)))) / (kept.size + 1)
    method = "trials" if groups is None else "speakers"
    return PairedDifference(eer_a, eer_b, _interval(observed, diffs, confidence, method), float(p_value))


__all__ = [
    "Interval",
    "PairedDifference",
    "Spread",
    "bootstrap_eer",
    "paired_bootstrap",
    "spread",
    "weighted_eer",
]
