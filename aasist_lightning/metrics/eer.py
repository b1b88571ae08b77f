"""Equal error rate and DET curve, exactly as the official ASVspoof 2019 scoring script computes them.

Scores: higher = more bona fide. The DET curve has one operating point per position in the stably sorted
(mergesort) concatenation ``[bonafide, spoof]``, so tied scores give the same points as the official script
(within a tie, bona fide trials come first). Rates and the EER are fractions, not percentages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike


def as_scores(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array; ValueError naming ``name`` if it is empty or not finite."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"no {name} scores: both classes need at least one trial")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(
            f"{bad.size} {name} score(s) are NaN or infinite (first at index {bad[0]}: {arr[bad[0]]}); "
            "fix the model output or drop those trials"
        )
    return arr


def det_curve(bonafide: ArrayLike, spoof: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Miss rate (bona fide rejected), false-alarm rate (spoof accepted) and thresholds, each of length
    ``len(bonafide) + len(spoof) + 1``, as the official ``compute_det_curve``.

    Point 0 accepts everything (threshold just below the lowest score); point i rejects the i lowest trials.
    """
    bona = as_scores(bonafide, "bona fide")
    spf = as_scores(spoof, "spoof")
    all_scores = np.concatenate((bona, spf))
    is_bona = np.concatenate((np.ones(bona.size), np.zeros(spf.size)))
    order = np.argsort(all_scores, kind="mergesort")
    # Same float operations as the official script, so the rates are bit-identical.
    bona_rejected = np.cumsum(is_bona[order])
    spoof_accepted = spf.size - (np.arange(1, all_scores.size + 1) - bona_rejected)
    frr = np.concatenate(([0.0], bona_rejected / bona.size))
    far = np.concatenate(([1.0], spoof_accepted / spf.size))
    sorted_scores = all_scores[order]
    thresholds = np.concatenate(([sorted_scores[0] - 0.001], sorted_scores))
    return frr, far, thresholds


def eer_from_det(frr: np.ndarray, far: np.ndarray, thresholds: np.ndarray) -> tuple[float, float]:
    """EER and threshold at the DET point where miss and false-alarm rates are closest (first such point)."""
    idx = int(np.argmin(np.abs(frr - far)))
    return float(np.mean((frr[idx], far[idx]))), float(thresholds[idx])


def compute_eer(bonafide: ArrayLike, spoof: ArrayLike) -> tuple[float, float]:
    """Equal error rate (a fraction) and its threshold, as the official ASVspoof 2019 ``compute_eer``."""
    return eer_from_det(*det_curve(bonafide, spoof))


def per_attack_eer(bonafide: ArrayLike, spoof: ArrayLike, attacks: Sequence[str]) -> dict[str, float]:
    """EER (fraction) of each attack's spoofs against all bona fide trials; ``attacks[i]`` names ``spoof[i]``.

    Keys are sorted (A07 ... A19).
    """
    spf = np.asarray(spoof, dtype=np.float64).reshape(-1)
    names = np.asarray(attacks, dtype=str).reshape(-1)
    if names.size != spf.size:
        raise ValueError(
            f"{names.size} attack names for {spf.size} spoof scores: give one attack per spoof trial"
        )
    return {str(a): compute_eer(bonafide, spf[names == a])[0] for a in np.unique(names)}
