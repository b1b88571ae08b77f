"""All CM measures of one set of scored trials in one dict (the evaluator's JSON and the test-epoch logs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from aasist_lightning.metrics.dcf import act_dcf, cllr, min_dcf
from aasist_lightning.metrics.eer import as_scores, compute_eer, per_attack_eer
from aasist_lightning.metrics.io import AsvScores
from aasist_lightning.metrics.tdcf import ASVSPOOF2019, TDCFCostModel, compute_min_tdcf


def score_report(
    scores: ArrayLike,
    labels: ArrayLike,
    attacks: Sequence[str],
    asv: AsvScores | None = None,
    cost_model: TDCFCostModel = ASVSPOOF2019,
) -> dict[str, Any]:
    """Pooled EER (percent) and its threshold, min t-DCF (None without ``asv``), min / act DCF, Cllr (bits),
    per-attack EER (attack -> percent) and the class counts.

    ``labels``: 1 bona fide, 0 spoof; ``attacks[i]`` names trial i's attack (ignored for bona fide trials).
    min DCF / act DCF / Cllr follow ASVspoof 5 and read the scores as LLRs: act DCF and Cllr are only
    meaningful for calibrated scores.
    """
    score_arr = as_scores(scores, "CM")
    label_arr = np.asarray(labels).reshape(-1)
    attack_arr = np.asarray(attacks, dtype=str).reshape(-1)
    if not score_arr.size == label_arr.size == attack_arr.size:
        raise ValueError(
            f"{score_arr.size} scores, {label_arr.size} labels and {attack_arr.size} attacks: "
            "need one of each per trial"
        )
    if not np.isin(label_arr, (0, 1)).all():
        raise ValueError(
            f"labels must be 1 (bona fide) or 0 (spoof), got values {np.unique(label_arr).tolist()}"
        )
    is_bona = label_arr == 1
    bona, spoof = score_arr[is_bona], score_arr[~is_bona]
    eer, threshold = compute_eer(bona, spoof)
    min_tdcf = (
        None
        if asv is None
        else compute_min_tdcf(bona, spoof, asv.target, asv.nontarget, asv.spoof, cost_model=cost_model)
    )
    return {
        "eer": 100.0 * eer,
        "eer_threshold": threshold,
        "min_tdcf": min_tdcf,
        "min_dcf": min_dcf(bona, spoof),
        "act_dcf": act_dcf(bona, spoof),
        "cllr": cllr(bona, spoof),
        "per_attack_eer": {
            attack: 100.0 * value
            for attack, value in per_attack_eer(bona, spoof, attack_arr[~is_bona]).items()
        },
        "n_bonafide": int(bona.size),
        "n_spoof": int(spoof.size),
    }
