"""Loading a detector and running it: shared by ``aasist-eval``, ``aasist-predict``, ``aasist-export`` and the
notebooks.

- :func:`load_detector`: an AASIST in eval mode from a Lightning checkpoint of a training run, official
  weights (``"AASIST-L"`` / ``"AASIST"``) or a plain ``.pth`` state_dict, with the dev-EER threshold and
  the score calibration a checkpoint stored. Checkpoints are read with ``torch.load(weights_only=True)``;
  Lightning itself is never imported.
- :class:`Scorer`: the one place where the network runs (PyTorch module, exported program / TorchScript
  module or an ONNX Runtime session). Fixed-length waveforms ``(B, nb_samp)`` in, logits ``(B, 2)`` out
  (column 1 = bona fide).
- :func:`windows` / :func:`aggregate`: the fixed-length inputs of audio of any length, and one result from
  them. A clip of at most ``nb_samp`` samples is repeat-padded to ``nb_samp`` (the official rule). A longer
  one is cut into windows of ``nb_samp`` samples every ``hop`` samples (default ``hop = nb_samp``:
  back-to-back windows), plus a last window ending at the clip's end when the hop leaves a tail, so every
  sample is scored; the windows' logits are averaged (``"mean"``) or the least bona fide window is kept
  (``"min"``). ``mode="official"`` scores the head crop only, exactly as the official evaluation does.
  Scoring files: :mod:`aasist_lightning.runtime.audio_files`.

The score reported for a file is ``logit_bonafide - logit_spoof`` (> 0: the model prefers bona fide), and
``prob_bonafide = softmax(logits)[1] = sigmoid(score)``. A training checkpoint also carries an affine
calibration of that score fitted on the dev set (:class:`~aasist_lightning.metrics.calibration.Calibration`:
``llr = scale * score + offset``, a log-likelihood ratio); official weights and plain ``.pth`` files carry
none. Score files of ``aasist-eval`` keep the official score (``logits[:, 1]``) instead, so that published
numbers are reproduced.

This module imports neither torch nor Lightning at import time: the ONNX path runs with NumPy, soundfile and
onnxruntime only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aasist_lightning.data.audio import SAMPLE_RATE, Windows
from aasist_lightning.files import check_input
from aasist_lightning.metrics.calibration import Calibration
from aasist_lightning.runtime.hardware import resolve_device
from aasist_lightning.runtime.onnx import metadata_of, ort_session
from aasist_lightning.runtime.options import AGGREGATES, MODES, InferenceError

if TYPE_CHECKING:
    import torch
    from torch import nn

#: Where checkpoints (AASISTLitModule) and exported models' metadata keep the calibration.
CALIBRATION_KEY = "calibration"


# ---------------------------------------------------------------------------------------------- loading
@dataclass
class Detector:
    """A ready-to-run AASIST: ``model`` in eval mode, its input length, where it came from, and the dev-EER
    threshold on the score (``logit_bonafide - logit_spoof``) and the dev-fitted calibration of that score
    stored by the training run, if any."""

    model: nn.Module
    nb_samp: int
    source: str
    threshold: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    calibration: Calibration | None = None

    def metadata(self) -> dict[str, Any]:
        """What an exported model needs to be used alone: input length, threshold, calibration, origin,
        architecture."""
        return {
            "nb_samp": self.nb_samp,
            "sample_rate": SAMPLE_RATE,
            "dev_eer_threshold": self.threshold,
            CALIBRATION_KEY: None if self.calibration is None else self.calibration.as_dict(),
            "source": self.source,
            "config": self.config,
        }


def load_detector(
    ckpt_path: str | os.PathLike[str] | None = None,
    pretrained: str | os.PathLike[str] | None = None,
    device: str | None = "cpu",
    **overrides: Any,
) -> Detector:
    """Load a detector from ``ckpt_path`` (a training run's ``.ckpt``, or a plain ``.pth`` state_dict) or,
    when it is None, from ``pretrained`` (``"AASIST-L"``, ``"AASIST"`` or a ``.pth`` path; found as the model
    package describes: ``$AASIST_WEIGHTS_DIR``, the cache, a verified download). ``overrides``: architecture
    keys (e.g. ``first_conv=256``) for official weights only. The model is in eval mode on ``device``.
    """
    from aasist_lightning.models import AASIST
    from aasist_lightning.models.weights import read_torch_file

    if ckpt_path is None and pretrained is None:
        raise InferenceError(
            "nothing to load: give a checkpoint of a training run (e.g. "
            "outputs/train/runs/<time>/checkpoints/best.ckpt) or official weights (AASIST-L, AASIST, "
            "a .pth file)"
        )
    if ckpt_path is not None:
        path = Path(ckpt_path).expanduser()
        if not path.exists():
            raise FileNotFoundError(
                f"checkpoint {path} does not exist: give the path of a .ckpt written by a training run "
                "(outputs/train/runs/<time>/checkpoints/best.ckpt) or of a .pth state_dict"
            )
        obj = read_torch_file(check_input(path, "checkpoint"), "checkpoint")  # not a folder, a pipe
        if isinstance(obj, dict) and "state_dict" in obj:
            detector = _from_lightning(path, obj, overrides)
        else:  # a plain state_dict (e.g. an official .pth under another name)
            model = AASIST.from_pretrained(path, **overrides)
            detector = Detector(model, model.nb_samp, f"weights {path}", None, dict(model.config))
    else:
        model = AASIST.from_pretrained(pretrained, **overrides)  # type: ignore[arg-type]
        detector = Detector(model, model.nb_samp, f"weights {pretrained}", None, dict(model.config))
    detector.model.to(resolve_device(device)).eval()
    return detector


def _from_lightning(path: Path, ckpt: dict[str, Any], overrides: dict[str, Any]) -> Detector:
    """An AASIST from an AASISTLitModule checkpoint: architecture from its hyper-parameters, weights from the
    ``model.*`` entries of its state_dict."""
    from aasist_lightning.models import AASIST
    from aasist_lightning.models.weights import checkpoint_network, load_weights_into

    if overrides:
        raise InferenceError(
            f"architecture overrides {sorted(overrides)} cannot be applied to checkpoint {path}: its "
            "architecture is stored in it"
        )
    state, arch = checkpoint_network(ckpt)
    if not state:
        raise InferenceError(
            f"checkpoint {path} has no 'model.*' weights: it was not written by aasist_lightning's training "
            "(AASISTLitModule)"
        )
    model = AASIST(**arch)
    load_weights_into(model, state, source=f"checkpoint {path}")
    threshold = ckpt.get("dev_eer_threshold")
    return Detector(
        model,
        model.nb_samp,
        f"checkpoint {path}",
        None if threshold is None else float(threshold),
        dict(model.config),
        stored_calibration(ckpt, f"checkpoint {path}"),
    )


def stored_calibration(stored: dict[str, Any], source: str) -> Calibration | None:
    """The calibration a checkpoint or an exported model's metadata holds (None: trained before there was
    one, or without a validation epoch)."""
    value = stored.get(CALIBRATION_KEY)
    if value is None:
        return None
    try:
        return Calibration.from_dict(value)
    except ValueError as e:
        raise InferenceError(
            f"{source} holds an unusable score calibration ({e}): re-export or retrain it"
        ) from None


# ---------------------------------------------------------------------------------------------- scoring
class Scorer:
    """Runs a detector on batches of fixed-length waveforms: ``scorer(waves (B, nb_samp)) -> logits (B, 2)``.

    Backends: ``"torch <path> <precision>"`` (an ``nn.Module`` on one of the paths of
    :mod:`runtime.fast`, on the device the model lives on), ``"program"`` / ``"torchscript"`` (a file written
    by ``aasist-export``, run as it is) and ``"onnx"`` (an exported model under ONNX Runtime, CPU or CUDA
    provider). Build one with :meth:`from_detector`, :meth:`from_program`, :meth:`from_torchscript` or
    :meth:`from_onnx`. Inputs larger than ``batch_size`` are split.
    """

    def __init__(
        self,
        run: Callable[[np.ndarray | torch.Tensor], np.ndarray],
        nb_samp: int,
        backend: str,
        batch_size: int = 16,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InferenceError(f"batch size {batch_size!r} must be a positive integer")
        self._run = run
        self.nb_samp = nb_samp
        self.backend = backend
        self.batch_size = batch_size
        self.metadata = metadata or {}

    @classmethod
    def from_detector(
        cls, detector: Detector, batch_size: int = 16, backend: str = "eager", precision: str = "fp32"
    ) -> Scorer:
        return cls.from_module(
            detector.model, detector.nb_samp, batch_size, detector.metadata(), backend, precision
        )

    @classmethod
    def from_module(
        cls,
        model: nn.Module,
        nb_samp: int,
        batch_size: int = 16,
        metadata: dict[str, Any] | None = None,
        backend: str = "eager",
        precision: str = "fp32",
    ) -> Scorer:
        """A PyTorch (eager or TorchScript) module, run on the device its parameters / buffers live on.

        ``backend`` / ``precision``: the path of :func:`runtime.fast.prepare_inference` for an
        ``nn.Module`` (``"auto"``: the fastest the hardware supports); the default ``eager`` / ``fp32`` is the
        plain reference path. A TorchScript module always runs as it is.
        """
        import torch

        from aasist_lightning.runtime.fast import prepare_inference

        if isinstance(model, torch.jit.ScriptModule):  # already compiled: runs as it is
            return cls._as_is(model.eval(), "torchscript", nb_samp, batch_size, metadata)
        model.eval()
        try:
            fast = prepare_inference(model, backend, precision, allow_compile=False)
        except ValueError as e:
            raise InferenceError(str(e)) from e

        def run(waves: np.ndarray | torch.Tensor) -> np.ndarray:
            return fast(torch.as_tensor(waves, dtype=torch.float32)).numpy()

        return cls(run, nb_samp, f"torch {fast.backend} {fast.precision}", batch_size, metadata)

    @classmethod
    def _as_is(
        cls, module: Any, backend: str, nb_samp: int, batch_size: int, metadata: dict[str, Any] | None
    ) -> Scorer:
        """An exported module (TorchScript, ``torch.export`` program), run unchanged on its device."""
        import torch

        from aasist_lightning.runtime.hardware import device_of

        device = device_of(module)

        def run(waves: np.ndarray | torch.Tensor) -> np.ndarray:
            x = torch.as_tensor(waves, dtype=torch.float32).to(device, non_blocking=True)
            with torch.inference_mode():
                return module(x).float().cpu().numpy()

        return cls(run, nb_samp, backend, batch_size, metadata)

    @classmethod
    def from_program(cls, path: str | os.PathLike[str], batch_size: int = 16, device: str = "cpu") -> Scorer:
        """A ``torch.export`` program written by ``aasist-export --program``, with its stored metadata."""
        from aasist_lightning.runtime.exported import load_program

        path = _exported_file(path, "torch.export program", "--program")
        try:
            module, meta = load_program(path, device)
        except Exception as e:  # torch raises many types for a corrupt / foreign archive
            raise InferenceError(f"cannot load torch.export program {path}: {e}") from e
        return cls._as_is(module, "program", _nb_samp(meta, path), batch_size, meta)

    @classmethod
    def from_torchscript(
        cls, path: str | os.PathLike[str], batch_size: int = 16, device: str = "cpu"
    ) -> Scorer:
        """A TorchScript module written by ``aasist-export --torchscript`` (deprecated: prefer
        :meth:`from_program`), with its stored metadata."""
        from aasist_lightning.runtime.exported import load_torchscript

        path = _exported_file(path, "TorchScript file", "--torchscript")
        module, meta = load_torchscript(path, device)
        return cls._as_is(module, "torchscript", _nb_samp(meta, path), batch_size, meta)

    @classmethod
    def from_onnx(
        cls,
        path: str | os.PathLike[str],
        batch_size: int = 16,
        device: str = "cpu",
        threads: int | None = None,
    ) -> Scorer:
        """An exported model (``aasist-export``) under ONNX Runtime; its input length and threshold come from
        the metadata the exporter stored."""
        path = _exported_file(path, "ONNX model", "--onnx")
        try:
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise InferenceError(
                "ONNX inference needs onnxruntime: pip install 'aasist-lightning[export]' (or onnxruntime)"
            ) from e
        try:
            session = ort_session(path, device, threads)
        except Exception as e:  # onnxruntime raises its own exception types for invalid / truncated files
            raise InferenceError(f"cannot load ONNX model {path}: {e}") from e
        meta = metadata_of(session, str(path))
        output_shape = session.get_outputs()[0].shape
        if len(output_shape) != 2 or output_shape[1] != 2:
            raise InferenceError(
                f"ONNX model {path} outputs shape {output_shape}, not (batch, 2) logits: it is not an AASIST "
                "model (export one with aasist-export)"
            )
        input_name = session.get_inputs()[0].name

        def run(waves: Any) -> np.ndarray:
            x = np.ascontiguousarray(np.asarray(waves, dtype=np.float32))
            return session.run(None, {input_name: x})[0].astype(np.float32, copy=False)

        return cls(run, int(meta["nb_samp"]), "onnx", batch_size, meta)

    @property
    def threshold(self) -> float | None:
        """The dev-EER threshold (on ``logit_bonafide - logit_spoof``) stored with the model, if any."""
        value = self.metadata.get("dev_eer_threshold")
        return None if value is None else float(value)

    @property
    def calibration(self) -> Calibration | None:
        """The dev-fitted calibration of the score stored with the model, if any."""
        return stored_calibration(self.metadata, str(self.metadata.get("source", "the model")))

    def __call__(self, waves: np.ndarray | torch.Tensor | Windows) -> np.ndarray:
        n = len(waves)
        if n <= self.batch_size:
            return self._run(waves[:n])  # Windows: the rows as one array (no copy of an array or tensor)
        return np.concatenate(
            [self._run(waves[i : i + self.batch_size]) for i in range(0, n, self.batch_size)]
        )


def _exported_file(path: str | os.PathLike[str], kind: str, flag: str) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        raise InferenceError(f"{kind} {path} is a folder: give the exported file, {flag} {path}/<file>")
    if not path.is_file():
        raise FileNotFoundError(f"{kind} {path} does not exist: create it with aasist-export {flag} {path}")
    return path


def _nb_samp(meta: dict[str, Any], path: Path) -> int:
    if "nb_samp" not in meta:
        raise InferenceError(f"{path} has no aasist.json metadata: export it with aasist-export")
    return int(meta["nb_samp"])


def score_and_prob(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(score = logit_bonafide - logit_spoof, prob_bonafide = softmax[:, 1] = sigmoid(score)) of logits (...,
    2)."""
    logits = np.asarray(logits, dtype=np.float64)
    score = logits[..., 1] - logits[..., 0]
    # Numerically stable sigmoid: the logistic of a large negative score must not overflow.
    prob = np.exp(-np.logaddexp(0.0, -score))
    return score, prob


