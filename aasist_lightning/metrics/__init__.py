"""Anti-spoofing metrics exact to the official ASVspoof scripts: EER, min t-DCF (2019), min / act DCF and
Cllr (ASVspoof 5), per-attack EER, DET points, a streaming torchmetrics EER, and score-file readers.

Plain functions take score arrays (higher = more bona fide) and return fractions; ``score_report`` and
``EERMetric`` report EER in percent. ``EERMetric`` is imported lazily so that scoring does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aasist_lightning.metrics.dcf import act_dcf, act_dcf_threshold, cllr, min_dcf
from aasist_lightning.metrics.eer import compute_eer, det_curve, per_attack_eer
from aasist_lightning.metrics.io import (
    AsvScores,
    CMProtocol,
    ScoreFile,
    ScoreFileError,
    read_asv_scores,
    read_cm_protocol,
    read_score_file,
)
from aasist_lightning.metrics.report import score_report
from aasist_lightning.metrics.tdcf import ASVSPOOF2019, TDCFCostModel, compute_min_tdcf, tdcf_curve

if TYPE_CHECKING:
    from aasist_lightning.metrics.streaming import EERMetric

__all__ = [
    "ASVSPOOF2019",
    "AsvScores",
    "CMProtocol",
    "EERMetric",
    "ScoreFile",
    "ScoreFileError",
    "TDCFCostModel",
    "act_dcf",
    "act_dcf_threshold",
    "cllr",
    "compute_eer",
    "compute_min_tdcf",
    "det_curve",
    "min_dcf",
    "per_attack_eer",
    "read_asv_scores",
    "read_cm_protocol",
    "read_score_file",
    "score_report",
    "tdcf_curve",
]


def __getattr__(name: str) -> Any:
    if name == "EERMetric":
        from aasist_lightning.metrics.streaming import EERMetric

        return EERMetric
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
