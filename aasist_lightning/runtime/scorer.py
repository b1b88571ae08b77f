"""Inference shared by ``eval.py``, ``aasist-predict``, ``aasist-export`` and the notebooks.

- :func:`load_detector`: an AASIST in eval mode from a Lightning checkpoint of a training run, official
  weights (``"AASIST-L"`` / ``"AASIST"``) or a plain ``.pth`` state_dict, with the dev-EER threshold a
  checkpoint stored. Checkpoints are read with ``torch.load(weights_only=True)``; Lightning itself is never
  imported.
- :class:`Scorer`: the one place where the network runs (PyTorch module, TorchScript module or an ONNX Runtime
  session). Fixed-length waveforms ``(B, nb_samp)`` in, logits ``(B, 2)`` out (column 1 = bona fide).
- :func:`windows` / :func:`aggregate` / :func:`score_files`: scoring audio files of any length. A clip of at
  most ``nb_samp`` samples is repeat-padded to ``nb_samp`` (the official rule). A longer one is cut into
  windows of ``nb_samp`` samples every ``hop`` samples (default ``hop = nb_samp``: back-to-back windows), plus
  a last window ending at the clip's end when the hop leaves a tail, so every sample is scored; the windows'
  logits are averaged (``"mean"``) or the least bona fide window is kept (``"min"``). ``mode="official"``
  scores the head crop only, exactly as the official evaluation does.

The score reported for a file is ``logit_bonafide - logit_spoof`` (> 0: the model prefers bona fide), and
``prob_bonafide = softmax(logits)[1] = sigmoid(score)``. Score files of ``eval.py`` keep the official score
(``logits[:, 1]``) instead, so that published numbers are reproduced.

This module imports neither torch nor Lightning at import time: the ONNX path runs with NumPy, soundfile and
onnxruntime only.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

SAMPLE_RATE = 16000
AGGREGATES = ("mean", "min")
#: Paths of runtime.fast.prepare_inference (here, so that CLIs list them without importing torch).
BACKENDS = ("auto", "eager", "channels_last", "compile", "onnx")
PRECISIONS = ("auto", "fp32", "bf16")
MODES = ("windows", "official")
#: Keys of the JSON metadata stored in exported ONNX / TorchScript files (see aasist_lightning.cli.export).
METADATA_KEY = "aasist"


class InferenceError(ValueError):
    """A model / option problem that stops inference; the message says what to change."""


# ---------------------------------------------------------------------------------------------- loading
@dataclass
class Detector:
    """A ready-to-run AASIST: ``model`` in eval mode, its input length, where it came from and the dev-EER
    threshold on the score (``logit_bonafide - logit_spoof``) stored by the training run, if any."""

    model: nn.Module
    nb_samp: int
    source: str
    threshold: float | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """What an exported model needs to be used alone: input length, threshold, origin, architecture."""
        return {
            "nb_samp": self.nb_samp,
            "sample_rate": SAMPLE_RATE,
            "dev_eer_threshold": self.threshold,
            "source": self.source,
            "config": self.config,
        }


def resolve_device(device: str | None = "auto") -> str:
    """'auto' / None -> 'cuda' when a GPU is visible, else 'cpu'; Lightning's accelerator names are
    accepted."""
    import torch

    name = "auto" if device is None else str(device).lower()
    if name in ("auto", ""):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "gpu":
        name = "cuda"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InferenceError(f"device {device!r} requested but no CUDA GPU is visible: use 'cpu' or 'auto'")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise InferenceError(f"unknown device {device!r}: use auto, cpu, cuda, cuda:<index> or gpu")
    return name


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

    if ckpt_path is None and pretrained is None:
        raise InferenceError(
            "nothing to load: give a checkpoint of a training run (e.g. "
            "outputs/train/runs/<time>/checkpoints/best.ckpt) or official weights (AASIST-L, AASIST, "
            "a .pth file)"
        )
    if ckpt_path is not None:
        path = Path(ckpt_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"checkpoint {path} does not exist: give the path of a .ckpt written by a training run "
                "(outputs/train/runs/<time>/checkpoints/best.ckpt) or of a .pth state_dict"
            )
        obj = _load_checkpoint(path)
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


def _load_checkpoint(path: Path) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt / truncated / not a torch file: torch raises many types
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InferenceError(
            f"cannot read checkpoint {path}: truncated, corrupt or not a PyTorch file ({type(e).__name__}: "
            f"{reason}). Use a .ckpt written by a training run or a .pth state_dict."
        ) from e


def _from_lightning(path: Path, ckpt: dict[str, Any], overrides: dict[str, Any]) -> Detector:
    """An AASIST from an AASISTLitModule checkpoint: architecture from its hyper-parameters, weights from the
    ``model.*`` entries of its state_dict."""
    from aasist_lightning.models import AASIST, ARCH_KEYS
    from aasist_lightning.models.weights import load_weights_into

    if overrides:
        raise InferenceError(
            f"architecture overrides {sorted(overrides)} cannot be applied to checkpoint {path}: its "
            "architecture is stored in it"
        )
    hparams = ckpt.get("hyper_parameters") or {}
    arch = {k: hparams[k] for k in ARCH_KEYS if hparams.get(k) is not None}
    state = {k[len("model.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
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
    )


# ---------------------------------------------------------------------------------------------- scoring
class Scorer:
    """Runs a detector on batches of fixed-length waveforms: ``scorer(waves (B, nb_samp)) -> logits (B, 2)``.

    Backends: ``"torch <path> <precision>"`` (an ``nn.Module`` on one of the paths of
    :mod:`runtime.fast`, or a TorchScript module, on the device the model lives on) and ``"onnx"``
    (an exported model under ONNX Runtime, CPU or CUDA provider). Build one with :meth:`from_detector` or
    :meth:`from_onnx`. Inputs larger than ``batch_size`` are split.
    """

    def __init__(
        self,
        run: Callable[[np.ndarray], np.ndarray],
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

        from aasist_lightning.runtime.fast import device_of, prepare_inference

        model.eval()
        if isinstance(model, torch.jit.ScriptModule):  # already compiled: runs as it is
            device = device_of(model)

            def run_script(waves: np.ndarray | torch.Tensor) -> np.ndarray:
                x = torch.as_tensor(waves, dtype=torch.float32).to(device, non_blocking=True)
                with torch.inference_mode():
                    return model(x).float().cpu().numpy()

            return cls(run_script, nb_samp, "torchscript", batch_size, metadata)
        try:
            fast = prepare_inference(model, backend, precision, allow_compile=False)
        except ValueError as e:
            raise InferenceError(str(e)) from e

        def run(waves: np.ndarray | torch.Tensor) -> np.ndarray:
            return fast(torch.as_tensor(waves, dtype=torch.float32)).numpy()

        return cls(run, nb_samp, f"torch {fast.backend} {fast.precision}", batch_size, metadata)

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
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"ONNX model {path} does not exist: create it with aasist-export --onnx {path}"
            )
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise InferenceError(
                "ONNX inference needs onnxruntime: pip install 'aasist-lightning[export]' (or onnxruntime)"
            ) from e
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types for invalid / truncated files
            raise InferenceError(f"cannot load ONNX model {path}: {e}") from e
        meta = _onnx_metadata(session, path)
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

    def __call__(self, waves: np.ndarray | torch.Tensor) -> np.ndarray:
        n = len(waves)
        if n <= self.batch_size:
            return self._run(waves)
        return np.concatenate(
            [self._run(waves[i : i + self.batch_size]) for i in range(0, n, self.batch_size)]
        )


def _onnx_metadata(session: Any, path: Path) -> dict[str, Any]:
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY in props:
        return json.loads(props[METADATA_KEY])
    # Not written by aasist-export: take the input length from a fixed input shape if there is one.
    shape = session.get_inputs()[0].shape
    if len(shape) == 2 and isinstance(shape[1], int):
        return {"nb_samp": shape[1], "dev_eer_threshold": None, "source": f"onnx {path}"}
    raise InferenceError(
        f"ONNX model {path} has no aasist metadata and no fixed input length: export it with aasist-export"
    )


def score_and_prob(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(score = logit_bonafide - logit_spoof, prob_bonafide = softmax[:, 1] = sigmoid(score)) of logits (...,
    2)."""
    logits = np.asarray(logits, dtype=np.float64)
    score = logits[..., 1] - logits[..., 0]
    # Numerically stable sigmoid: the logistic of a large negative score must not overflow.
    prob = np.exp(-np.logaddexp(0.0, -score))
    return score, prob


