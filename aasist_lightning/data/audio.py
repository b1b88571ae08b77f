"""Audio I/O: any soundfile format -> float32 mono at 16 kHz, the official fixed-length rule, and the
fixed-length windows of a longer clip (:class:`Windows`, without copying it)."""

from __future__ import annotations

import logging
import math
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16000
NB_SAMP = 64600  # ~4 s at 16 kHz, the official AASIST input length
#: Shorter clips are implausible as speech (ASVspoof 2019 LA's shortest is ~0.5 s): always a warning, never
#: refused (a corpus of short clips is odd, not broken).
MIN_SECONDS = 0.1
#: Samples beyond this magnitude (+60 dBFS) are refused: not audio scaled to [-1, 1]. Float WAVs overshoot
#: full scale by a few dB at most, audio normalised to unit variance peaks at tens; float audio written at an
#: integer scale (16-bit: up to 32768) gives meaningless scores. The networks' float32 arithmetic stays
#: finite up to ~1e18 (NaN scores beyond), far above.
MAX_PEAK = 1e3
#: What load_audio does with a truncated file: warn and use what is left, or refuse it.
DAMAGE_POLICIES = ("warn", "error")

log = logging.getLogger(__name__)
_warned: set[Path] = set()  # damaged files already reported by this process (once each)


class AudioError(ValueError):
    """An audio file that cannot be used (missing, unreadable, empty, NaN/inf or out-of-range samples,
    truncated); the message names it."""

    def __init__(self, message: str) -> None:
        # Raised in a DataLoader worker, it comes back to the main process as AudioError("Caught AudioError in
        # DataLoader worker process N.\nOriginal Traceback ...<its last line>"): keep only the message.
        if message.startswith("Caught AudioError") and "\nOriginal Traceback" in message:
            message = message.rstrip().rsplit("AudioError: ", 1)[-1]
        super().__init__(message)


def _missing_wav_bytes(path: Path) -> int:
    """Bytes of sample data a RIFF/WAVE file's header promises beyond the end of the file (0 when complete
    or not a plain WAV): libsndfile silently reads a file cut mid-data as a shorter one."""
    with path.open("rb") as f:
        if f.read(12)[8:12] != b"WAVE":
            return 0
        size = path.stat().st_size
        while True:
            header = f.read(8)
            if len(header) < 8:
                return 0
            chunk, length = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk == b"data":
                # 0 and 0xFFFFFFFF: a stream's placeholder sizes, not promises
                return max(0, f.tell() + length - size) if 0 < length < 0xFFFFFFFF else 0
            f.seek(length + (length & 1), 1)


def _sf_name(path: Path) -> str | bytes:
    """The name's own bytes on POSIX: soundfile encodes a str strictly, refusing names that are not UTF-8."""
    return str(path) if os.name == "nt" else os.fsencode(path)


def _reason(error: Exception, path: Path) -> str:
    """soundfile's reason for refusing ``path``, on one line, naming the file as text (soundfile shows the
    name it was given: the repr of the bytes :func:`_sf_name` passes), without a redundant "Error opening"."""
    name = repr(_sf_name(path))
    text = str(error).replace(f"Error opening {name}: ", "").replace(name, str(path))
    return " ".join(text.split())


def header_problem(path: Path) -> str | None:
    """What makes ``path`` unusable as far as its header tells (unreadable, no samples, a WAV cut mid-data),
    or None: a check of every file before any work; NaN / inf / out-of-range samples show only when a file is
    read."""
    try:
        info = sf.info(_sf_name(path))
        return "holds no samples" if info.frames == 0 else _truncation(path)
    except (sf.SoundFileError, RuntimeError, OSError) as e:
        return f"cannot be read ({_reason(e, path)})"


def _truncation(path: Path) -> str | None:
    """How a WAV file cut mid-data is truncated, or None (complete, or not a WAV)."""
    missing = _missing_wav_bytes(path) if path.suffix.lower() in (".wav", ".wave") else 0
    return (
        f"is truncated (its header promises {missing} more bytes of audio than the file holds)"
        if missing
        else None
    )


def _warn_once(path: Path, problem: str) -> None:
    if path not in _warned:
        _warned.add(path)
        log.warning("audio file %s %s: using it as it is", path, problem)


