"""Score-file evaluator: ``aasist-score SCORES [--protocol P] [--asv-scores A] [--json OUT] [--det-plot P]``.

Prints pooled EER, min t-DCF (ASVspoof 2019, or 2021 with the 2021 LA keys' ASV scores), min DCF / act DCF
/ Cllr (ASVspoof 5) and the per-attack EER of a CM score file, exactly as the official scripts compute them,
and min Cllr (the Cllr of the best monotonic calibration). ``--calibrate-with DEV`` fits an affine LLR
calibration on a labelled dev score file (never on the evaluated one) and also reports act DCF and Cllr of
the calibrated scores; ``--calibrated-out FILE`` writes them as an AASIST score file. User errors (missing or
malformed files, scores that cannot be evaluated, an output that is an input or cannot be written) end with a
one-line message and exit status 2.
The outputs (--json, --det-plot, --hist-plot, --calibrated-out) are checked before any work and written
together: when one fails (e.g. a full disk), none replaces an earlier file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aasist_lightning.cli.arguments import ToolParser, run_tool
from aasist_lightning.data.corpora import (
    SUBSET_NAMES_2021,
    asvspoof2021_asv_metadata,
    read_asvspoof2021_asv_scores,
    read_asvspoof2021_keys,
)
from aasist_lightning.files import OutputPathError, atomic_outputs, atomic_write_json, check_input, same_path
from aasist_lightning.metrics import (
    ASVSPOOF2019,
    ASVSPOOF2021,
    ScoreFile,
    act_dcf_threshold,
    read_asv_scores,
    read_cm_protocol,
    read_score_file,
    score_report,
)
from aasist_lightning.metrics.calibration import Calibration, calibration_measures, fit_calibration
from aasist_lightning.metrics.io import ScoreFileError, check_cm_scores, join_protocol
from aasist_lightning.metrics.scores import EvalScores, write_score_file
from aasist_lightning.metrics.tdcf import TandemASV, tandem_weights

PROG = "aasist-score"
NO_ASV_NOTE = (
    "not computed: the t-DCF needs the organisers' ASV scores of the same partition "
    "(--asv-scores .../ASVspoof2019.LA.asv.eval.gi.trl.scores.txt)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = ToolParser(
        prog=PROG,
        description=(
            "Evaluate a CM score file (higher score = more bona fide) with the official ASVspoof measures. "
            "Formats, detected from the first line: 'utt_id attack key score' (AASIST), "
            "'speaker utt_id - attack key score' (ASVspoof 2019 baselines), "
            "'utt_id score' (needs --protocol)."
        ),
    )
    parser.add_argument("scores", type=Path, help="CM score file")
    parser.add_argument(
        "--protocol",
        type=Path,
        help="CM protocol / key file (e.g. ASVspoof2019.LA.cm.eval.trl.txt) giving labels and attacks; "
        "required for two-column score files, cross-checked otherwise",
    )
    parser.add_argument(
        "--asv-scores",
        type=Path,
        help="organisers' ASV scores for min t-DCF: ASVspoof 2019 ('attack key score', e.g. "
        "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt; 2019 t-DCF) or the ASVspoof 2021 LA keys' "
        "keys/LA/ASV/ASVTorch_Kaldi/score.txt ('speaker trial score', keyed by "
        "keys/LA/ASV/trial_metadata.txt; 2021 t-DCF)",
    )
    parser.add_argument(
        "--subsets",
        nargs="+",
        choices=[*SUBSET_NAMES_2021, "all"],
        metavar="SUBSET",
        help="with the ASVspoof 2021 LA keys' ASV scores: the phase, as in the 2021 evaluation package "
        "(eval (default), progress, hidden_track, or all): only the CM and ASV trials of these subsets count",
    )
    parser.add_argument(
        "--calibrate-with",
        type=Path,
        metavar="DEV_SCORES",
        help="fit an affine LLR calibration (prior-weighted logistic regression) on this labelled dev score "
        "file (same score as SCORES, from the same model) and also report the calibrated act DCF and Cllr",
    )
    parser.add_argument(
        "--calibrated-out",
        type=Path,
        metavar="FILE",
        help="with --calibrate-with: write the calibrated scores (LLRs) as an AASIST score file "
        "'utt_id attack key llr'",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON to OUT")
    parser.add_argument("--det-plot", type=Path, metavar="PNG", help="save a DET curve (probit axes) as PNG")
    parser.add_argument(
        "--hist-plot", type=Path, metavar="PNG", help="save per-class score histograms as PNG"
    )
    parser.add_argument("--title", help="title of the plots (default: the score file's name)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing (use with --json)")
    return parser


def load_scores(scores: Path, protocol: Path | None) -> ScoreFile:
    """The score file with labels and attacks (from the protocol if given), checked for evaluability."""
    score_file = read_score_file(scores)
    if protocol is not None:
        score_file = join_protocol(score_file, read_cm_protocol(protocol))
    elif score_file.labels is None:
        raise ScoreFileError(f"{scores} has two columns (utt_id score): give --protocol to supply the labels")
    check_cm_scores(score_file.scores, score_file.labels, scores)
    return score_file


def fit_on_dev(dev: Path) -> Calibration:
    """The calibration fitted on a labelled dev score file (both classes, soft scores)."""
    dev_file = read_score_file(check_input(dev, "--calibrate-with score file"))  # names the option
    if dev_file.labels is None:
        raise ScoreFileError(
            f"--calibrate-with {dev}: a two-column file (utt_id score) has no labels to fit a calibration "
            "on; give a dev score file with keys ('utt_id attack key score', as aasist-eval writes)"
        )
    check_cm_scores(dev_file.scores, dev_file.labels, f"--calibrate-with {dev}")
    return fit_calibration(dev_file.scores[dev_file.labels == 1], dev_file.scores[dev_file.labels == 0])


def _span(attacks: set[str] | frozenset[str]) -> str:
    low, high = min(attacks), max(attacks)
    return low if low == high else f"{low}–{high}"


def evaluate(args: argparse.Namespace) -> tuple[dict[str, Any], ScoreFile, Calibration | None]:
    """The JSON-ready report of the parsed arguments, the labelled scores it was computed from, and the
    calibration fitted with --calibrate-with (or None)."""
    score_file = load_scores(args.scores, args.protocol)
    calibration = fit_on_dev(args.calibrate_with) if args.calibrate_with is not None else None
    tandem = read_tandem(args.asv_scores, args.subsets) if args.asv_scores is not None else None
    revised = tandem is not None and tandem.cost_model.revised
    phase, left_out = _subsets(args.subsets), 0
    if revised:
        score_file, left_out = in_phase(score_file, args.asv_scores, phase)
    asv, cost_model = (None, ASVSPOOF2019) if tandem is None else (tandem.scores, tandem.cost_model)
    cm_attacks = set(score_file.attacks or ()) - {"-", "bonafide"}
    if asv is not None and asv.spoof_attacks and cm_attacks and not cm_attacks & asv.spoof_attacks:
        raise ScoreFileError(
            f"{args.asv_scores} holds the ASV scores of attacks {_span(asv.spoof_attacks)}, {args.scores} "
            f"scores attacks {_span(cm_attacks)}: they are of different partitions (dev / eval). Fix: give "
            "the ASV scores of the scores' partition (e.g. ...eval.gi.trl.scores.txt for eval scores)"
        )
    report = score_report(score_file.scores, score_file.labels, score_file.attacks, asv, cost_model)
    report.update({"act_dcf_calibrated": None, "cllr_calibrated": None})
    labels = score_file.labels
    report.update(
        calibration_measures(calibration, score_file.scores[labels == 1], score_file.scores[labels == 0])
    )
    report["calibration"] = (
        None if calibration is None else {**calibration.as_dict(), "fitted_on": str(args.calibrate_with)}
    )
    report["min_tdcf_note"] = None if asv is not None else NO_ASV_NOTE
    report["score_file"] = str(args.scores)
    report["score_format"] = score_file.format
    report["protocol"] = None if args.protocol is None else str(args.protocol)
    report["asv_scores"] = None if tandem is None else tandem.source
    report["min_tdcf_definition"] = None if tandem is None else tandem.definition
    report["subsets"] = (phase or ["all"]) if revised else None
    report["trials_left_out"] = left_out if revised else None
    return report, score_file, calibration


def read_tandem(path: Path, subsets: Sequence[str] | None) -> TandemASV:
    """The ASV scores of ``path`` with the t-DCF of their challenge: an ASVspoof 2019 ASV score file ('attack
    key score'), or an ASVspoof 2021 LA keys' ASV score file ('speaker trial score', keyed by the trial
    metadata of its keys package) restricted to ``subsets`` (default: eval)."""
    if not _is_2021_asv_file(path):
        if subsets is not None:
            raise ScoreFileError(
                f"--subsets applies to the ASVspoof 2021 LA keys' ASV scores; {path} is an ASVspoof 2019 "
                "ASV score file ('attack key score'). Fix: drop --subsets"
            )
        return _checked_tandem(TandemASV(read_asv_scores(path), ASVSPOOF2019, str(path)), path)
    metadata = asvspoof2021_asv_metadata(path)
    if not metadata.is_file():
        raise ScoreFileError(
            f"{path} holds ASVspoof 2021 ASV scores ('speaker trial score'), whose keys are in {metadata}, "
            "which does not exist. Fix: give the score file inside the keys package "
            "(keys/LA/ASV/ASVTorch_Kaldi/score.txt)"
        )
    scores = read_asvspoof2021_asv_scores(path, metadata, _subsets(subsets))
    tandem = TandemASV(scores, ASVSPOOF2021, f"{metadata} + {path}")  # as eval.py names them
    return _checked_tandem(tandem, path)


def _checked_tandem(tandem: TandemASV, path: Path) -> TandemASV:
    """``tandem`` unless its ASV scores leave the t-DCF undefined (e.g. every spoof rejected: C2 = 0), which
    would be a NaN min t-DCF; the message names the ASV file."""
    asv = tandem.scores
    try:
        tandem_weights(asv.target, asv.nontarget, asv.spoof, tandem.cost_model)
    except ValueError as error:
        raise ScoreFileError(f"--asv-scores {path}: {error}") from None
    return tandem


def in_phase(score_file: ScoreFile, asv_scores: Path, subsets: list[str] | None) -> tuple[ScoreFile, int]:
    """The trials of ``score_file`` in the ASVspoof 2021 LA ``subsets`` (None = all), by the CM keys of the
    keys package ``asv_scores`` lies in, as the 2021 evaluation package scores a phase; and how many of its
    trials were left out."""
    cm_keys = asvspoof2021_cm_keys(asv_scores)
    if not cm_keys.is_file():
        raise ScoreFileError(
            f"{cm_keys} does not exist: the ASVspoof 2021 t-DCF counts the CM trials of the chosen subsets, "
            "which the CM keys name. Fix: give the ASV scores inside the full keys package (LA-keys-full)"
        )
    wanted = {trial.utt_id for trial in read_asvspoof2021_keys(cm_keys, "LA", subsets).trials}
    keep = [i for i, utt_id in enumerate(score_file.utt_ids) if utt_id in wanted]
    if not keep:
        raise ScoreFileError(
            f"none of the {len(score_file.utt_ids)} trials of {score_file.path} is in ASVspoof 2021 LA "
            f"subset(s) {subsets or 'all'} of {cm_keys}. Fix: --subsets with the subsets it scores"
        )
    labels, attacks = score_file.labels, score_file.attacks
    assert labels is not None and attacks is not None  # load_scores labelled them
    kept = replace(
        score_file,
        utt_ids=[score_file.utt_ids[i] for i in keep],
        scores=score_file.scores[keep],
        labels=labels[keep],
        attacks=[attacks[i] for i in keep],
    )
    check_cm_scores(kept.scores, kept.labels, f"{score_file.path} (subsets {subsets or 'all'})")
    return kept, len(score_file.utt_ids) - len(keep)


def asvspoof2021_cm_keys(asv_scores: Path) -> Path:
    """The CM keys of the ASVspoof 2021 LA keys package an ASV score file lies in (keys/LA/CM/...)."""
    return asvspoof2021_asv_metadata(asv_scores).parent.parent / "CM" / "trial_metadata.txt"


def key_files(asv_scores: Path | None) -> list[Path]:
    """The keys an ASVspoof 2021 LA ASV score file is read with (inputs: no output may replace them)."""
    if asv_scores is None or not _is_2021_asv_file(asv_scores):
        return []
    return [asvspoof2021_asv_metadata(asv_scores), asvspoof2021_cm_keys(asv_scores)]


def _is_2021_asv_file(path: Path) -> bool:
    """Whether ``path``'s first line reads 'speaker trial score' with an ASVspoof 2021 LA trial (LA_E_...),
    as the 2021 keys' ASV scores do; False for anything else (read_asv_scores then reads it as a 2019 file
    'attack key score' or names what is wrong)."""
    try:
        with path.open(encoding="utf-8-sig") as lines:
            first = next((line.split() for line in lines if line.strip()), [])
    except (OSError, UnicodeDecodeError):
        return False
    return len(first) == 3 and first[1].startswith("LA_E_")


def _subsets(subsets: Sequence[str] | None) -> list[str] | None:
    """--subsets as the 2021 readers take them: eval by default, None for all."""
    chosen = list(subsets or ["eval"])
    return None if "all" in chosen else chosen


def print_report(report: dict[str, Any], attack_counts: dict[str, int], console: Console) -> None:
    console.print(
        f"[bold]{escape(report['score_file'])}[/] ({report['score_format']} format): "
        f"{report['n_bonafide']} bona fide, {report['n_spoof']} spoof trials",
        soft_wrap=True,
    )
    if report.get("trials_left_out"):
        console.print(
            f"ASVspoof 2021 LA subset(s) {', '.join(report['subsets'])}: {report['trials_left_out']} "
            "trials of other subsets left out, as the 2021 evaluation package scores a phase",
            soft_wrap=True,
        )
    pooled = Table(title="Pooled CM results", title_justify="left")
    pooled.add_column("measure")
    pooled.add_column("value", justify="right")
    pooled.add_column("definition")
    pooled.add_row("EER", f"{report['eer']:.3f} %", f"ASVspoof 2019; threshold {report['eer_threshold']:.6g}")
    if report["min_tdcf"] is None:
        pooled.add_row("min t-DCF", "-", report["min_tdcf_note"])
    else:
        revised = report.get("min_tdcf_definition") == "ASVspoof 2021"
        definition = "ASVspoof 2021 (revised, with the ASV's cost)" if revised else "ASVspoof 2019 normalised"
        pooled.add_row("min t-DCF", f"{report['min_tdcf']:.5f}", f"{definition}, ASV at its EER point")
    pooled.add_row("min DCF", f"{report['min_dcf']:.5f}", "ASVspoof 5 (Pspoof 0.05, Cmiss 1, Cfa 10)")
    pooled.add_row(
        "act DCF", f"{report['act_dcf']:.5f}", f"at threshold {act_dcf_threshold():.4f}; scores as LLRs"
    )
    pooled.add_row("Cllr", f"{report['cllr']:.5f} bits", "scores as natural-log LLRs")
    if report.get("min_cllr") is not None:
        pooled.add_row("min Cllr", f"{report['min_cllr']:.5f} bits", "after the best monotonic calibration")
    if report.get("cllr_calibrated") is not None:  # also eval.py's, with a checkpoint's calibration
        fitted_on = (report.get("calibration") or {}).get("fitted_on", "the checkpoint's dev set")
        where = escape(f"calibration fitted on {fitted_on}")
        pooled.add_row("act DCF calibrated", f"{report['act_dcf_calibrated']:.5f}", where)
        pooled.add_row("Cllr calibrated", f"{report['cllr_calibrated']:.5f} bits", where)
    console.print(pooled)
    if report["per_attack_eer"]:
        per_attack = Table(title="EER per attack (vs all bona fide)", title_justify="left")
        per_attack.add_column("attack")
        per_attack.add_column("spoof trials", justify="right")
        per_attack.add_column("EER", justify="right")
        for attack, eer in report["per_attack_eer"].items():
            per_attack.add_row(escape(attack), str(attack_counts[attack]), f"{eer:.3f} %")  # not markup
        console.print(per_attack)


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the outputs (all or none), print the report; returns the exit status."""
    inputs = [p for p in (args.scores, args.protocol, args.asv_scores, args.calibrate_with) if p is not None]
    inputs += key_files(args.asv_scores)
    written = [args.json, args.det_plot, args.hist_plot, args.calibrated_out]
    # Checked before any work; none may replace an input, and all are committed together.
    with atomic_outputs(written, inputs) as outputs:
        for option, plot in (("--det-plot", args.det_plot), ("--hist-plot", args.hist_plot)):
            if plot is not None and plot.suffix.lower() != ".png":  # the plots are written as PNG only
                raise OutputPathError(
                    f"{option} {plot}: the plot is a PNG image; give a file name ending in .png"
                )
        report, score_file, calibration = evaluate(args)
        if args.json is not None:
            with outputs.write(args.json) as tmp:
                atomic_write_json(tmp, report)
        if args.calibrated_out is not None and calibration is not None:
            with outputs.write(args.calibrated_out) as tmp:
                write_score_file(tmp, _calibrated_rows(score_file, calibration))
        bona = score_file.scores[score_file.labels == 1]
        spoof = score_file.scores[score_file.labels == 0]
        title = args.title or args.scores.name
        if args.det_plot is not None or args.hist_plot is not None:
            from aasist_lightning.metrics.plots import (  # matplotlib only when asked
                plot_det,
                plot_score_histogram,
            )

            if args.det_plot is not None:
                with outputs.write(args.det_plot) as tmp:
                    plot_det(bona, spoof, tmp, title=title)
            if args.hist_plot is not None:
                with outputs.write(args.hist_plot) as tmp:
                    plot_score_histogram(bona, spoof, tmp, title=title)
    if not args.quiet:
        spoof_attacks = np.asarray(score_file.attacks)[score_file.labels == 0]
        names, counts = np.unique(spoof_attacks, return_counts=True)
        print_report(report, dict(zip(names.tolist(), counts.tolist(), strict=True)), Console())
    return 0


