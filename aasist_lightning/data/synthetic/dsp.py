"""Vectorised signal-processing blocks shared by the speech synthesiser and the attacks (numpy/scipy only)."""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np
import soxr
from scipy import fft

SR = 16_000


@cache
def hann(n: int) -> np.ndarray:
    """Periodic Hann window (sums to a constant at 50 % / 75 % overlap). Cached: do not modify it."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


@cache
def _hann32(n: int) -> np.ndarray:
    return hann(n).astype(np.float32)


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred STFT with a periodic Hann window: (frames, n_fft // 2 + 1) complex64.

    Single precision halves the cost of the FFT-heavy vocoders; its error is far below 16-bit resolution.
    """
    xp = np.pad(x.astype(np.float32), n_fft // 2, mode="reflect")
    n_frames = 1 + (len(xp) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop][:n_frames]
    return fft.rfft(frames * _hann32(n_fft), axis=1)


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """Overlap-add frames (n, L) at `hop`; L must be a multiple of hop (vectorised by block reshaping)."""
    n, length = frames.shape
    blocks = length // hop
    out = np.zeros((n + blocks - 1, hop), frames.dtype)
    parts = frames.reshape(n, blocks, hop)
    for j in range(blocks):
        out[j : j + n] += parts[:, j]
    return out.ravel()


@lru_cache(maxsize=256)
def _window_norm(n_fft: int, hop: int, n_frames: int) -> np.ndarray:
    norm = _overlap_add(np.tile(_hann32(n_fft) ** 2, (n_frames, 1)), hop)
    return np.maximum(norm, 1e-8)


def istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Inverse of `stft` (weighted overlap-add, window-square normalised), cut to `length` samples."""
    frames = fft.irfft(spec.astype(np.complex64, copy=False), n=n_fft, axis=1) * _hann32(n_fft)
    y = _overlap_add(frames, hop) / _window_norm(n_fft, hop, spec.shape[0])
    y = y[n_fft // 2 : n_fft // 2 + length].astype(np.float64)
    return np.pad(y, (0, length - len(y)))


def frame_filter(
    pairs: list[tuple[np.ndarray, np.ndarray]], hop: int, rows: np.ndarray | None = None
) -> np.ndarray:
    """Time-varying linear filtering of one or more signals, summed: sum_k x_k filtered by responses_k.

    Hann frames of x (length 2*hop, centred on i*hop) are convolved with filter i, given as its rfft frequency
    response (frames, n_fft // 2 + 1) with n_fft a multiple of hop, long enough for the impulse responses to
    decay. The windows sum to one, so a constant filter reproduces plain convolution. ``rows`` (optional, for
    the last pair only) lists the frames where that signal is non-zero, to skip the silent ones.
    """
    n = len(pairs[0][0])
    n_frames, n_bins = pairs[0][1].shape
    n_fft = 2 * (n_bins - 1)
    win = _hann32(2 * hop)
    total = np.zeros((n_frames, n_bins), np.complex64)
    for k, (x, responses) in enumerate(pairs):
        xp = np.zeros((n_frames + 1) * hop, np.float32)
        xp[hop : hop + min(n, n_frames * hop)] = x[: n_frames * hop]
        blocks = xp.reshape(n_frames + 1, hop)
        frames = np.concatenate([blocks[:-1], blocks[1:]], axis=1) * win
        if rows is not None and k == len(pairs) - 1:
            total[rows] += fft.rfft(frames[rows], n=n_fft, axis=1) * responses[rows]
        else:
            total += fft.rfft(frames, n=n_fft, axis=1) * responses
    return _overlap_add(fft.irfft(total, n=n_fft, axis=1), hop)[hop : hop + n].astype(np.float64)


def allpole_response(a: np.ndarray, n_fft: int) -> np.ndarray:
    """Frequency responses 1 / A(e^jw) of per-frame all-pole filters a (frames, order + 1), complex64.

    Single precision is 5x faster here and accurate to ~0.03 dB for the formant filters (poles r < 0.995).
    """
    padded = np.zeros((a.shape[0], n_fft), np.float32)
    padded[:, : a.shape[1]] = a
    return np.reciprocal(fft.rfft(padded, axis=1))


def resonator_polys(freqs: np.ndarray, bws: np.ndarray) -> np.ndarray:
    """Per-frame denominator polynomial of cascaded two-pole resonators, each with unit gain at DC.

    freqs, bws: (frames, k) in Hz. Returns a (frames, 2k + 1), normalised so A(1) = 1 (cascade formant
    synthesiser convention: formant peaks rise above a flat low-frequency level).
    """
    r = np.exp(-np.pi * bws / SR)
    c1 = -2 * r * np.cos(2 * np.pi * freqs / SR)
    c2 = r**2
    a = np.ones((freqs.shape[0], 1))
    for k in range(freqs.shape[1]):
        nxt = np.zeros((a.shape[0], a.shape[1] + 2))
        nxt[:, :-2] += a
        nxt[:, 1:-1] += a * c1[:, k : k + 1]
        nxt[:, 2:] += a * c2[:, k : k + 1]
        a = nxt
    return a / a.sum(axis=1, keepdims=True)


def lpc(frames: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation LPC of windowed frames (n, L), Levinson-Durbin vectorised over frames.

    Returns (a (n, order + 1) with a[:, 0] = 1, prediction-error power (n,)).
    """
    n_fft = 1 << int(np.ceil(np.log2(2 * frames.shape[1])))
    spec = np.fft.rfft(frames, n=n_fft, axis=1)
    r = np.fft.irfft(np.abs(spec) ** 2, n=n_fft, axis=1)[:, : order + 1]
    r[:, 0] = r[:, 0] * (1 + 1e-6) + 1e-9  # white-noise floor keeps the recursion stable on silence
    a = np.zeros((frames.shape[0], order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, order + 1):
        k = -(np.sum(a[:, :i] * r[:, i:0:-1], axis=1)) / err
        a[:, 1 : i + 1] = a[:, 1 : i + 1] + k[:, None] * a[:, i - 1 :: -1][:, :i]
        err = err * (1 - k**2)
    return a, err


def frames_of(x: np.ndarray, length: int, hop: int, n_frames: int) -> np.ndarray:
    """Hann-windowed analysis frames centred on i*hop, i < n_frames (zero-padded at the edges)."""
    xp = np.pad(x, (length // 2, length + n_frames * hop))
    view = np.lib.stride_tricks.sliding_window_view(xp, length)[::hop][:n_frames]
    return view * hann(length)


def cepstral_envelope(mag: np.ndarray, n_ceps: int) -> np.ndarray:
    """Log-magnitude spectral envelope by cepstral liftering of |X| (frames, bins): smooth log|X|."""
    n_fft = 2 * (mag.shape[1] - 1)
    cep = np.fft.irfft(np.log(mag + 1e-9), n=n_fft, axis=1)
    cep[:, n_ceps : n_fft - n_ceps + 1] = 0.0
    return np.fft.rfft(cep, n=n_fft, axis=1).real


def minimum_phase(log_mag: np.ndarray) -> np.ndarray:
    """Minimum-phase spectra (frames, bins) with the given natural-log magnitude (cepstral folding)."""
    n_fft = 2 * (log_mag.shape[1] - 1)
    cep = np.fft.irfft(log_mag, n=n_fft, axis=1)
    fold = np.zeros_like(cep)
    fold[:, 0] = cep[:, 0]
    fold[:, 1 : n_fft // 2] = 2 * cep[:, 1 : n_fft // 2]
    fold[:, n_fft // 2] = cep[:, n_fft // 2]
    return np.exp(np.fft.rfft(fold, n=n_fft, axis=1))


def mel_filterbank(n_fft: int, n_mels: int, fmax: float) -> np.ndarray:
    """Triangular, area-normalised mel filterbank (n_mels, n_fft // 2 + 1), HTK mel scale, fmin = 0."""
    mel = np.linspace(0.0, 2595 * np.log10(1 + fmax / 700), n_mels + 2)
    hz = 700 * (10 ** (mel / 2595) - 1)
    bins = np.fft.rfftfreq(n_fft, 1 / SR)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    tri = np.maximum(0, np.minimum((bins - lower) / (centre - lower), (upper - bins) / (upper - centre)))
    return tri * (2.0 / (upper - lower))


def griffin_lim(
    mag: np.ndarray, n_fft: int, hop: int, length: int, n_iter: int, rng: np.random.Generator
) -> np.ndarray:
    """Fast Griffin-Lim (Perraudin et al., momentum 0.99) from random phase."""
    angles = np.exp(2j * np.pi * rng.random(mag.shape)).astype(np.complex64)
    previous = np.zeros_like(angles)
    for _ in range(n_iter):
        rebuilt = stft(istft(mag * angles, n_fft, hop, length), n_fft, hop)
        angles = rebuilt - (0.99 / 1.99) * previous
        angles /= np.abs(angles) + 1e-12
        previous = rebuilt
    return istft(mag * angles, n_fft, hop, length)


def resample(x: np.ndarray, ratio: float) -> np.ndarray:
    """Resample by `ratio` (output length ~ len(x) * ratio); soxr is deterministic and fast."""
    return soxr.resample(x, SR, SR * ratio, quality="HQ")


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad to exactly n samples."""
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))
