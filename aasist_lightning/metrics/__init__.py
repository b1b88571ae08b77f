"""Anti-spoofing metrics exact to the official ASVspoof scripts: EER, min t-DCF (2019 and 2021), min / act
DCF and Cllr (ASVspoof 5), per-attack EER, DET points, score-file readers, and the per-trial score record with
its writer (``metrics.scores``). DET / histogram plots are in ``metrics.plots`` (imports matplotlib).

Plain functions take score arrays (higher = more bona fide) and return fractions; ``score_report`` reports EER
in percent. Nothing here imports torch.
"""

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
from aasist_lightning.metrics.scores import EvalScores, write_score_file
from aasist_lightning.metrics.tdcf import (
    ASVSPOOF2019,
    ASVSPOOF2021,
    TandemASV,
    TDCFCostModel,
    compute_min_tdcf,
    tdcf_curve,
)

__all__ = [
    "ASVSPOOF2019",
    "ASVSPOOF2021",
    "AsvScores",
    "CMProtocol",
    "EvalScores",
    "ScoreFile",
    "ScoreFileError",
    "TDCFCostModel",
    "TandemASV",
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
    "write_score_file",
]