# ---------------------------------------------------------------------------------------------- windows
def windows(x: np.ndarray, nb_samp: int, hop: int | None = None, mode: str = "windows") -> Windows:
    """The fixed-length inputs (n, nb_samp) to score a waveform with (see the module docstring), as views of
    ``x``: slice them a batch at a time (``w[i : i + batch]``, as :class:`Scorer` does)."""
    from aasist_lightning.data.audio import pad_or_crop

    if mode not in MODES:
        raise InferenceError(f"mode {mode!r} must be one of {', '.join(MODES)}")
    hop = nb_samp if hop is None else hop
    if not isinstance(hop, int) or not 1 <= hop <= nb_samp:
        raise InferenceError(f"hop {hop!r} must be an integer number of samples in 1..{nb_samp} (nb_samp)")
    n = x.shape[0]
    if mode == "official" or n <= nb_samp:
        return Windows(pad_or_crop(x, nb_samp), nb_samp, [0])
    starts = np.arange(0, n - nb_samp + 1, hop)
    if starts[-1] + nb_samp < n:  # the hop left a tail: one more window, flush with the end
        starts = np.append(starts, n - nb_samp)
    return Windows(x, nb_samp, starts)


def aggregate(window_logits: np.ndarray, how: str = "mean") -> np.ndarray:
    """One (2,) logit pair from per-window logits (n, 2): their mean, or the window with the lowest score."""
    if how == "mean":
        return window_logits.mean(axis=0)
    if how == "min":
        return window_logits[int(np.argmin(window_logits[:, 1] - window_logits[:, 0]))]
    raise InferenceError(f"aggregate {how!r} must be one of {', '.join(AGGREGATES)}")


__all__ = [
    "AGGREGATES",
    "MODES",
    "Detector",
    "InferenceError",
    "Scorer",
    "aggregate",
    "load_detector",
    "score_and_prob",
    "stored_calibration",
    "windows",
]
