"""Normalised minimum tandem detection cost function (min t-DCF), ASVspoof 2019 and 2021 definitions.

The ASV system's operating point is fixed at its own EER threshold; the CM threshold sweeps the CM DET curve
(same points as the official script). ASVspoof 2019 (:data:`ASVSPOOF2019`, AASIST's evaluation) normalises
C1 Pmiss_cm + C2 Pfa_cm by min(C1, C2) (Kinnunen et al., Odyssey 2018); ASVspoof 2021 (:data:`ASVSPOOF2021`,
the revised t-DCF of Kinnunen et al., IEEE/ACM TASLP 2020, as the 2021 evaluation package computes it) adds
the ASV's own cost C0 = Ptar Cmiss Pmiss_asv + Pnon Cfa Pfa_asv to the cost and to its normaliser. C1 and C2
are the same in both, so the two editions rank CM thresholds alike but give different values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike

from aasist_lightning.metrics.eer import as_scores, compute_eer, det_curve
from aasist_lightning.metrics.io import AsvScores, are_hard_decisions


@dataclass(frozen=True)
class TDCFCostModel:
    """Priors and costs of the t-DCF. Priors must sum to one; costs must be non-negative. ``revised``: the
    ASVspoof 2021 normalisation (C0 in the cost and the normaliser) instead of the 2019 one."""

    p_spoof: float
    p_tar: float
    p_non: float
    c_miss_asv: float = 1.0
    c_fa_asv: float = 10.0
    c_miss_cm: float = 1.0
    c_fa_cm: float = 10.0
    revised: bool = False

    def __post_init__(self) -> None:
        priors = (self.p_spoof, self.p_tar, self.p_non)
        if min(priors) < 0 or abs(sum(priors) - 1) > 1e-10:
            raise ValueError(
                f"t-DCF priors p_spoof={self.p_spoof}, p_tar={self.p_tar}, p_non={self.p_non} must be "
                "non-negative and sum to one"
            )
        costs = (self.c_miss_asv, self.c_fa_asv, self.c_miss_cm, self.c_fa_cm)
        if min(costs) < 0:
            raise ValueError(f"t-DCF costs must be non-negative, got {costs}")

    @classmethod
    def from_official(cls, cost_model: Mapping[str, float]) -> TDCFCostModel:
        """From the official scripts' dict (keys Pspoof, Ptar, Pnon, Cmiss_asv, Cfa_asv, Cmiss_cm, Cfa_cm)."""
        keys = ("Pspoof", "Ptar", "Pnon", "Cmiss_asv", "Cfa_asv", "Cmiss_cm", "Cfa_cm")
        missing = [k for k in keys if k not in cost_model]
        if missing:
            raise ValueError(f"t-DCF cost model dict lacks {missing}; it needs the keys {list(keys)}")
        p_spoof, p_tar, p_non, c_miss_asv, c_fa_asv, c_miss_cm, c_fa_cm = (float(cost_model[k]) for k in keys)
        return cls(p_spoof, p_tar, p_non, c_miss_asv, c_fa_asv, c_miss_cm, c_fa_cm)


_P_SPOOF_2019 = 0.05
# ASVspoof 2019 (and AASIST's evaluation.py): the same expressions, so the priors are bit-identical.
ASVSPOOF2019 = TDCFCostModel(
    p_spoof=_P_SPOOF_2019, p_tar=(1 - _P_SPOOF_2019) * 0.99, p_non=(1 - _P_SPOOF_2019) * 0.01
)
# ASVspoof 2021 LA (eval-package/config.py): the same priors and costs, the revised normalisation.
ASVSPOOF2021 = replace(ASVSPOOF2019, revised=True)


@dataclass(frozen=True)
class TandemASV:
    """The organisers' ASV scores of one split, the t-DCF they are used with, and the file(s) they were read
    from (what results name)."""

    scores: AsvScores
    cost_model: TDCFCostModel
    source: str

    @property
    def definition(self) -> str:
        """Which t-DCF its results report: the normalisation of ASVspoof 2019 or 2021."""
        return "ASVspoof 2021" if self.cost_model.revised else "ASVspoof 2019"


def asv_error_rates(
    asv_target: ArrayLike, asv_nontarget: ArrayLike, asv_spoof: ArrayLike, threshold: float
) -> tuple[float, float, float]:
    """ASV false-alarm rate (nontargets accepted), miss rate (targets rejected) and spoof miss rate
    (spoofs rejected) at ``threshold``; a score equal to the threshold is accepted."""
    tar = as_scores(asv_target, "ASV target")
    non = as_scores(asv_nontarget, "ASV nontarget")
    spf = as_scores(asv_spoof, "ASV spoof")
    return (
        np.sum(non >= threshold) / non.size,
        np.sum(tar < threshold) / tar.size,
        np.sum(spf < threshold) / spf.size,
    )


