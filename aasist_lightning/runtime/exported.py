"""Files of an exported model, written by ``aasist-export`` and read by ``aasist-predict``: ONNX, a
``torch.export`` program (``.pt2``) and a traced TorchScript module (deprecated by PyTorch, kept for existing
users). Each takes a float32 waveform batch (batch, nb_samp), batch dynamic, and carries the JSON metadata of
:meth:`~aasist_lightning.runtime.scorer.Detector.metadata` (ONNX: ``metadata_props``; PyTorch files:
``aasist.json``)."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aasist_lightning.files import atomic_path, atomic_write_bytes
from aasist_lightning.runtime.onnx import DEFAULT_OPSET, export_onnx, quiet_export
from aasist_lightning.runtime.options import METADATA_FILE

if TYPE_CHECKING:
    import torch
    from torch import nn

_TRACE_BATCH = 2  # traced / exported with 2 and checked with another size: the batch axis is dynamic


def example_waves(nb_samp: int, batch: int, seed: int = 0) -> torch.Tensor:
    """A seeded random waveform batch (batch, nb_samp), amplitude 0.1: for tracing and parity checks."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, nb_samp, generator=g) - 0.5) * 0.2


def _file_metadata(nb_samp: int, metadata: dict[str, Any] | None) -> dict[str, Any]:
    return {"nb_samp": nb_samp, **(metadata or {})}


def write_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    nb_samp: int,
    metadata: dict[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write ``model`` (eval mode, on the CPU) as ONNX (:func:`runtime.onnx.export_onnx`): input ``waveform``
    (batch, nb_samp) float32, output ``logits`` (batch, 2)."""
    return atomic_write_bytes(
        path, export_onnx(model.eval().cpu(), nb_samp, _file_metadata(nb_samp, metadata), opset)
    )


@contextlib.contextmanager
def _quiet_torchscript() -> Iterator[None]:
    """Silence the tracer's warnings about the model's Python-level input checks (constant for a fixed input
    length, which is what an exported model takes) and TorchScript's deprecation notices (still supported
    for loading existing files)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+` is deprecated.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit.*")
        yield


def export_program(
    model: nn.Module, path: str | os.PathLike[str], nb_samp: int, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (eval mode, on the CPU) as a ``torch.export`` program with a dynamic batch axis
    (:func:`torch.export.save`); ``metadata`` in ``aasist.json``."""
    import torch

    meta = _file_metadata(nb_samp, metadata)
    with torch.no_grad():
        program = torch.export.export(
            model.eval(),
            (example_waves(nb_samp, _TRACE_BATCH),),
            dynamic_shapes=({0: torch.export.Dim("batch")},),
        )
    # Into an open file: torch.export.save warns about a path that does not end in .pt2 (the temporary one).
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.export.save(program, f, extra_files={METADATA_FILE: json.dumps(meta)})
    return Path(path)


def load_program(path: str | os.PathLike[str], device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """(callable module on ``device``, its metadata) of a file written by :func:`export_program`."""
    import torch

    extra = {METADATA_FILE: ""}
    # From an open file: torch warns about a path not ending in .pt2 (aasist-export checks a temporary one).
    with open(path, "rb") as f, quiet_export():
        program = torch.export.load(f, extra_files=extra)
    if device != "cpu":
        from torch.export.passes import move_to_device_pass

        program = move_to_device_pass(program, device)
    return program.module(), _metadata(extra)


def export_torchscript(
    model: nn.Module, path: str | os.PathLike[str], nb_samp: int, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (eval mode, on the CPU) as a traced TorchScript module; ``metadata`` in
    ``aasist.json``. TorchScript is deprecated by PyTorch: prefer :func:`export_program`."""
    import torch

    meta = _file_metadata(nb_samp, metadata)
    with atomic_path(path) as tmp, _quiet_torchscript(), torch.no_grad():
        # check_trace=False: it re-runs the model twice more; aasist-export's parity check covers it.
        traced = torch.jit.trace(model.eval(), (example_waves(nb_samp, _TRACE_BATCH),), check_trace=False)
        torch.jit.save(traced, str(tmp), _extra_files={METADATA_FILE: json.dumps(meta)})
    return Path(path)


def load_torchscript(
    path: str | os.PathLike[str], device: str = "cpu"
) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """(module in eval mode, its metadata) of a file written by :func:`export_torchscript`."""
    import torch

    extra = {METADATA_FILE: ""}
    with _quiet_torchscript():
        module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    return module.eval(), _metadata(extra)


def _metadata(extra: dict[str, Any]) -> dict[str, Any]:
    text = extra[METADATA_FILE]
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return json.loads(text) if text else {}


__all__ = ["example_waves", "export_program", "export_torchscript", "load_program", "load_torchscript"]