# ---------------------------------------------------------------------------------------------- windows
def windows(x: np.ndarray, nb_samp: int, hop: int | None = None, mode: str = "windows") -> np.ndarray:
    """The fixed-length inputs (n, nb_samp) to score a waveform with (see the module docstring)."""
    from aasist_lightning.data.audio import pad_or_crop

    if mode not in MODES:
        raise InferenceError(f"mode {mode!r} must be one of {', '.join(MODES)}")
    hop = nb_samp if hop is None else hop
    if not isinstance(hop, int) or not 1 <= hop <= nb_samp:
        raise InferenceError(f"hop {hop!r} must be an integer number of samples in 1..{nb_samp} (nb_samp)")
    n = x.shape[0]
    if mode == "official" or n <= nb_samp:
        return pad_or_crop(x, nb_samp)[None, :]
    starts = list(range(0, n - nb_samp + 1, hop))
    if starts[-1] + nb_samp < n:  # the hop left a tail: one more window, flush with the end
        starts.append(n - nb_samp)
    return np.stack([x[s : s + nb_samp] for s in starts])


def aggregate(window_logits: np.ndarray, how: str = "mean") -> np.ndarray:
    """One (2,) logit pair from per-window logits (n, 2): their mean, or the window with the lowest score."""
    if how == "mean":
        return window_logits.mean(axis=0)
    if how == "min":
        return window_logits[int(np.argmin(window_logits[:, 1] - window_logits[:, 0]))]
    raise InferenceError(f"aggregate {how!r} must be one of {', '.join(AGGREGATES)}")