def tdcf_curve(
    bonafide: ArrayLike,
    spoof: ArrayLike,
    asv_target: ArrayLike,
    asv_nontarget: ArrayLike,
    asv_spoof: ArrayLike,
    cost_model: TDCFCostModel | Mapping[str, float] = ASVSPOOF2019,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised t-DCF at every CM DET point, and the CM thresholds, with the ASV at its EER threshold."""
    cm = cost_model if isinstance(cost_model, TDCFCostModel) else TDCFCostModel.from_official(cost_model)
    bona = as_scores(bonafide, "bona fide")
    spf = as_scores(spoof, "spoof")
    both = np.concatenate((bona, spf))
    if are_hard_decisions(both):
        n_distinct = np.unique(both).size
        raise ValueError(
            f"the CM scores take only {n_distinct} distinct value(s): these are hard decisions, not scores; "
            "the t-DCF needs soft scores (e.g. the bona fide logit)"
        )
    c0, c1, c2 = tandem_weights(asv_target, asv_nontarget, asv_spoof, cm)
    pmiss_cm, pfa_cm, thresholds = det_curve(bona, spf)
    if cm.revised:
        return (c0 + c1 * pmiss_cm + c2 * pfa_cm) / (c0 + np.minimum(c1, c2)), thresholds
    return (c1 * pmiss_cm + c2 * pfa_cm) / np.minimum(c1, c2), thresholds


def tandem_weights(
    asv_target: ArrayLike,
    asv_nontarget: ArrayLike,
    asv_spoof: ArrayLike,
    cost_model: TDCFCostModel = ASVSPOOF2019,
) -> tuple[float, float, float]:
    """The t-DCF's weights C0 (the ASV's own cost; 0 for ASVspoof 2019), C1 and C2 with the ASV at its EER
    threshold; ValueError when the ASV scores make them negative or the normalisation undefined."""
    cm = cost_model
    asv_threshold = compute_eer(asv_target, asv_nontarget)[1]
    pfa_asv, pmiss_asv, pmiss_spoof_asv = asv_error_rates(asv_target, asv_nontarget, asv_spoof, asv_threshold)
    c1 = cm.p_tar * (cm.c_miss_cm - cm.c_miss_asv * pmiss_asv) - cm.p_non * cm.c_fa_asv * pfa_asv
    c2 = cm.c_fa_cm * cm.p_spoof * (1 - pmiss_spoof_asv)
    if c1 < 0 or c2 < 0:
        raise ValueError(
            f"t-DCF weights C1={c1:.6g}, C2={c2:.6g} are negative: the ASV error rates (Pfa={pfa_asv:.4g}, "
            f"Pmiss={pmiss_asv:.4g}, Pmiss_spoof={pmiss_spoof_asv:.4g}) make no sense; check the ASV scores"
        )
    c0 = cm.p_tar * cm.c_miss_asv * pmiss_asv + cm.p_non * cm.c_fa_asv * pfa_asv if cm.revised else 0.0
    if c0 + min(c1, c2) <= 0:  # the normaliser: every CM threshold would cost 0/0 or x/0
        why = " (the ASV rejects every spoof trial at its EER threshold)" if c2 == 0 else ""
        raise ValueError(
            f"the t-DCF is undefined: its normaliser {'C0 + ' if cm.revised else ''}min(C1, C2) is 0 with "
            f"C1={c1:.6g}, C2={c2:.6g}{why}; check the ASV scores"
        )
    return float(c0), float(c1), float(c2)


def compute_min_tdcf(
    bonafide: ArrayLike,
    spoof: ArrayLike,
    asv_target: ArrayLike,
    asv_nontarget: ArrayLike,
    asv_spoof: ArrayLike,
    cost_model: TDCFCostModel | Mapping[str, float] = ASVSPOOF2019,
) -> float:
    """Normalised minimum t-DCF of CM scores (higher = bona fide) in tandem with the ASV (the edition of
    ``cost_model``: ASVspoof 2019 by default)."""
    curve, _ = tdcf_curve(bonafide, spoof, asv_target, asv_nontarget, asv_spoof, cost_model)
    return float(np.min(curve))