def _calibrated_rows(score_file: ScoreFile, calibration: Calibration) -> EvalScores:
    assert score_file.labels is not None and score_file.attacks is not None  # load_scores labelled them
    return EvalScores(
        utt_ids=list(score_file.utt_ids),
        attacks=list(score_file.attacks),
        labels=score_file.labels.tolist(),
        scores=calibration(score_file.scores).tolist(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.calibrated_out is not None and args.calibrate_with is None:
        parser.error("--calibrated-out needs --calibrate-with DEV_SCORES (the dev scores to fit the map on)")
    if args.calibrate_with is not None and same_path(args.calibrate_with, args.scores):
        parser.error(
            f"--calibrate-with {args.calibrate_with} is the evaluated score file: fit the calibration on the "
            "dev scores of the same model, never on the scores it is judged on"
        )
    if args.subsets is not None and args.asv_scores is None:
        parser.error(
            "--subsets picks the ASVspoof 2021 phase of the t-DCF: give it with the keys' ASV scores "
            "(--asv-scores .../keys/LA/ASV/ASVTorch_Kaldi/score.txt)"
        )
    # The measures raise ValueError for scores they cannot evaluate (e.g. an ASV file giving negative t-DCF
    # weights); the message says why.
    return run_tool(PROG, args, run, also=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