# ---------------------------------------------------------------------------------------------- files
#: Extensions scanned for in folders (files named explicitly are always tried).
AUDIO_EXTENSIONS = frozenset(
    {
        ".wav",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aiff",
        ".aif",
        ".aifc",
        ".au",
        ".snd",
        ".caf",
        ".w64",
    }
    | {".rf64", ".sd2", ".voc", ".wv", ".mat", ".nist", ".sph", ".htk", ".xi", ".ircam", ".sf", ".pvf"}
)


def find_audio(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files named in ``inputs`` plus every audio file (by extension) below the folders named, recursively,
    in a stable order, each once. Raises FileNotFoundError for an input that does not exist."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
            )
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"input {path} does not exist (give audio files or folders)")
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


@dataclass
class FileScore:
    """The result of one audio file: aggregated logits, score, probability, duration and window count."""

    path: Path
    logits: np.ndarray
    score: float
    prob_bonafide: float
    duration_s: float
    n_windows: int
    window_scores: list[float]


@dataclass
class FileError:
    """A file that could not be scored, with the reason (the loader's message names the file)."""

    path: Path
    error: str


def _load(path: Path, nb_samp: int, hop: int | None, mode: str) -> tuple[np.ndarray, float]:
    from aasist_lightning.data.audio import load_audio

    x = load_audio(path, SAMPLE_RATE)
    return windows(x, nb_samp, hop, mode), x.shape[0] / SAMPLE_RATE


