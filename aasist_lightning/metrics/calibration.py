"""Score calibration: an affine map from raw scores to log-likelihood ratios, and the costs that judge it.

The map ``llr = scale * score + offset`` is fitted by prior-weighted logistic regression on labelled (dev)
scores, as BOSARIS' ``train_linear_calibration`` and the ASVspoof 5 evaluation practice do: it minimises the
cross-entropy at the effective prior ``prior`` (of bona fide), each class weighted to that prior whatever the
class counts. Calibrated scores are natural-log LLRs, ``ln p(x | bona fide) / p(x | spoof)``: 0 means "no
evidence", and the Bayes decision for a bona fide prior ``P`` is ``llr > -logit(P)``; ``posterior`` turns one
into a probability. :func:`min_cllr` is the Cllr after the best monotonic calibration (pool adjacent
violators): what calibration could reach at most; Cllr − min Cllr is the calibration loss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from aasist_lightning.metrics.dcf import act_dcf, cllr
from aasist_lightning.metrics.eer import as_scores

#: The effective prior of bona fide that Cllr weighs with (and the default for fitting).
DEFAULT_PRIOR = 0.5


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def _check_prior(prior: float) -> None:
    if not 0 < prior < 1:
        raise ValueError(f"the prior must lie strictly between 0 and 1, got {prior}")


@dataclass(frozen=True)
class Calibration:
    """``llr = scale * score + offset``, fitted at bona fide prior ``prior``."""

    scale: float
    offset: float
    prior: float = DEFAULT_PRIOR

    def __call__(self, scores: ArrayLike) -> np.ndarray:
        return self.scale * np.asarray(scores, dtype=np.float64) + self.offset

    def as_dict(self) -> dict[str, float]:
        """Plain floats: a checkpoint holding them still loads with ``torch.load(weights_only=True)``."""
        return {"scale": self.scale, "offset": self.offset, "prior": self.prior}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Calibration:
        """The map :meth:`as_dict` wrote (in a checkpoint, an exported model, results.json); ValueError says
        what is wrong with anything else."""
        try:
            scale, offset, prior = (float(value[key]) for key in ("scale", "offset", "prior"))
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"a calibration needs the numbers 'scale', 'offset' and 'prior', got {value!r}"
            ) from None
        if not (math.isfinite(scale) and math.isfinite(offset)):
            raise ValueError(f"a calibration needs a finite scale and offset, got {value!r}")
        _check_prior(prior)
        return cls(scale, offset, prior)


def fit_calibration(
    bonafide: ArrayLike, spoof: ArrayLike, prior: float = DEFAULT_PRIOR, iterations: int = 50
) -> Calibration:
    """Fit the affine LLR calibration on labelled scores (Newton's method on the convex, prior-weighted
    logistic loss; two parameters, so each step solves a 2×2 system)."""
    _check_prior(prior)
    bona = as_scores(bonafide, "bona fide")
    spf = as_scores(spoof, "spoof")
    scores = np.concatenate([bona, spf])
    targets = np.concatenate([np.ones(bona.size), np.zeros(spf.size)])
    weights = np.concatenate(
        [np.full(bona.size, prior / bona.size), np.full(spf.size, (1 - prior) / spf.size)]
    )
    # Standardise the scores so that Newton's steps are well scaled whatever their range.
    centre, spread = float(np.mean(scores)), float(np.std(scores)) or 1.0
    features = np.stack([(scores - centre) / spread, np.ones_like(scores)], axis=1)
    prior_logit = logit(prior)
    params = np.zeros(2)
    for _ in range(iterations):
        posterior = 1 / (1 + np.exp(-(features @ params + prior_logit)))
        gradient = features.T @ (weights * (posterior - targets))
        hessian = (features * (weights * posterior * (1 - posterior))[:, None]).T @ features
        step = np.linalg.solve(hessian + 1e-12 * np.eye(2), gradient)
        params -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    scale = float(params[0] / spread)
    return Calibration(scale, float(params[1] - scale * centre), prior)


def posterior(llr: ArrayLike, prior: float = DEFAULT_PRIOR) -> np.ndarray:
    """P(bona fide | x) for calibrated LLRs at a bona fide prior."""
    _check_prior(prior)
    # The logistic as exp(-log(1 + e^-x)): no overflow for very negative LLRs.
    return np.exp(-np.logaddexp(0.0, -(np.asarray(llr, dtype=np.float64) + logit(prior))))


def bayes_threshold(prior: float = DEFAULT_PRIOR) -> float:
    """The LLR above which deciding "bona fide" costs least at this prior (equal error costs)."""
    _check_prior(prior)
    return 0.0 - logit(prior)  # 0.0, not -0.0, at prior 0.5


def pav_llrs(bonafide: ArrayLike, spoof: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The LLRs of the optimal monotonic calibration of these scores (pool-adjacent-violators on the labels
    sorted by score, posteriors turned into LLRs by removing the data's own prior odds), as (bona fide,
    spoof). Tied scores share one value."""
    bona = as_scores(bonafide, "bona fide")
    spf = as_scores(spoof, "spoof")
    scores = np.concatenate([bona, spf])
    labels = np.concatenate([np.ones(bona.size), np.zeros(spf.size)])
    order = np.lexsort((labels, scores))
    # Ties form one block from the start, so that PAV cannot order them by label.
    _, tie_start, tie_size = np.unique(scores[order], return_index=True, return_counts=True)
    sums = np.add.reduceat(labels[order], tie_start)
    blocks: list[list[float]] = []  # [sum of labels, count]
    for total, count in zip(sums.tolist(), tie_size.tolist(), strict=True):
        blocks.append([total, count])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            total2, count2 = blocks.pop()
            blocks[-1][0] += total2
            blocks[-1][1] += count2
    fitted = np.repeat([total / count for total, count in blocks], [int(count) for _, count in blocks])
    with np.errstate(divide="ignore"):
        llr_sorted = np.log(fitted) - np.log1p(-fitted) - math.log(bona.size / spf.size)
    llr = np.empty_like(llr_sorted)
    llr[order] = llr_sorted
    return llr[: bona.size], llr[bona.size :]


def min_cllr(bonafide: ArrayLike, spoof: ArrayLike) -> float:
    """Cllr after the optimal monotonic calibration (bits): the discrimination part of Cllr."""
    # Blocks of one class get infinite LLRs of the right sign: their cost is 0, as it is at ±1e6.
    return cllr(*(np.clip(llr, -1e6, 1e6) for llr in pav_llrs(bonafide, spoof)))


def calibration_measures(
    calibration: Calibration | None, bonafide: ArrayLike, spoof: ArrayLike
) -> dict[str, float]:
    """``min_cllr`` of the raw scores and, with a calibration (fitted on other, dev scores),
    ``act_dcf_calibrated`` and ``cllr_calibrated``: the ASVspoof 5 act DCF and the Cllr of the calibrated
    scores."""
    measures = {"min_cllr": min_cllr(bonafide, spoof)}
    if calibration is not None:
        bona, spf = calibration(bonafide), calibration(spoof)
        measures.update(act_dcf_calibrated=act_dcf(bona, spf), cllr_calibrated=cllr(bona, spf))
    return measures


__all__ = [
    "DEFAULT_PRIOR",
    "Calibration",
    "bayes_threshold",
    "calibration_measures",
    "fit_calibration",
    "min_cllr",
    "pav_llrs",
    "posterior",
]
