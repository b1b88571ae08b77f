"""Names shared by the runtime and the command lines, in a module that imports nothing heavy: the CLIs list
them (``--backend``, ``--precision``, ...) and ``aasist-predict --onnx`` runs without importing torch."""

from __future__ import annotations

#: Paths of :func:`aasist_lightning.runtime.fast.prepare_inference`.
BACKENDS = ("auto", "eager", "channels_last", "compile", "onnx")
PRECISIONS = ("auto", "fp32", "bf16")
#: How the windows of a long clip are scored and combined (see :mod:`aasist_lightning.runtime.scorer`).
MODES = ("windows", "official")
AGGREGATES = ("mean", "min")
#: Key of the JSON metadata stored in exported ONNX / TorchScript / torch.export files.
METADATA_KEY = "aasist"
#: Name of that metadata inside a TorchScript or torch.export archive.
METADATA_FILE = "aasist.json"


class InferenceError(ValueError):
    """A model / option problem that stops inference; the message says what to change."""


__all__ = [
    "AGGREGATES",
    "BACKENDS",
    "METADATA_FILE",
    "METADATA_KEY",
    "MODES",
    "PRECISIONS",
    "InferenceError",
]
