"""``aasist-export`` / ``python -m aasist_lightning.cli.export``:
ONNX (dynamic batch) and TorchScript files of a
model.

    aasist-export --pretrained AASIST-L --onnx aasist_l.onnx --torchscript aasist_l.pt
    aasist-export --ckpt outputs/train/runs/<time>/checkpoints/best.ckpt --onnx detector.onnx

Both take a float32 waveform batch ``(batch, nb_samp)`` (16 kHz, nb_samp = 64600 for the official models; any
batch size) and return logits ``(batch, 2)`` (column 1 = bona fide). Each file carries JSON metadata under the
key ``aasist`` (input length, sample rate, the dev-EER threshold of a checkpoint, its origin), which
``aasist-predict --onnx`` reads: ONNX model metadata (``metadata_props``) and a TorchScript extra file
``aasist.json``. After writing, the export is checked against the PyTorch model on random inputs of another
batch size than the one traced (ONNX Runtime within ``--tolerance``, default 1e-4; TorchScript likewise).

The ONNX graph is built by PyTorch's TorchScript-based exporter (``dynamo=False``): it needs only the ``onnx``
package (the dynamo exporter would also need ``onnxscript``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aasist_lightning.runtime.scorer import METADATA_KEY, Detector, InferenceError, Scorer, load_detector

DEFAULT_OPSET = 17
DEFAULT_TOLERANCE = 1e-4
TORCHSCRIPT_EXTRA = "aasist.json"
_TRACE_BATCH = 2  # traced with 2 and checked with 3: proves the batch axis really is dynamic
_CHECK_BATCH = 3


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path`` that replaces it on success (readers never see a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Silence the tracer's warnings about the model's Python-level input checks (constant for a fixed input
    length, which is what an exported model takes) and the deprecation notices of the legacy ONNX exporter and
    of TorchScript."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        # Recent torch marks TorchScript deprecated; traced modules still run and load (see load_torchscript).
        warnings.filterwarnings(
            "ignore", message=r".*torch\.jit\.\w+` is deprecated.*", category=DeprecationWarning
        )
        yield


def _example(nb_samp: int, batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, nb_samp, generator=g) - 0.5) * 0.2


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    nb_samp: int,
    metadata: dict[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write ``model`` (eval mode, on the CPU) as ONNX with a dynamic batch axis; input ``waveform`` (batch,
    nb_samp) float32, output ``logits`` (batch, 2). ``metadata`` is stored as JSON under ``aasist``."""
    import onnx

    path = Path(path)
    model = model.eval().cpu()
    meta = {"nb_samp": nb_samp, **(metadata or {})}
    with _atomic_path(path) as tmp, _quiet_tracing(), torch.no_grad():
        torch.onnx.export(
            model,
            (_example(nb_samp, _TRACE_BATCH),),
            str(tmp),
            input_names=["waveform"],
            output_names=["logits"],
            dynamic_axes={"waveform": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
        proto = onnx.load(str(tmp))
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(meta)
        proto.doc_string = (
            "AASIST spoofing countermeasure: waveform (batch, nb_samp) 16 kHz -> logits (batch, 2)"
        )
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return path


def export_torchscript(
    model: nn.Module, path: str | os.PathLike[str], nb_samp: int, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (eval mode, on the CPU) as a traced TorchScript module; ``metadata`` in
    ``aasist.json``."""
    path = Path(path)
    model = model.eval().cpu()
    meta = {"nb_samp": nb_samp, **(metadata or {})}
    with _atomic_path(path) as tmp, _quiet_tracing(), torch.no_grad():
        # check_trace=False: the check re-runs the model twice more, and the parity check below covers it.
        traced = torch.jit.trace(model, (_example(nb_samp, _TRACE_BATCH),), check_trace=False)
        torch.jit.save(traced, str(tmp), _extra_files={TORCHSCRIPT_EXTRA: json.dumps(meta)})
    return path


def load_torchscript(
    path: str | os.PathLike[str], device: str = "cpu"
) -> tuple[torch.jit.ScriptModule, dict]:
    """(module in eval mode, its metadata) of a file written by :func:`export_torchscript`."""
    extra = {TORCHSCRIPT_EXTRA: ""}
    with _quiet_tracing():
        module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    meta = json.loads(extra[TORCHSCRIPT_EXTRA]) if extra[TORCHSCRIPT_EXTRA] else {}
    return module.eval(), meta


def torchscript_scorer(path: str | os.PathLike[str], batch_size: int = 16, device: str = "cpu") -> Scorer:
    """A :class:`~aasist_lightning.runtime.scorer.Scorer` running an exported TorchScript file."""
    module, meta = load_torchscript(path, device)
    if "nb_samp" not in meta:
        raise InferenceError(
            f"TorchScript file {path} has no {TORCHSCRIPT_EXTRA}: export it with aasist-export"
        )
    return Scorer.from_module(module, int(meta["nb_samp"]), batch_size, meta)


def max_abs_error(reference: Scorer, other: Scorer, nb_samp: int, batch: int = _CHECK_BATCH) -> float:
    """Largest |logit difference| between two scorers on a seeded random batch."""
    x = _example(nb_samp, batch, seed=1).numpy()
    return float(np.max(np.abs(reference(x) - other(x))))


def export(
    detector: Detector,
    onnx_path: str | os.PathLike[str] | None = None,
    torchscript_path: str | os.PathLike[str] | None = None,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict[str, Any]:
    """Export ``detector`` to the given paths; with ``check``, verify each file against the PyTorch model and
    raise :class:`InferenceError` when the logits differ by more than ``tolerance``. Returns
    ``{format: {"path": ..., "max_abs_error": ...}}``."""
    if onnx_path is None and torchscript_path is None:
        raise InferenceError("nothing to export: give an ONNX path and/or a TorchScript path")
    meta = detector.metadata()
    report: dict[str, Any] = {}
    reference = Scorer.from_detector(detector) if check else None
    if onnx_path is not None:
        path = export_onnx(detector.model, onnx_path, detector.nb_samp, meta, opset)
        report["onnx"] = {"path": str(path)}
        if reference is not None:
            report["onnx"]["max_abs_error"] = max_abs_error(
                reference, Scorer.from_onnx(path), detector.nb_samp
            )
    if torchscript_path is not None:
        path = export_torchscript(detector.model, torchscript_path, detector.nb_samp, meta)
        report["torchscript"] = {"path": str(path)}
        if reference is not None:
            err = max_abs_error(reference, torchscript_scorer(path), detector.nb_samp)
            report["torchscript"]["max_abs_error"] = err
    for fmt, entry in report.items():
        err = entry.get("max_abs_error")
        if err is not None and not err <= tolerance:
            raise InferenceError(
                f"the {fmt} export {entry['path']} differs from the PyTorch model by {err:.3g} (> tolerance "
                f"{tolerance:g}) on random inputs: try another --opset, or report it"
            )
    return report


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aasist-export",
        description="Export AASIST to ONNX (dynamic batch) and/or TorchScript, checked against PyTorch.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--ckpt", help="checkpoint of a training run (.ckpt), or a .pth state_dict")
    src.add_argument(
        "--pretrained", help="official weights AASIST-L / AASIST or a .pth path (default: AASIST-L)"
    )
    p.add_argument("--onnx", metavar="PATH", help="write an ONNX model here")
    p.add_argument("--torchscript", metavar="PATH", help="write a TorchScript module here")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default: {DEFAULT_OPSET})")
    p.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"max |logit difference| to PyTorch allowed by the check (default: {DEFAULT_TOLERANCE:g})",
    )
    p.add_argument("--no-check", dest="check", action="store_false", help="skip the parity check")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if not args.onnx and not args.torchscript:
            raise InferenceError("nothing to export: give --onnx PATH and/or --torchscript PATH")
        detector = load_detector(
            ckpt_path=args.ckpt,
            pretrained=None if args.ckpt else (args.pretrained or "AASIST-L"),
            device="cpu",
        )
        report = export(detector, args.onnx, args.torchscript, args.opset, args.check, args.tolerance)
    except (InferenceError, FileNotFoundError, ValueError, OSError) as e:
        print(f"aasist-export: error: {e}", file=sys.stderr)
        return 1
    for fmt, entry in report.items():
        check = (
            f" (max |logit difference| to PyTorch {entry['max_abs_error']:.2e})"
            if "max_abs_error" in entry
            else ""
        )
        print(f"{fmt}: {entry['path']}{check}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
