"""Vocoder-style re-synthesis algorithms behind the attacks, and the matching that gives a spoof its source's
long-term spectrum and energy contour (so only the algorithm's artefacts tell it apart).

Each algorithm is a pure function of its input waveform (and the rendering it came from, where it needs the
f0 contour, voicing or cycle marks) and an rng; ``attacks.py`` maps attack ids onto them.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from functools import cache

import numpy as np
from scipy import fft, signal
from scipy.ndimage import gaussian_filter1d

from aasist_lightning.data.synthetic.dsp import (
    SR,
    allpole_response,
    cepstral_envelope,
    fit_length,
    frame_filter,
    frames_of,
    griffin_lim,
    hann,
    istft,
    lpc,
    mel_filterbank,
    minimum_phase,
    resample,
    stft,
)
from aasist_lightning.data.synthetic.speech import HOP, Plan, Rendered, Speaker, render, rosenberg


def _per_sample(track: np.ndarray, n: int, hop: int = HOP) -> np.ndarray:
    return np.interp(np.arange(n), np.arange(len(track)) * hop, track)


def _pulse_times(f0: np.ndarray, voiced: np.ndarray, n: int) -> np.ndarray:
    """Perfectly regular excitation instants (no jitter) from the smooth f0 contour, voiced frames only."""
    phase = np.cumsum(_per_sample(f0, n) / SR)
    starts = np.flatnonzero(np.diff(phase.astype(np.int64))) + 1
    return starts[_per_sample(voiced.astype(float), n)[starts] > 0.5]


# --------------------------------------------------------------------------------------------- matching
def match_energy(y: np.ndarray, ref: np.ndarray, hop: int = 160) -> np.ndarray:
    """Give y the frame energy contour of ref (smooth gains within +-20 dB)."""
    n_frames = len(ref) // hop + 1
    e_ref = np.sqrt(np.mean(frames_of(ref, 2 * hop, hop, n_frames) ** 2, axis=1) + 1e-10)
    e_y = np.sqrt(np.mean(frames_of(y, 2 * hop, hop, n_frames) ** 2, axis=1) + 1e-10)
    gain = np.clip(gaussian_filter1d(np.log(e_ref / e_y), 1.0), -2.3, 2.3)
    return y * np.exp(_per_sample(gain, len(y), hop))


def match_ltas(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Give y the long-term average spectrum of ref with a smooth zero-phase EQ (gains within +-12 dB)."""
    n_fft = 1024
    p_ref = np.mean(np.abs(stft(ref, n_fft, 256)) ** 2, axis=0)
    p_y = np.mean(np.abs(stft(y, n_fft, 256)) ** 2, axis=0)
    gain = 0.5 * np.log((p_ref + 1e-10) / (p_y + 1e-10))
    gain = np.clip(gaussian_filter1d(gain, 12.0), -1.4, 1.4)
    n_fast = fft.next_fast_len(len(y), real=True)
    spec = fft.rfft(y, n=n_fast)
    bins = np.linspace(0, len(gain) - 1, len(spec))
    return fft.irfft(spec * np.exp(np.interp(bins, np.arange(len(gain)), gain)), n=n_fast)[: len(y)]


# --------------------------------------------------------------------------------------------- algorithms
def griffin_lim_vocoder(x: np.ndarray, rng, n_fft: int, hop: int, n_iter: int) -> np.ndarray:
    """Magnitude-only STFT vocoder: the phase is re-estimated by fast Griffin-Lim from random phase."""
    return griffin_lim(np.abs(stft(x, n_fft, hop)), n_fft, hop, len(x), n_iter, rng)


@cache
def _mel_inverse(n_fft: int, n_mels: int, fmax: float) -> tuple[np.ndarray, np.ndarray]:
    fb = mel_filterbank(n_fft, n_mels, fmax)
    return fb, np.linalg.pinv(fb)


def mel_vocoder(
    x: np.ndarray, rng, n_fft: int, hop: int, n_mels: int, fmax: float, n_iter: int
) -> np.ndarray:
    """Mel-spectrogram inversion: pseudo-inverse of the mel filterbank, then Griffin-Lim phase."""
    fb, inv = _mel_inverse(n_fft, n_mels, fmax)
    mel = np.abs(stft(x, n_fft, hop)) @ fb.T
    mag = np.maximum(mel @ inv.T, 1e-3 * mel.max(initial=1e-9) / n_mels)
    return griffin_lim(mag, n_fft, hop, len(x), n_iter, rng)