def score_files(
    paths: Sequence[Path],
    scorer: Scorer,
    hop: int | None = None,
    mode: str = "windows",
    how: str = "mean",
    workers: int | None = None,
) -> Iterator[FileScore | FileError]:
    """Score audio files, in order: loading (and resampling) runs on ``workers`` threads ahead of the model,
    and windows of consecutive files share batches. Unreadable files yield a :class:`FileError` instead of
    stopping."""
    if how not in AGGREGATES:
        raise InferenceError(f"aggregate {how!r} must be one of {', '.join(AGGREGATES)}")
    windows(np.zeros(1, np.float32), scorer.nb_samp, hop, mode)  # validates hop / mode before any work
    workers = workers or min(8, os.cpu_count() or 1)
    ahead = max(2 * workers, 4)

    pending: list[tuple[Path, np.ndarray | None, float, str | None]] = []  # in input order
    rows: list[np.ndarray] = []  # windows waiting for a batch
    scored: list[np.ndarray] = []  # logits of windows already run, in the same order

    def flush(final: bool) -> Iterator[FileScore | FileError]:
        while len(rows) >= scorer.batch_size or (final and rows):
            batch, rows[:] = rows[: scorer.batch_size], rows[scorer.batch_size :]
            scored.extend(scorer(np.stack(batch)))
        while pending:
            path, wins, duration, error = pending[0]
            if error is not None:
                result: FileScore | FileError = FileError(path, error)
            else:
                assert wins is not None
                if len(scored) < len(wins):
                    return
                logits = np.stack(scored[: len(wins)])
                del scored[: len(wins)]
                agg = aggregate(logits, how)
                score, prob = score_and_prob(agg)
                result = FileScore(
                    path,
                    agg,
                    float(score),
                    float(prob),
                    duration,
                    len(wins),
                    [float(s) for s in score_and_prob(logits)[0]],
                )
            pending.pop(0)
            yield result

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aasist-load") as pool:
        futures: list[Future] = []
        it = iter(paths)
        for p in it:
            futures.append(pool.submit(_load, p, scorer.nb_samp, hop, mode))
            if len(futures) >= ahead:
                break
        index = 0
        while index < len(futures):
            path = paths[index]
            try:
                wins, duration = futures[index].result()
                pending.append((path, wins, duration, None))
                rows.extend(wins)
            except (ValueError, OSError) as e:  # AudioError is a ValueError and names the file
                pending.append((path, None, math.nan, str(e)))
            futures[index] = None  # type: ignore[call-overload]  # free the audio
            index += 1
            nxt = next(it, None)
            if nxt is not None:
                futures.append(pool.submit(_load, nxt, scorer.nb_samp, hop, mode))
            yield from flush(final=False)
        yield from flush(final=True)


def progress_bar(total: int, description: str, enabled: bool = True, unit: str = "files") -> Any:
    """A rich progress bar on stderr with count, rate, elapsed time and ETA (disabled: a no-op)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        disable=not enabled,
        transient=False,
    )


def iterate_batches(
    batches: Iterable[Any],
    scorer: Scorer,
    total: int | None = None,
    description: str = "scoring",
    progress: bool = True,
) -> Iterator[tuple[Any, np.ndarray]]:
    """``(batch, logits)`` for each ``(waves, ...)`` batch of a data loader, with a progress bar over
    trials."""
    with progress_bar(total or 0, description, enabled=progress, unit="trials") as bar:
        task = bar.add_task(description, total=total)
        for batch in batches:
            if batch is None:  # every trial of the batch was unusable and skipped by the loader
                continue
            logits = scorer(batch[0])
            bar.advance(task, len(logits))
            yield batch, logits


__all__ = [
    "AGGREGATES",
    "AUDIO_EXTENSIONS",
    "MODES",
    "Detector",
    "FileError",
    "FileScore",
    "InferenceError",
    "Scorer",
    "aggregate",
    "find_audio",
    "iterate_batches",
    "load_detector",
    "progress_bar",
    "resolve_device",
    "score_and_prob",
    "score_files",
    "windows",
]
