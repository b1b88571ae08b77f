"""Audio I/O: any soundfile format -> float32 mono at 16 kHz, and the official fixed-length rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16000
NB_SAMP = 64600  # ~4 s at 16 kHz, the official AASIST input length


class AudioError(ValueError):
    """An audio file that cannot be used (missing, unreadable, empty, NaN/inf); the message names it."""


def load_audio(path: str | Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Read ``path`` as float32 mono at ``sr`` Hz.

    Integer PCM is scaled to [-1, 1] (soundfile), channels are averaged, other rates are resampled
    with soxr. A clip shorter than one output sample becomes that one sample.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file {path} does not exist")
    try:
        data, file_sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError) as e:
        raise AudioError(
            f"cannot read audio file {path} ({e}); is it a valid audio file (FLAC, WAV, OGG, ...)?"
        ) from e
    if data.size == 0:
        raise AudioError(f"audio file {path} contains no samples")
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
