"""``aasist-predict``'s decisions (--threshold, calibrated LLR, posterior), its CSV / JSON output, and where
its outputs (-o, --explain) may go."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aasist_lightning.files import OutputPathError, folder_problem, is_within, same_path
from aasist_lightning.metrics.calibration import Calibration, bayes_threshold, posterior
from aasist_lightning.runtime.audio_files import AUDIO_EXTENSIONS, FileError, FileScore
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


# ------------------------------------------------------------------------------------ where outputs go
def _outside_input_folders(option: str, path: Path, inputs: Sequence[str]) -> None:
    """Nothing is written into a folder given as input: the user's data, which the package only reads."""
    for folder in (Path(i).expanduser() for i in inputs):
        if folder.is_dir() and is_within(path, folder):
            raise OutputPathError(
                f"{option} {path} lies inside the input folder {folder}: nothing is written into a data "
                "folder. Fix: give a path outside it"
            )


def check_output_file(output: str | None, inputs: Sequence[str], found: Sequence[Path]) -> None:
    """-o, checked before any work: not an audio file name (the scores are text; a file of that name would be
    replaced, and a later run over its folder would read the scores as audio), not in an input folder.
    (``found``: the audio files; one of them as -o is refused as an input, with the other outputs.)"""
    if output is None:
        return
    path = Path(output)
    if path.suffix.lower() in AUDIO_EXTENSIONS and not any(same_path(path, audio) for audio in found):
        raise OutputPathError(
            f"-o {output}: an audio file name, but the output is CSV or JSON text. Fix: e.g. -o scores.csv"
        )
    _outside_input_folders("-o", path, inputs)


def explain_folder(
    value: str | None, output: str | None, inputs: Sequence[str], found: Sequence[Path]
) -> Path | None:
    """The --explain folder, checked before any work: a folder, or a path where one can be made; neither the
    -o output nor inside it, holding no input (``inputs`` as given, ``found`` the audio files), and no -o
    PNG in it that a picture could replace."""
    if value is None:
        return None
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise OutputPathError(
            f"--explain {path} is a file: give a folder for the attention-map PNGs (it is made if missing)"
        )
    if output is not None and is_within(path, Path(output)):
        how = "is also" if same_path(path, output) else "lies inside"
        raise OutputPathError(
            f"--explain {path} {how} the -o output {output}: give the PNGs a folder of their own"
        )
    if output is not None and Path(output).suffix.lower() == ".png" and same_path(Path(output).parent, path):
        raise OutputPathError(
            f"-o {output} is in --explain {path}, among the attention-map PNGs: name it otherwise"
        )
    folders: dict[Path, Path] = {}  # the folders of the audio files, each with its first file
    for audio in found:
        folders.setdefault(audio.parent, audio)
    named = [(Path(i).expanduser(),) * 2 for i in inputs]
    for where, source in (*named, *folders.items()):
        if is_within(where, path):
            what = "is also the input" if same_path(source, path) else "holds the input"
            raise OutputPathError(
                f"--explain {path} {what} {source}: give the attention-map PNGs a folder outside the inputs"
            )
    _outside_input_folders("--explain", path, inputs)
    problem = folder_problem(path)
    if problem:
        raise OutputPathError(f"--explain {path}: {problem}")
    return path
