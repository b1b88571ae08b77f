"""ASVspoof 5 countermeasure measures: normalised minimum and actual DCF, and Cllr.

Definitions of the ASVspoof 5 evaluation plan and evaluation package (Pspoof 0.05, Cmiss 1, Cfa 10): the DCF
is ``Cmiss·(1-Pspoof)·Pmiss + Cfa·Pspoof·Pfa`` normalised by ``min(Cmiss·(1-Pspoof), Cfa·Pspoof)``, so a
system that always accepts or always rejects scores at most 1. min DCF sweeps the official DET points; act DCF
uses the Bayes threshold ``-log(beta)``, ``beta = Cmiss·(1-Pspoof) / (Cfa·Pspoof)``, which assumes the scores
are log-likelihood ratios (ln p(x|bona fide) / p(x|spoof)), as does Cllr.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from aasist_lightning.metrics.eer import as_scores, det_curve

P_SPOOF = 0.05
C_MISS = 1.0
C_FA = 10.0


def _check_costs(p_spoof: float, c_miss: float, c_fa: float) -> None:
    if not 0 < p_spoof < 1 or c_miss <= 0 or c_fa <= 0:
        raise ValueError(
            f"need 0 < p_spoof < 1 and positive costs, got p_spoof={p_spoof}, c_miss={c_miss}, c_fa={c_fa}"
        )


def min_dcf(
    bonafide: ArrayLike,
    spoof: ArrayLike,
    p_spoof: float = P_SPOOF,
    c_miss: float = C_MISS,
    c_fa: float = C_FA,
) -> float:
    """Normalised minimum DCF over the DET curve's operating points (ASVspoof 5 primary CM measure)."""
    _check_costs(p_spoof, c_miss, c_fa)
    frr, far, _ = det_curve(bonafide, spoof)
    p_bona = 1 - p_spoof
    cost = c_miss * frr * p_bona + c_fa * far * (1 - p_bona)
    return float(np.min(cost) / min(c_miss * p_bona, c_fa * (1 - p_bona)))


def act_dcf_threshold(p_spoof: float = P_SPOOF, c_miss: float = C_MISS, c_fa: float = C_FA) -> float:
    """The Bayes decision threshold ``-log(beta)`` for LLR scores (about -0.642 for the ASVspoof 5 costs)."""
    _check_costs(p_spoof, c_miss, c_fa)
    return -math.log(c_miss * (1 - p_spoof) / (c_fa * p_spoof))


def act_dcf(
    bonafide: ArrayLike,
    spoof: ArrayLike,
    p_spoof: float = P_SPOOF,
    c_miss: float = C_MISS,
    c_fa: float = C_FA,
) -> float:
    """Normalised actual DCF: decisions at the Bayes threshold ``-log(beta)`` (scores read as LLRs)."""
    bona = as_scores(bonafide, "bona fide")
    spf = as_scores(spoof, "spoof")
    threshold = act_dcf_threshold(p_spoof, c_miss, c_fa)
    p_miss = np.sum(bona < threshold) / bona.size
    p_fa = np.sum(spf >= threshold) / spf.size
    cost = c_miss * (1 - p_spoof) * p_miss + c_fa * p_spoof * p_fa
    return float(cost / min(c_fa * p_spoof, c_miss * (1 - p_spoof)))


def cllr(bonafide: ArrayLike, spoof: ArrayLike) -> float:
    """Log-likelihood-ratio cost in bits (scores read as natural-log LLRs): 1 = uninformative, 0 = perfect."""
    bona = as_scores(bonafide, "bona fide")
    spf = as_scores(spoof, "spoof")
    # log(1 + e^-x) via logaddexp: equal to the official log1p(exp(-x)) but finite for very negative x.
    return float(0.5 * (np.mean(np.logaddexp(0, -bona)) + np.mean(np.logaddexp(0, spf))) / np.log(2))
