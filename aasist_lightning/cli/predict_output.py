"""``aasist-predict``'s decisions (--threshold, calibrated LLR, posterior) and its CSV / JSON output."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from dataclasses import dataclass

from aasist_lightning.metrics.calibration import Calibration, bayes_threshold, posterior
from aasist_lightning.runtime.audio_files import FileError, FileScore
from aasist_lightning.runtime.options import InferenceError
from aasist_lightning.runtime.scorer import Scorer

DEV_EER = "dev-eer"
BAYES = "bayes"
CSV_COLUMNS = ("path", "score", "prob_bonafide", "decision", "duration_s", "llr", "posterior_bonafide")


def threshold_arg(text: str) -> float | str:
    """--threshold: a finite number, 'bayes' or 'dev-eer' (resolved once the model is loaded)."""
    rule = text.strip().lower().replace("_", "-")
    if rule in (BAYES, DEV_EER):
        return rule
    try:
        threshold = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number, '{BAYES}' or '{DEV_EER}'") from None
    if not math.isfinite(threshold):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number (or '{BAYES}' or '{DEV_EER}')")
    return threshold


@dataclass(frozen=True)
class Decisions:
    """What the output says of a score: the decision at ``threshold`` (on the calibrated LLR when
    ``on_llr``, else on the score; ``rule`` says what chose it) and, with a calibration, the calibrated LLR
    and the posterior of bona fide at ``prior``."""

    threshold: float
    on_llr: bool
    rule: str
    calibration: Calibration | None
    prior: float

    def decision(self, score: float) -> str:
        value = self.llr(score) if self.on_llr else score
        return "bonafide" if value is not None and value >= self.threshold else "spoof"

    @property
    def score_threshold(self) -> float | None:
        """The threshold on the score; None where a calibration reverses the scores (scale <= 0): there an
        LLR threshold is no score threshold."""
        if not self.on_llr:
            return self.threshold
        assert self.calibration is not None  # on_llr needs one
        if self.calibration.scale <= 0:
            return None
        return (self.threshold - self.calibration.offset) / self.calibration.scale

    def llr(self, score: float) -> float | None:
        return None if self.calibration is None else float(self.calibration([score])[0])

    def posterior(self, score: float) -> float | None:
        llr = self.llr(score)
        return None if llr is None else float(posterior([llr], self.prior)[0])


def decisions(value: float | str, prior: float, scorer: Scorer, source: str) -> Decisions:
    calibration = scorer.calibration
    if value == DEV_EER:
        return Decisions(_dev_eer_threshold(scorer, source), False, DEV_EER, calibration, prior)
    if value != BAYES:
        return Decisions(float(value), False, "fixed", calibration, prior)
    if calibration is None:
        rule = f"{BAYES} (no calibration: the score read as an LLR)"
        return Decisions(bayes_threshold(prior), False, rule, None, prior)
    return Decisions(bayes_threshold(prior), True, BAYES, calibration, prior)


def _dev_eer_threshold(scorer: Scorer, source: str) -> float:
    """The dev-EER threshold stored with the model."""
    threshold = scorer.threshold
    if threshold is None:
        if source.startswith("weights "):
            raise InferenceError(
                f"--threshold dev-eer: {source[len('weights ') :]} are pretrained weights and carry no "
                "dev-EER threshold (only checkpoints of a training run store one): pass a number, e.g. "
                "--threshold 0"
            )
        raise InferenceError(
            f"--threshold dev-eer: {source} stores no dev-EER threshold (was it trained without a "
            "validation epoch?): pass a number, e.g. --threshold 0"
        )
    return threshold


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def csv_text(results: list[FileScore], decide: Decisions) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in results:
        writer.writerow(
            [
                str(r.path),
                f"{r.score:.6f}",
                f"{r.prob_bonafide:.6f}",
                decide.decision(r.score),
                f"{r.duration_s:.6f}",
                _cell(decide.llr(r.score)),
                _cell(decide.posterior(r.score)),
            ]
        )
    return buf.getvalue()


def json_text(
    results: list[FileScore],
    failed: list[FileError],
    decide: Decisions,
    args: argparse.Namespace,
    model: str,
    nb_samp: int,
) -> str:
    doc = {
        "model": model,
        "threshold": decide.score_threshold,  # on the score, whatever the rule
        "llr_threshold": decide.threshold if decide.on_llr else None,
        "threshold_rule": decide.rule,
        "prior": decide.prior,
        "calibration": None if decide.calibration is None else decide.calibration.as_dict(),
        "mode": args.mode,
        "nb_samp": nb_samp,
        "hop": args.hop or nb_samp,
        "aggregate": args.aggregate,
        "results": [
            {
                "path": str(r.path),
                "score": r.score,
                "prob_bonafide": r.prob_bonafide,
                "decision": decide.decision(r.score),
                "duration_s": round(r.duration_s, 6),
                "llr": decide.llr(r.score),
                "posterior_bonafide": decide.posterior(r.score),
                "windows": r.n_windows,
                "window_scores": r.window_scores,
            }
            for r in results
        ],
        "failed": [{"path": str(f.path), "error": f.error} for f in failed],
    }
    return json.dumps(doc, indent=2) + "\n"
