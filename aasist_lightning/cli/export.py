"""``aasist-export`` / ``python -m aasist_lightning.cli.export``: ONNX (dynamic batch) and ``torch.export``
program files of a model.

    aasist-export --pretrained AASIST-L --onnx aasist_l.onnx --program aasist_l.pt2
    aasist-export --ckpt outputs/train/runs/<time>/checkpoints/best.ckpt --onnx detector.onnx

Each takes a float32 waveform batch ``(batch, nb_samp)`` (16 kHz, nb_samp = 64600 for the official models;
any batch size) and returns logits ``(batch, 2)`` (column 1 = bona fide). Each file carries JSON metadata
under the key ``aasist`` (input length, sample rate, the dev-EER threshold of a checkpoint, its origin), which
``aasist-predict --onnx`` / ``--program`` reads: ONNX model metadata (``metadata_props``), an ``aasist.json``
extra file of the program. After writing, each file is checked against the PyTorch model on random inputs of
another batch size than the one exported (within ``--tolerance``, default 1e-4).

The ONNX graph comes from PyTorch's ``torch.export``-based exporter (:mod:`aasist_lightning.runtime.onnx`).
``--torchscript`` still writes a traced TorchScript module, but PyTorch is retiring TorchScript: use
``--program``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aasist_lightning.cli.arguments import ToolParser, number, run_tool
from aasist_lightning.files import OutputPathError, atomic_outputs, check_outputs
from aasist_lightning.models.weights import weights_locations
from aasist_lightning.runtime.exported import (
    example_waves,
    export_program,
    export_torchscript,
    write_onnx,
)
from aasist_lightning.runtime.onnx import DEFAULT_OPSET
from aasist_lightning.runtime.options import InferenceError
from aasist_lightning.runtime.scorer import Detector, Scorer, load_detector

PROG = "aasist-export"
DEFAULT_TOLERANCE = 1e-4
_CHECK_BATCH = 3  # exported with 2, checked with 3: proves the batch axis really is dynamic
_TORCHSCRIPT_DEPRECATED = "--torchscript is deprecated (PyTorch is retiring TorchScript): use --program PATH"


def scorer_difference(reference: Scorer, other: Scorer, nb_samp: int, batch: int = _CHECK_BATCH) -> float:
    """Largest |logit difference| between two scorers on a seeded random batch."""
    x = example_waves(nb_samp, batch, seed=1).numpy()
    return float(np.max(np.abs(reference(x) - other(x))))


def export(
    detector: Detector,
    onnx_path: str | os.PathLike[str] | None = None,
    torchscript_path: str | os.PathLike[str] | None = None,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
    program_path: str | os.PathLike[str] | None = None,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> dict[str, Any]:
    """Export ``detector`` to the given paths (checked first: writable, none twice, none one of ``inputs``);
    with ``check``, verify each file against the PyTorch model and raise :class:`InferenceError` when the
    logits differ by more than ``tolerance``. The files replace earlier ones together, only when all were
    written and passed. Returns ``{format: {"path": ..., "max_abs_error": ...}}``."""
    if onnx_path is None and torchscript_path is None and program_path is None:
        raise InferenceError("nothing to export: give an ONNX path, a program path and/or a TorchScript path")
    meta = detector.metadata()
    model, nb_samp = detector.model.eval().cpu(), detector.nb_samp
    report: dict[str, Any] = {}
    reference = Scorer.from_detector(detector) if check else None
    writers = {
        "onnx": (onnx_path, lambda p: write_onnx(model, p, nb_samp, meta, opset), Scorer.from_onnx),
        "program": (program_path, lambda p: export_program(model, p, nb_samp, meta), Scorer.from_program),
        "torchscript": (
            torchscript_path,
            lambda p: export_torchscript(model, p, nb_samp, meta),
            Scorer.from_torchscript,
        ),
    }
    # Written to temporaries and checked; an earlier file is replaced only when every format passed.
    targets = [target for target, _, _ in writers.values()]
    with atomic_outputs(targets, inputs) as outputs:
        for fmt, (target, write, load) in writers.items():
            if target is None:
                continue
            with outputs.write(target) as tmp:
                write(tmp)
                report[fmt] = {"path": str(target)}
                if reference is not None:
                    err = scorer_difference(reference, load(tmp), nb_samp)
                    report[fmt]["max_abs_error"] = err
                    if not err <= tolerance:
                        raise InferenceError(
                            f"the {fmt} export differs from the PyTorch model by {err:.3g} (> tolerance "
                            f"{tolerance:g}) on random inputs, so nothing was written: try another --opset, "
                            "or report it"
                        )
    return report


def _parser() -> argparse.ArgumentParser:
    p = ToolParser(
        prog=PROG,
        description="Export AASIST to ONNX (dynamic batch) and/or a torch.export program, checked against "
        "PyTorch.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--ckpt", help="checkpoint of a training run (.ckpt), or a .pth state_dict")
    src.add_argument(
        "--pretrained", help="official weights AASIST-L / AASIST or a .pth path (default: AASIST-L)"
    )
    p.add_argument("--onnx", metavar="PATH", help="write an ONNX model here")
    p.add_argument(
        "--program",
        metavar="PATH",
        help="write a torch.export program here (.pt2; aasist-predict --program runs it)",
    )
    p.add_argument(
        "--torchscript",
        metavar="PATH",
        help="DEPRECATED (PyTorch is retiring TorchScript): write a TorchScript module here; use --program",
    )
    p.add_argument(
        "--opset",
        type=number(int, DEFAULT_OPSET),  # the exporter's lowest native opset
        default=DEFAULT_OPSET,
        help=f"ONNX opset, >= {DEFAULT_OPSET} (default: {DEFAULT_OPSET})",
    )
    p.add_argument(
        "--tolerance",
        type=number(float, 0),
        default=DEFAULT_TOLERANCE,
        help=f"max |logit difference| to PyTorch allowed by the check, >= 0 (default: {DEFAULT_TOLERANCE:g})",
    )
    p.add_argument("--no-check", dest="check", action="store_false", help="skip the parity check")
    return p


def run(args: argparse.Namespace) -> int:
    """Export as the parsed arguments say; returns the exit status."""
    if not args.onnx and not args.torchscript and not args.program:
        raise InferenceError(
            "nothing to export: give --onnx PATH and/or --program PATH (or the deprecated --torchscript)"
        )
    # The official weights too, wherever their name resolves (they are inputs even when not named).
    inputs = [*([args.ckpt] if args.ckpt else []), *weights_locations(args.pretrained or "AASIST-L")]
    check_outputs([args.onnx, args.program, args.torchscript], inputs)  # before the model is loaded
    named = (
        ("--onnx", args.onnx, ".onnx"),
        ("--program", args.program, ".pt2"),
        ("--torchscript", args.torchscript, ".pt"),
    )
    for option, path, suffix in named:
        if path and Path(path).suffix.lower() != suffix:  # e.g. over a weights file of the same folder
            raise OutputPathError(
                f"{option} {path}: the file name of the exported model ends in {suffix}. Fix: e.g. "
                f"{option} aasist{suffix}"
            )
    if args.torchscript:
        print(f"{PROG}: warning: {_TORCHSCRIPT_DEPRECATED}", file=sys.stderr)
    detector = load_detector(
        ckpt_path=args.ckpt,
        pretrained=None if args.ckpt else (args.pretrained or "AASIST-L"),
        device="cpu",
    )
    report = export(
        detector, args.onnx, args.torchscript, args.opset, args.check, args.tolerance, args.program, inputs
    )
    for fmt, entry in report.items():
        check = (
            f" (max |logit difference| to PyTorch {entry['max_abs_error']:.2e})"
            if "max_abs_error" in entry
            else ""
        )
        print(f"{fmt}: {entry['path']}{check}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_tool(PROG, args, run)


__all__ = ["export", "main", "scorer_difference"]


if __name__ == "__main__":
    sys.exit(main())