def load_audio(path: str | Path, sr: int = SAMPLE_RATE, on_damage: str = "warn") -> np.ndarray:
    """Read ``path`` as float32 mono at ``sr`` Hz.

    Integer PCM is scaled to [-1, 1] (soundfile), channels are averaged, other rates are resampled
    with soxr. A clip shorter than one output sample becomes that one sample. A WAV cut mid-data (its header
    promises more than the file holds) is used with a warning naming it (once per file and process) when
    ``on_damage="warn"``, refused with an ``AudioError`` when ``"error"``; a clip shorter than
    ``MIN_SECONDS`` always gets the warning. NaN / inf samples and samples beyond ``MAX_PEAK`` (not audio
    scaled to [-1, 1]) are refused with an ``AudioError``.
    """
    if on_damage not in DAMAGE_POLICIES:
        raise ValueError(f"on_damage={on_damage!r} must be one of {DAMAGE_POLICIES}")
    path = Path(path)
    if not path.exists():
        raise AudioError(f"audio file {path} does not exist")
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "a device, pipe or socket"
        raise AudioError(f"{path} is {kind}, not a regular audio file: give an audio file (FLAC, WAV, ...)")
    try:
        data, file_sr = sf.read(_sf_name(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError) as e:
        raise AudioError(
            f"cannot read audio file {path} ({_reason(e, path)}); is it a valid audio file (FLAC, WAV, OGG, "
            "...)?"
        ) from e
    if data.size == 0:
        raise AudioError(f"audio file {path} contains no samples")
    truncated = _truncation(path)
    if truncated:
        if on_damage == "error":
            raise AudioError(f"audio file {path} {truncated}")
        _warn_once(path, truncated)
    elif data.shape[0] < MIN_SECONDS * file_sr:
        _warn_once(path, f"is implausibly short ({data.shape[0] / file_sr:.3f} s < {MIN_SECONDS} s)")
    peak = max(float(data.max()), -float(data.min()))  # NaN / inf when such a sample is there: next check
    if math.isfinite(peak) and peak > MAX_PEAK:
        raise AudioError(
            f"audio file {path} has samples reaching {peak:.4g}: not audio scaled to [-1, 1] (refused above "
            f"{MAX_PEAK:g}). Fix: rescale it (float audio written at 16-bit scale: divide by 32768)"
        )
    x = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise AudioError(f"audio file {path} has {bad} NaN/inf samples")
    if file_sr != sr:
        y = soxr.resample(x, file_sr, sr)
        x = y if y.size else x[:1]
    return np.ascontiguousarray(x, dtype=np.float32)


def pad_or_crop(
    x: np.ndarray, nb_samp: int = NB_SAMP, random: bool = False, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Bring ``x`` to exactly ``nb_samp`` samples, as the official AASIST ``pad`` / ``pad_random``.

    Shorter clips are repeated (tiled) and cut; longer ones are cropped at the head, or at a uniformly
    random offset when ``random`` (offsets 0 .. len-nb_samp inclusive: the official
    ``randint(len - nb_samp)`` crashes on a clip of exactly ``nb_samp`` and never picks the last
    offset). ``rng`` seeds the crop; a fresh unseeded one is used when it is None.
    """
    n = x.shape[0]
    if n == 0:
        raise ValueError("pad_or_crop got an empty signal")
    if n < nb_samp:
        return np.tile(x, nb_samp // n + 1)[:nb_samp]
    start = 0
    if random and n > nb_samp:
        start = int((rng if rng is not None else np.random.default_rng()).integers(0, n - nb_samp + 1))
    return x[start : start + nb_samp]


class Windows(Sequence[np.ndarray]):
    """Fixed-length windows of a clip, starting at ``starts``, without copying the clip: ``w[i]`` is a
    read-only view of window ``i``, ``w[a:b]`` a new ``(b - a, nb_samp)`` array (one batch), and ``len(w)``,
    ``w.shape``, ``np.asarray(w)`` (every window at once) as for the ``(n, nb_samp)`` array they stand for.
    The windows of a 20 s clip at 16 kHz, one every sample, would take 61.5 GiB at once: copy a batch at a
    time."""

    def __init__(self, x: np.ndarray, nb_samp: int, starts: Sequence[int] | np.ndarray) -> None:
        self._view = np.lib.stride_tricks.sliding_window_view(x, nb_samp)  # (len(x) - nb_samp + 1, nb_samp)
        self._starts = np.asarray(starts, dtype=np.intp)
        self.shape = (len(self._starts), nb_samp)
        self.dtype = x.dtype
        self.ndim = 2

    def __len__(self) -> int:
        return len(self._starts)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> np.ndarray: ...

    def __getitem__(self, index: int | slice) -> np.ndarray:
        return self._view[self._starts[index]]  # a slice of starts: a copy of those rows; one start: a view

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self._view[s] for s in self._starts)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:  # NumPy 2's protocol: the rows are views of the clip, gathered by copying
            raise ValueError("the windows of a clip cannot be one array without a copy")
        rows = self[:]
        return rows if dtype is None else rows.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"Windows({len(self)} x {self.shape[1]} samples)"