def lpc_vocoder(x: np.ndarray, src: Rendered, rng, order: int) -> np.ndarray:
    """LPC vocoder: all-pole envelope every 5 ms, excited by a jitter-free impulse train or white noise."""
    n = len(x)
    n_frames = len(src.f0)
    a, err = lpc(frames_of(x, 400, HOP, n_frames), order)
    gain = np.sqrt(err / np.sum(hann(400) ** 2))
    excitation = rng.standard_normal(n) * (1 - _per_sample(src.voiced.astype(float), n))
    pulses = _pulse_times(src.f0, src.voiced, n)
    excitation[pulses] = np.sqrt(SR / _per_sample(src.f0, n)[pulses])
    return frame_filter([(excitation, gain[:, None] * allpole_response(a, 800))], HOP)


def phase_vocoder_shift(x: np.ndarray, ratio: float, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Pitch and formant shift by `ratio`: phase-vocoder time stretch, then resampling back to the length."""
    spec = stft(x, n_fft, hop)
    steps = np.arange(0, spec.shape[0] - 1, 1.0 / ratio)
    i0 = steps.astype(np.int64)
    frac = (steps - i0)[:, None]
    mag = (1 - frac) * np.abs(spec[i0]) + frac * np.abs(spec[i0 + 1])
    omega = 2 * np.pi * hop * np.arange(spec.shape[1]) / n_fft
    dphi = np.angle(spec[i0 + 1]) - np.angle(spec[i0]) - omega
    dphi = dphi - 2 * np.pi * np.round(dphi / (2 * np.pi)) + omega
    phase = np.angle(spec[0]) + np.concatenate([np.zeros((1, spec.shape[1])), np.cumsum(dphi, axis=0)[:-1]])
    stretched = istft(mag * np.exp(1j * phase), n_fft, hop, round(len(x) * ratio))
    return fit_length(resample(stretched, 1.0 / ratio), len(x))


def envelope_warp(
    x: np.ndarray, beta: float, n_fft: int, hop: int, smooth: float, rng=None, wobble: float = 0.0
) -> np.ndarray:
    """Spectral-filtering voice conversion: each frame is filtered by (envelope warped by beta) / envelope.

    `smooth` (frames) over-smooths the filter in time; `wobble` adds a random per-frame log-gain ripple.
    """
    spec = stft(x, n_fft, hop)
    env = cepstral_envelope(np.abs(spec), 30 * n_fft // 512)
    bins = np.arange(spec.shape[1])
    warped = np.stack([np.interp(bins / beta, bins, row) for row in env])
    log_ratio = np.clip(warped - env, -3.0, 3.0)
    if smooth:
        log_ratio = gaussian_filter1d(log_ratio, smooth, axis=0)
    if wobble:
        log_ratio += gaussian_filter1d(rng.normal(0, wobble, log_ratio.shape), 2.0, axis=1)
    return istft(spec * np.exp(log_ratio), n_fft, hop, len(x))


def frequency_warp_vc(x: np.ndarray, beta: float, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Frequency-warping (VTLN-style) voice conversion of the whole STFT: every bin takes the magnitude at
    bin / beta and the phase of the nearest source bin, without phase-vocoder correction (phasiness)."""
    spec = stft(x, n_fft, hop)
    src = np.arange(spec.shape[1]) / beta
    lo = np.minimum(src.astype(np.int64), spec.shape[1] - 2)
    frac = np.clip(src - lo, 0.0, 1.0)
    mag = (1 - frac) * np.abs(spec[:, lo]) + frac * np.abs(spec[:, lo + 1])
    mag[:, src > spec.shape[1] - 1] = 0.0
    phase = np.angle(spec[:, np.minimum(np.round(src).astype(np.int64), spec.shape[1] - 1)])
    return istft(mag * np.exp(1j * phase), n_fft, hop, len(x))


def concatenate_units(
    plan: Plan, speaker: Speaker, rng: np.random.Generator, n_variants: int = 3
) -> np.ndarray:
    """Unit selection: the content rendered from several "database" takes (other prosody and voice quality);
    diphone-like runs of 1-3 phones, cut mid-phone, come from a different take each time and are butt-joined
    (0-1 ms crossfade), so pitch, glottal phase, voice quality, level and noise jump inside the phones."""
    variants = []
    for _ in range(n_variants):
        take = replace(
            speaker,
            open_quotient=float(np.clip(speaker.open_quotient + rng.uniform(-0.08, 0.08), 0.35, 0.8)),
            breathiness=speaker.breathiness * rng.uniform(0.7, 1.3),
        )
        f0_scale = 2 ** (rng.uniform(-2.0, 2.0) / 12)
        variants.append(render(plan, take, rng, f0_scale=f0_scale, vtl_scale=rng.uniform(0.97, 1.03)).audio)
    n = plan.n_samples
    edges = np.append(plan.boundaries, len(plan.voicing))
    joins = (edges[:-1] + edges[1:]) // 2 * HOP
    cuts = [0]
    i = 0
    while i < len(joins):
        cuts.append(int(joins[i]))
        i += int(rng.integers(1, 4))
    cuts.append(n)
    out = np.zeros(n)
    choice = 0
    for start, stop in itertools.pairwise(cuts):
        choice = (choice + rng.integers(1, n_variants)) % n_variants
        fade = int(rng.integers(0, 17))
        lo = max(0, start - fade)
        ramp = np.full(stop - lo, 10 ** (rng.uniform(-2.5, 2.5) / 20))  # units differ in level too
        if fade and start > 0:
            ramp[: start - lo] *= np.linspace(0, 1, start - lo, endpoint=False)
            out[lo:start] *= np.linspace(1, 0, start - lo, endpoint=False)
        out[lo:stop] += variants[choice][lo:stop] * ramp
    return out


def pulse_vocoder(
    x: np.ndarray, src: Rendered, rng, n_ceps: int, time_smooth: float = 0.0, f0_flatten: float = 1.0
) -> np.ndarray:
    """WORLD-like vocoder: a minimum-phase response from the cepstral envelope is placed at every
    (jitter-free) pulse, plus envelope-shaped noise weighted by a band aperiodicity. time_smooth / f0_flatten
    < 1 give the over-smoothed trajectories of statistical parametric TTS."""
    n_fft, hop = 1024, 128
    n = len(x)
    mag = np.abs(stft(x, n_fft, hop))
    log_env = cepstral_envelope(mag, n_ceps)
    if time_smooth:
        log_env = gaussian_filter1d(log_env, time_smooth, axis=0)
    freqs = np.fft.rfftfreq(n_fft, 1 / SR)
    voiced = np.interp(
        np.arange(len(log_env)) * hop, np.arange(len(src.voiced)) * HOP, src.voiced.astype(float)
    )
    aperiodicity = np.clip(0.05 + (1 - voiced)[:, None] + 0.8 / (1 + np.exp(-(freqs - 4000) / 800)), 0, 1)
    periodic = minimum_phase(log_env + 0.5 * np.log(1 - aperiodicity**2 + 1e-6))
    impulses = fft.irfft(periodic, n=n_fft, axis=1)[:, :512] * hann(1024)[512:]
    f0 = src.f0
    if time_smooth or f0_flatten != 1.0:
        log_f0 = gaussian_filter1d(np.log(f0), 8.0)
        f0 = np.exp(log_f0.mean() + f0_flatten * (log_f0 - log_f0.mean()))
    # A pulse train of height c and period T has harmonics of amplitude 2c/T, i.e. STFT peaks c*sum(w)/T.
    win_sum = np.sum(hann(n_fft))
    out = np.zeros(n + 512)
    f0_samples = _per_sample(f0, n)
    for t in _pulse_times(f0, src.voiced, n):
        out[t : t + 512] += impulses[min(t // hop, len(impulses) - 1)] * (SR / f0_samples[t]) / win_sum
    # White noise has STFT magnitude ~ sqrt(sum w^2); rescale so the noise part's magnitude is the envelope.
    noise = stft(rng.standard_normal(n), n_fft, hop) * np.exp(log_env) * aperiodicity
    return out[:n] + istft(noise, n_fft, hop, n) / np.sqrt(np.sum(hann(n_fft) ** 2))


def harmonic_vocoder(x: np.ndarray, src: Rendered, rng) -> np.ndarray:
    """Harmonic-plus-noise model: jitter-free sinusoids at multiples of f0 up to a maximum voiced frequency,
    amplitudes read from the STFT peaks; above it (and in unvoiced frames) random-phase noise."""
    n_fft, hop = 1024, 128
    n = len(x)
    spec = stft(x, n_fft, hop)
    mag = np.abs(spec)
    max_voiced = rng.uniform(3500, 5500)
    frame_f0 = np.interp(np.arange(len(mag)) * hop, np.arange(len(src.f0)) * HOP, src.f0)
    frame_voiced = np.interp(
        np.arange(len(mag)) * hop, np.arange(len(src.f0)) * HOP, src.voiced.astype(float)
    )
    n_harm = int(max_voiced / src.f0.min())
    h = np.arange(1, n_harm + 1)[:, None]
    bins = np.clip(np.round(h * frame_f0 * n_fft / SR).astype(np.int64), 1, mag.shape[1] - 2)
    cols = np.arange(len(mag))
    peak = np.maximum(np.maximum(mag[cols, bins - 1], mag[cols, bins]), mag[cols, bins + 1])
    amp = 2 * peak / np.sum(hann(n_fft)) * frame_voiced * (h * frame_f0 < max_voiced)
    phase = 2 * np.pi * np.cumsum(_per_sample(src.f0, n) / SR)
    offsets = rng.uniform(0, 2 * np.pi, n_harm)
    out = np.zeros(n)
    grid = np.arange(len(mag)) * hop
    idx = np.arange(n)
    for k in range(n_harm):
        a = np.interp(idx, grid, amp[k])
        if a.any():
            out += a * np.cos((k + 1) * phase + offsets[k])
    freqs = np.fft.rfftfreq(n_fft, 1 / SR)
    noise_mask = np.maximum(1 - frame_voiced[:, None], (freqs >= max_voiced)[None, :])
    noise = mag * noise_mask * np.exp(2j * np.pi * rng.random(mag.shape))
    return out + istft(noise, n_fft, hop, n)


def relp_codec(x: np.ndarray, src: Rendered, rng) -> np.ndarray:
    """Residual-excited LPC codec: the LPC residual is kept only below 1 kHz, decimated, coarsely quantised
    and upsampled by zero insertion, whose spectral images regenerate (inharmonically) the high band."""
    n = len(x)
    n_frames = len(src.f0)
    a, _ = lpc(frames_of(x, 320, HOP, n_frames), 12)
    inverse = fft.rfft(a, n=800, axis=1)
    residual = frame_filter([(x, inverse)], HOP)
    base = signal.sosfiltfilt(signal.butter(8, 900, fs=SR, output="sos"), residual)[::8]
    blocks = np.array_split(base, max(1, len(base) // 40))  # 20 ms adaptive quantiser blocks
    levels = 2**4
    quantised = np.concatenate(
        [
            np.round(b / (np.abs(b).max() + 1e-9) * (levels / 2)) / (levels / 2) * np.abs(b).max()
            for b in blocks
        ]
    )
    excitation = np.zeros(n)
    excitation[::8] = quantised[: len(excitation[::8])] * 8
    return frame_filter([(excitation, allpole_response(a, 800))], HOP)


def psola_shift(x: np.ndarray, src: Rendered, ratio: float) -> np.ndarray:
    """TD-PSOLA pitch conversion: two-period Hann grains at the source's cycle marks are overlap-added at
    marks spaced by period / ratio in voiced regions (unvoiced regions keep their spacing)."""
    n = len(x)
    marks = src.epochs
    periods = np.diff(marks, prepend=marks[0] - (marks[1] - marks[0]))
    voiced = _per_sample(src.voiced.astype(float), n) > 0.5
    out = np.zeros(n)
    t = float(marks[0])
    while t < n:
        k = min(np.searchsorted(marks, t), len(marks) - 1)
        m, p = int(marks[k]), int(max(periods[k], 16))
        lo, hi = max(0, m - p), min(n, m + p)
        grain = x[lo:hi] * hann(2 * p)[lo - (m - p) : 2 * p - ((m + p) - hi)]
        start = round(t) - (m - lo)
        a, b = max(0, start), min(n, start + len(grain))
        if b > a:
            out[a:b] += grain[a - start : b - start]
        t += p / ratio if voiced[min(int(t), n - 1)] else p
    return out


def band_split_hybrid(x: np.ndarray, rng, n_iter: int = 4) -> np.ndarray:
    """Original low band, random-phase high band (as noisy neural vocoders): Griffin-Lim on the high band
    only, the low band pinned to the original STFT at every iteration."""
    n_fft, hop = 512, 128
    spec = stft(x, n_fft, hop)
    freqs = np.fft.rfftfreq(n_fft, 1 / SR)
    low = 1 / (1 + np.exp((freqs - rng.uniform(3000, 4500)) / 150))
    mag = np.abs(spec)
    est = spec * low + mag * (1 - low) * np.exp(2j * np.pi * rng.random(mag.shape))
    for _ in range(n_iter):
        rebuilt = stft(istft(est, n_fft, hop, len(x)), n_fft, hop)
        est = spec * low + mag * (1 - low) * np.exp(1j * np.angle(rebuilt))
    return istft(est, n_fft, hop, len(x))


def glottal_vocoder(x: np.ndarray, src: Rendered, rng) -> np.ndarray:
    """Glottal-excitation vocoder (GlottHMM style): jitter- and shimmer-free Rosenberg pulses with a fixed
    open quotient plus steady aspiration, through the signal's LPC envelope."""
    n = len(x)
    phase = np.cumsum(_per_sample(src.f0, n) / SR)
    voiced = _per_sample(src.voiced.astype(float), n)
    flow = rosenberg(phase - np.floor(phase), 0.6) * voiced
    excitation = np.diff(flow, prepend=0.0) * 20 + 0.03 * rng.standard_normal(n) * (0.3 + voiced)
    a, err = lpc(frames_of(x, 400, HOP, len(src.f0)), 20)
    gain = np.sqrt(err / np.sum(hann(400) ** 2))
    return frame_filter([(excitation, gain[:, None] * allpole_response(a, 800))], HOP)
