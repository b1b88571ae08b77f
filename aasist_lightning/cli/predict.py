"""``aasist-predict`` / ``python -m aasist_lightning.cli.predict``: score audio files or folders for spoofing.

    aasist-predict speech.wav recordings/ -o scores.csv                # official AASIST-L weights
    aasist-predict --ckpt outputs/train/runs/<time>/checkpoints/best.ckpt --threshold dev-eer clips/
    aasist-predict --onnx aasist_l.onnx clips/ --format json -o scores.json
    aasist-predict --explain attention/ speech.wav                     # + one attention-map PNG per file

Output (CSV, or JSON with ``--format json``):
``path,score,prob_bonafide,decision,duration_s,llr,posterior_bonafide``. ``score`` is
``logit_bonafide - logit_spoof`` (> 0: the model prefers bona fide), ``prob_bonafide = sigmoid(score)`` (the
network's softmax, not a calibrated probability), ``decision`` is ``bonafide`` when ``score >= threshold``.
``llr`` is the score calibrated with the map the training run fitted on its dev set (a natural-log likelihood
ratio) and ``posterior_bonafide`` the probability of bona fide at ``--prior``; both are empty for a model
without a calibration (official weights, a ``.pth``), which is said on stderr. The threshold
(``--threshold``): ``bayes`` (default) decides bona fide when ``llr >= -logit(prior)``, i.e.
``posterior_bonafide >= 0.5``, the least costly decision at that prior (without a calibration the score is
read as an uncalibrated LLR: at the default prior 0.5 that is ``score >= 0``); ``dev-eer`` uses the dev-EER
threshold the training run stored (equal miss and false-alarm rates on dev, whatever the prior); a number is
a threshold on ``score``. The JSON output states the threshold on ``score`` whatever the rule.
Files are read with soundfile (any format / rate / channel count; resampled to 16 kHz, channels averaged).
How long clips are scored: see :mod:`aasist_lightning.runtime.scorer`.
Exit status: 0 all files scored; 1 some files could not be read (each named
on stderr, the others still written); 2 nothing to score or bad input (a usage error, an unusable model
file, an output that is an input or cannot be written), in one line (``--debug``: the full traceback). The
outputs (``-o`` and the ``--explain`` PNGs) are checked before any work and replace earlier files only
together, once every one was written.

The ONNX path (``--onnx``) needs NumPy, soundfile, soxr and onnxruntime only: neither torch nor Lightning is
imported for it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aasist_lightning.cli.arguments import ToolParser, number, run_tool
from aasist_lightning.cli.predict_output import (
    BAYES,
    CSV_COLUMNS,
    check_output_file,
    csv_text,
    decisions,
    explain_folder,
    json_text,
    threshold_arg,
)
from aasist_lightning.console import progress_bar
from aasist_lightning.files import (
    Outputs,
    atomic_outputs,
)
from aasist_lightning.metrics.calibration import DEFAULT_PRIOR
from aasist_lightning.runtime.allocator import ALLOCATOR_MODES, allocator
from aasist_lightning.runtime.audio_files import FileError, FileScore, find_audio, score_files
from aasist_lightning.runtime.hardware import resolve_device
from aasist_lightning.runtime.options import AGGREGATES, BACKENDS, MODES, PRECISIONS, InferenceError
from aasist_lightning.runtime.scorer import Scorer, load_detector

PROG = "aasist-predict"
EXIT_OK, EXIT_SOME_FAILED, EXIT_ERROR = 0, 1, 2
DEFAULT_PRETRAINED = "AASIST-L"


def _parser() -> argparse.ArgumentParser:
    p = ToolParser(
        prog=PROG,
        description="Score audio files (or folders, recursively) with AASIST: bona fide speech vs spoof.",
        epilog="Exit status: 0 ok, 1 some files unreadable (named on stderr), 2 error / nothing to score.",
    )
    p.add_argument("inputs", nargs="+", help="audio files and/or folders (searched recursively)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--ckpt", help="checkpoint of a training run (.ckpt), or a .pth state_dict")
    src.add_argument(
        "--pretrained",
        help=f"official weights: AASIST-L or AASIST, or a .pth path (default: {DEFAULT_PRETRAINED})",
    )
    src.add_argument("--onnx", help="an ONNX model written by aasist-export (runs without PyTorch)")
    src.add_argument("--program", help="a torch.export program (.pt2) written by aasist-export --program")
    p.add_argument("-o", "--output", help="output file (written atomically); default (or -): standard output")
    p.add_argument(
        "--format", choices=("csv", "json"), help="output format (default: from the output suffix, else csv)"
    )
    p.add_argument(
        "--threshold",
        type=threshold_arg,
        default=BAYES,
        help="'bayes': the least costly decision at --prior, calibrated LLR >= -logit(prior) (a model "
        "without a calibration: score >= -logit(prior), i.e. 0 at prior 0.5); 'dev-eer': the dev-EER "
        "threshold stored by the training run of --ckpt (or of the checkpoint an --onnx model was "
        "exported from); or a number: a threshold on the score (default: bayes)",
    )
    p.add_argument(
        "--prior",
        type=number(float, 0, 1, exclusive=True),
        default=DEFAULT_PRIOR,
        help="prior probability of bona fide for posterior_bonafide and --threshold bayes, 0 < p < 1 "
        f"(default: {DEFAULT_PRIOR:g})",
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        default="windows",
        help="windows: score clips longer than nb_samp (4.04 s) over windows and aggregate (default); "
        "official: only the first nb_samp samples, exactly as the official evaluation",
    )
    p.add_argument(
        "--hop",
        type=number(int, 1),
        default=None,
        help="window hop in samples, 1..nb_samp (default: nb_samp = back-to-back windows; a last window "
        "always ends at the clip's end)",
    )
    p.add_argument(
        "--aggregate", choices=AGGREGATES, default="mean", help="window logits: mean, or min score"
    )
    p.add_argument(
        "--batch-size", type=number(int, 1), default=16, help="windows per forward pass, >= 1 (default: 16)"
    )
    p.add_argument("--device", default="auto", help="auto (GPU if any), cpu, cuda, cuda:N (default: auto)")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="how a PyTorch model runs: auto = the fastest path the hardware supports (ONNX Runtime on a "
        "CPU); eager = plain PyTorch (default: auto)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto = fp32; bf16 (fast on AMX CPUs and CUDA GPUs, moves EER by ~0.3 pp) is opt-in "
        "(default: auto); "
        "--backend eager --precision fp32 forces the plain fp32 path",
    )
    p.add_argument(
        "--allocator",
        choices=ALLOCATOR_MODES,
        help="pool = large blocks reuse resident pages (fast eager CPU inference); retain = malloc keeps "
        "freed memory (as fast, more RSS); system = libc default (default: pool; with --onnx system, as "
        "ONNX Runtime allocates outside PyTorch)",
    )
    p.add_argument(
        "--workers",
        type=number(int, 1),
        default=None,
        help="audio loading threads, >= 1 (default: CPU count, <= 8)",
    )
    p.add_argument(
        "--explain",
        metavar="DIR",
        help="also save an attention-map PNG per file in DIR (head crop; PyTorch models only)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar with ETA on stderr (default: when stderr is a terminal)",
    )
    return p


def _onnx_device(device: str) -> str:
    """--device for ONNX Runtime, checked without torch: auto is the CPU; a GPU needs ONNX Runtime's CUDA
    provider (which it would otherwise replace by the CPU without a word)."""
    name = device.lower()
    if name in ("auto", "cpu"):
        return "cpu"
    if name not in ("gpu", "cuda", "cuda:0"):
        raise InferenceError(
            f"--device {device} with --onnx: use auto, cpu or cuda (ONNX Runtime uses the first GPU)"
        )
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        raise InferenceError(
            f"--device {device} with --onnx needs ONNX Runtime's CUDA provider (onnxruntime-gpu), which this "
            "installation lacks: use --device cpu"
        )
    return "cuda"


def _build_scorer(args: argparse.Namespace) -> tuple[Scorer, str, Any]:
    """(scorer, description of the model, the torch model for --explain or None)."""
    if args.onnx or args.program:
        flag = "--onnx" if args.onnx else "--program"
        if args.explain:
            raise InferenceError(
                "--explain needs the PyTorch model (exported models keep no attention maps): use --ckpt or "
                f"--pretrained instead of {flag}"
            )
        if args.onnx:
            scorer = Scorer.from_onnx(args.onnx, batch_size=args.batch_size, device=_onnx_device(args.device))
        else:
            scorer = Scorer.from_program(args.program, args.batch_size, resolve_device(args.device))
        path = args.onnx or args.program
        return scorer, str(scorer.metadata.get("source", f"{flag[2:]} {path}")), None
    detector = load_detector(
        ckpt_path=args.ckpt,
        pretrained=None if args.ckpt else (args.pretrained or DEFAULT_PRETRAINED),
        device=args.device,
    )
    scorer = Scorer.from_detector(detector, args.batch_size, args.backend, args.precision)
    return scorer, detector.source, detector.model


def _explain_png(
    model: Any, result: FileScore, out_dir: Path, used: set[str], threshold: float, outputs: Outputs
) -> None:
    from aasist_lightning.runtime.attention import explain_file

    name = result.path.stem or "audio"
    candidate, k = name, 1
    while candidate in used:  # same file name in two folders: keep both pictures
        k += 1
        candidate = f"{name}_{k}"
    used.add(candidate)
    with outputs.write(out_dir / f"{candidate}.png") as tmp:
        explain_file(model, result.path, tmp, threshold)


def _official_weights(args: argparse.Namespace) -> list[Path]:
    """Where the official weights the run may load are looked up: inputs even when not named on the command
    line, so no output may replace them (the ONNX path loads none, and imports no torch)."""
    if args.onnx:
        return []
    from aasist_lightning.models.weights import weights_locations

    return weights_locations(args.pretrained or DEFAULT_PRETRAINED)


def run(args: argparse.Namespace) -> int:
    """Run the CLI on parsed arguments; returns the exit status."""
    err = sys.stderr
    fmt = args.format or ("json" if args.output and args.output.lower().endswith(".json") else "csv")
    paths = find_audio(args.inputs)
    if not paths:
        print(
            f"{PROG}: error: no audio files found in {', '.join(map(str, args.inputs))} (folders are "
            "searched recursively for audio extensions such as .wav, .flac, .ogg, .mp3)",
            file=err,
        )
        return EXIT_ERROR
    check_output_file(args.output, args.inputs, paths)
    explain_dir = explain_folder(args.explain, args.output, args.inputs, paths)
    models = [*(m for m in (args.ckpt, args.onnx, args.program) if m), *_official_weights(args)]
    # Checked before any work (never over an input: an audio file or the model); committed together.
    with atomic_outputs([args.output], [*paths, *models]) as outputs:
        scorer, model_name, torch_model = _build_scorer(args)
        decide = decisions(args.threshold, args.prior, scorer, model_name)
        explain_threshold = decide.score_threshold
        if explain_dir is not None and explain_threshold is None:
            raise InferenceError(
                f"--explain: the score calibration of {model_name} reverses the scores (its scale is <= 0: "
                "its dev scores were reversed), so the attention maps cannot show its Bayes decision; pass "
                "--threshold dev-eer or a number"
            )
        if decide.calibration is None:
            print(
                f"{PROG}: note: {model_name} carries no score calibration (only checkpoints of a training "
                "run with a validation epoch do): llr and posterior_bonafide are left empty; decisions at "
                f"score >= {decide.threshold:g}",
                file=err,
            )
        if args.hop is not None and args.hop > scorer.nb_samp:
            raise InferenceError(
                f"--hop {args.hop} is out of range (accepted: 1 to {scorer.nb_samp}, the model's nb_samp)"
            )
        results: list[FileScore] = []
        failed: list[FileError] = []
        used_names: set[str] = set()
        show = err.isatty() if args.progress is None else args.progress
        with progress_bar(enabled=show) as bar:
            task = bar.add_task("scoring", total=len(paths))
            for result in score_files(
                paths, scorer, hop=args.hop, mode=args.mode, how=args.aggregate, workers=args.workers
            ):
                if isinstance(result, FileError):
                    failed.append(result)
                    bar.console.print(
                        f"{PROG}: skipping {result.path}: {result.error}",
                        markup=False,
                        highlight=False,
                        soft_wrap=True,
                    )
                else:
                    results.append(result)
                    if explain_dir is not None and explain_threshold is not None:
                        _explain_png(torch_model, result, explain_dir, used_names, explain_threshold, outputs)
                bar.advance(task)

        if not results:  # every file failed: nothing to write, and an earlier output stays as it was
            print(
                f"{PROG}: error: none of the {len(paths)} file(s) could be read"
                + (f"; {args.output} was not written" if args.output else ""),
                file=err,
            )
            return EXIT_ERROR
        text = (
            csv_text(results, decide)
            if fmt == "csv"
            else json_text(results, failed, decide, args, model_name, scorer.nb_samp)
        )
        if args.output:
            with outputs.write(args.output) as tmp:
                # A file name that is not UTF-8 is written back as the bytes it was read as.
                tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
        else:
            try:
                try:
                    sys.stdout.write(text)
                except UnicodeEncodeError:  # a file name that is not UTF-8, on a strict stream: its bytes
                    sys.stdout.flush()
                    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
                sys.stdout.flush()
            except OSError as error:  # e.g. redirected to a full disk: say it is the standard output
                raise OSError(
                    error.errno, f"cannot write the results to standard output: {error.strerror}"
                ) from None
    if failed:
        print(
            f"{PROG}: {len(failed)} of {len(paths)} file(s) could not be read and were skipped: "
            + ", ".join(str(f.path) for f in failed),
            file=err,
        )
        return EXIT_SOME_FAILED
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    def body(args: argparse.Namespace) -> int:
        if args.output == "-":
            args.output = None
        with allocator(args.allocator or ("system" if args.onnx else "pool")):  # --onnx: no torch import
            return run(args)

    return run_tool(PROG, args, body)


__all__ = ["CSV_COLUMNS", "main", "run"]


if __name__ == "__main__":
    sys.exit(main())
