"""Bona fide speech: synthetic speakers, a Klatt-style source-filter synthesiser and the recording channel.

An utterance is planned once (`make_plan`: a phone sequence with durations, formant targets, source
amplitudes and a normalised pitch contour) and rendered for a speaker (`render`: glottal pulses with
jitter/shimmer, aspiration and frication noise, a time-varying cascade of seven formant resonators, lip
radiation). Keeping plan and render apart lets attacks re-render the same content (other speaker, other
prosody) the way TTS/VC systems would. `channel` is the recording chain (room, microphone, noise, loudness,
16-bit) applied identically to bona fide and spoofed audio, so level, noise and colouring carry no
information about the class.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import fft, signal
from scipy.ndimage import gaussian_filter1d

from aasist_lightning.data.synthetic.dsp import SR, allpole_response, frame_filter, resonator_polys

HOP = 80  # control frame: 5 ms
FILTER_HOP = 160  # the vocal-tract filter is updated every 10 ms (formant tracks are smooth)
N_FFT = 800  # per-frame filtering length: a multiple of FILTER_HOP, long enough for narrow formants to decay
REF_BANDWIDTHS = np.array([60.0, 90.0, 120.0, 175.0, 250.0, 350.0, 500.0])
# F5-F7 of the reference (adult male) tract: fixed, they give the vowels their energy above 4 kHz.
HIGH_FORMANTS = (4500.0, 5500.0, 6500.0)

# Reference formants F1-F4 (Hz, adult male; Peterson & Barney style). Diphthongs glide between two vowels.
VOWELS = {
    "i": (270, 2290, 3010, 3500),
    "I": (390, 1990, 2550, 3500),
    "e": (530, 1840, 2480, 3500),
    "ae": (660, 1720, 2410, 3500),
    "a": (730, 1090, 2440, 3500),
    "o": (570, 840, 2410, 3500),
    "U": (440, 1020, 2240, 3500),
    "u": (300, 870, 2240, 3500),
    "V": (640, 1190, 2390, 3500),
    "3": (490, 1350, 1690, 3500),
    "@": (500, 1500, 2500, 3500),
}
DIPHTHONGS = (("a", "i"), ("e", "i"), ("o", "U"), ("a", "U"), ("o", "i"))
# name: (formant locus F1-F4, voicing, frication, frication centre Hz, frication bandwidth Hz)
NASALS = {"m": (250, 1100, 2300, 3300), "n": (250, 1700, 2600, 3400), "N": (250, 2000, 2700, 3400)}
LIQUIDS = {
    "l": (360, 1300, 2800, 3500),
    "r": (420, 1300, 1600, 3300),
    "w": (300, 610, 2200, 3300),
    "j": (260, 2070, 3020, 3500),
}
FRICATIVES = {  # (locus, voicing, frication amplitude, centre, bandwidth)
    "s": ((400, 1700, 2600, 3500), 0.0, 0.9, 5500, 1800),
    "S": ((400, 1800, 2400, 3400), 0.0, 0.8, 3000, 1300),
    "f": ((400, 1000, 2300, 3400), 0.0, 0.35, 6000, 4000),
    "T": ((400, 1400, 2400, 3400), 0.0, 0.3, 5000, 4000),
    "z": ((400, 1700, 2600, 3500), 0.45, 0.6, 5500, 1800),
    "v": ((400, 1000, 2300, 3400), 0.45, 0.25, 5000, 4000),
}
STOPS = {  # (locus, voiced, burst centre, burst bandwidth)
    "p": ((400, 800, 2200, 3300), False, 1200, 2500),
    "t": ((400, 1700, 2600, 3400), False, 4500, 2500),
    "k": ((400, 2000, 2400, 3300), False, 2500, 1200),
    "b": ((400, 800, 2200, 3300), True, 1200, 2500),
    "d": ((400, 1700, 2600, 3400), True, 4500, 2500),
    "g": ((400, 2000, 2400, 3300), True, 2500, 1200),
}
ONSETS = (*NASALS, *LIQUIDS, *FRICATIVES, *STOPS, "h")
CLUSTER_FIRST = ("p", "t", "k", "b", "d", "g", "f", "s", "S")
CODAS = (*NASALS, "l", "r", "s", "z", "f", "v", "T", "p", "t", "k", "d", "g")


@dataclass(frozen=True)
class Speaker:
    """A synthetic talker: the knobs of the source-filter model that differ between people."""

    f0: float  # median f0 (Hz)
    f0_range: float  # intonation excursion (semitones per unit of the plan's pitch contour)
    vtl: float  # formant scale = reference tract length / this tract length (1 = adult male reference)
    breathiness: float  # pulse-synchronous aspiration noise, relative to voicing
    jitter: float  # period-to-period f0 perturbation (relative std)
    shimmer: float  # period-to-period amplitude perturbation (log std)
    open_quotient: float  # open fraction of the glottal cycle
    rate: float  # speaking rate (> 1 is faster)
    bandwidth: float  # formant bandwidth scale


def sample_speaker(rng: np.random.Generator) -> Speaker:
    """Draw a speaker: half low-pitched with longer tracts, half high-pitched with shorter; traits vary."""
    high = rng.random() < 0.5
    return Speaker(
        f0=float(rng.uniform(165, 245) if high else rng.uniform(85, 145)),
        f0_range=float(rng.uniform(1.5, 4.0)),
        vtl=float(rng.uniform(1.08, 1.22) if high else rng.uniform(0.9, 1.04)),
        breathiness=float(rng.uniform(0.03, 0.3)),
        jitter=float(rng.uniform(0.003, 0.015)),
        shimmer=float(rng.uniform(0.02, 0.09)),
        open_quotient=float(rng.uniform(0.4, 0.75)),
        rate=float(rng.uniform(0.85, 1.2)),
        bandwidth=float(rng.uniform(0.8, 1.35)),
    )


@dataclass
class Plan:
    """Speaker-independent content at control-frame rate (HOP samples); formants of the reference tract."""

    formants: np.ndarray  # (frames, 4) Hz
    voicing: np.ndarray  # (frames,) glottal source amplitude
    aspiration: np.ndarray  # (frames,) aspiration noise amplitude (through the formants)
    frication: np.ndarray  # (frames,) frication noise amplitude (parallel resonance)
    fric_freq: np.ndarray  # (frames,) Hz
    fric_bw: np.ndarray  # (frames,) Hz
    pitch: np.ndarray  # (frames,) normalised pitch contour (0 = speaker median)
    boundaries: np.ndarray  # start frame of every phone segment (unit-selection join points)

    @property
    def n_samples(self) -> int:
        return len(self.voicing) * HOP


@dataclass
class Rendered:
    """A rendered utterance and the ground-truth source parameters vocoders would otherwise estimate."""

    audio: np.ndarray  # float64, plan.n_samples
    f0: np.ndarray  # (frames,) Hz, the smooth contour without jitter
    voiced: np.ndarray  # (frames,) bool
    epochs: np.ndarray  # sample index of each glottal cycle start


class _Builder:
    """Accumulates phone segments (step targets) for make_plan."""

    def __init__(self) -> None:
        self.rows: list[
            tuple
        ] = []  # (frames, f_start, f_end, voicing, aspiration, frication, ff, fbw, accent)

    def add(
        self, ms: float, formants=None, end=None, av=0.0, ah=0.0, af=0.0, ff=4000.0, fbw=2000.0, accent=0.0
    ):
        frames = max(1, round(ms / (1000 * HOP / SR)))
        self.rows.append((frames, formants, formants if end is None else end, av, ah, af, ff, fbw, accent))

    @property
    def frames(self) -> int:
        return sum(r[0] for r in self.rows)


def _syllable(b: _Builder, rng: np.random.Generator, rate: float, stressed: bool, final: bool) -> None:
    scale = 1.0 / rate
    n_onset = rng.choice(3, p=[0.25, 0.55, 0.2])
    onset = []
    if n_onset == 2:
        onset = [rng.choice(CLUSTER_FIRST), rng.choice(("l", "r", "w"))]
    elif n_onset == 1:
        onset = [rng.choice(ONSETS)]
    if rng.random() < 0.2:
        first, second = DIPHTHONGS[rng.integers(len(DIPHTHONGS))]
        vowel = (VOWELS[first], VOWELS[second])
        v_ms = rng.uniform(140, 220)
    else:
        name = rng.choice(list(VOWELS))
        vowel = (VOWELS[name], VOWELS[name])
        v_ms = rng.uniform(70, 150)
    # Token variability: no two realisations of a vowel are identical.
    jitter = rng.normal(1.0, 0.04, 4)
    vowel = (np.array(vowel[0]) * jitter, np.array(vowel[1]) * jitter)
    v_ms *= (1.3 if stressed else 1.0) * (1.4 if final else 1.0)
    for phone in onset:
        _consonant(b, rng, phone, scale, next_vowel=vowel[0], onset=True)
    amp = 1.0 if stressed else rng.uniform(0.55, 0.8)
    accent = rng.uniform(0.6, 1.6) if stressed else 0.0
    b.add(v_ms * scale, vowel[0], vowel[1], av=amp, accent=accent)
    if rng.random() < 0.5:
        _consonant(b, rng, rng.choice(CODAS), scale, next_vowel=vowel[1], onset=False)


def _consonant(b: _Builder, rng, phone: str, scale: float, next_vowel, onset: bool) -> None:
    if phone in NASALS:
        b.add(rng.uniform(50, 90) * scale, NASALS[phone], av=rng.uniform(0.3, 0.45))
    elif phone in LIQUIDS:
        b.add(rng.uniform(40, 80) * scale, LIQUIDS[phone], av=rng.uniform(0.5, 0.7))
    elif phone in FRICATIVES:
        locus, av, af, ff, fbw = FRICATIVES[phone]
        b.add(rng.uniform(70, 140) * scale, locus, av=av, af=af * rng.uniform(0.7, 1.2), ff=ff, fbw=fbw)
    elif phone == "h":
        b.add(rng.uniform(50, 90) * scale, next_vowel, ah=rng.uniform(0.25, 0.4))
    else:
        locus, voiced, ff, fbw = STOPS[phone]
        b.add(rng.uniform(40, 80) * scale, locus, av=0.08 if voiced else 0.0)  # closure (voice bar if voiced)
        b.add(rng.uniform(8, 15), locus, af=rng.uniform(0.6, 1.0), ff=ff, fbw=fbw)  # release burst
        if onset and not voiced:
            b.add(rng.uniform(25, 60) * scale, next_vowel, ah=rng.uniform(0.2, 0.35))


def make_plan(rng: np.random.Generator, speaker: Speaker, duration: float) -> Plan:
    """Plan an utterance of about `duration` seconds (silences included) spoken at the speaker's rate."""
    b = _Builder()
    lead, trail = rng.uniform(0.12, 0.45), rng.uniform(0.12, 0.4)
    b.add(lead * 1000)
    frame_s = HOP / SR
    phrase_starts = [b.frames]
    while True:
        n_syll = int(rng.choice([1, 1, 2, 2, 3]))
        stress = rng.integers(n_syll)
        words_end = (b.frames * frame_s + 0.25 * n_syll) >= duration - trail
        for i in range(n_syll):
            _syllable(b, rng, speaker.rate, stressed=i == stress, final=words_end and i == n_syll - 1)
        if b.frames * frame_s >= duration - trail - 0.15:
            break
        if rng.random() < 0.25:  # phrase break, sometimes with an audible breath
            pause = rng.uniform(120, 350)
            if pause > 220 and rng.random() < 0.5:
                b.add(pause * 0.6, VOWELS["@"], ah=rng.uniform(0.04, 0.1))
                b.add(pause * 0.4)
            else:
                b.add(pause)
            phrase_starts.append(b.frames)
    b.add(max(trail * 1000, duration * 1000 - b.frames * frame_s * 1000))

    n = b.frames
    formants = np.full((n, 4), np.nan)
    tracks = np.zeros((6, n))  # voicing, aspiration, frication, fric centre, fric bandwidth, accent
    boundaries = []
    pos = 0
    for frames, f_start, f_end, av, ah, af, ff, fbw, accent in b.rows:
        boundaries.append(pos)
        if f_start is not None:
            w = np.linspace(0, 1, frames)[:, None]
            formants[pos : pos + frames] = (1 - w) * np.asarray(f_start) + w * np.asarray(f_end)
        tracks[:, pos : pos + frames] = np.array([av, ah, af, ff, fbw, 0.0])[:, None]
        if accent:
            tracks[5, pos + frames // 2] = accent
        pos += frames
    # Silences take the formants of their neighbours, then smoothing gives coarticulated transitions.
    valid = ~np.isnan(formants[:, 0])
    idx = np.arange(n)
    for k in range(4):
        formants[:, k] = np.interp(idx, idx[valid], formants[valid, k])
    formants = gaussian_filter1d(formants, 3.5, axis=0, mode="nearest")
    voicing = gaussian_filter1d(tracks[0], 1.2, mode="nearest")
    aspiration = gaussian_filter1d(tracks[1], 1.2, mode="nearest")
    frication = gaussian_filter1d(tracks[2], 0.8, mode="nearest")
    fric_freq = gaussian_filter1d(tracks[3], 1.0, mode="nearest")
    fric_bw = gaussian_filter1d(tracks[4], 1.0, mode="nearest")

    # Pitch: declination per phrase, accents on stressed vowels, slow drift, a final fall (or question rise).
    pitch = np.zeros(n)
    edges = [*phrase_starts, n]
    for start, stop in itertools.pairwise(edges):
        pitch[start:stop] = np.linspace(0.7, -0.7, stop - start)
    pitch += gaussian_filter1d(tracks[5], rng.uniform(10, 20), mode="constant") * rng.uniform(20, 35)
    drift = gaussian_filter1d(rng.standard_normal(n), 20, mode="nearest")
    pitch += 0.25 * drift / (drift.std() + 1e-9)
    tail = min(n, 60)
    pitch[-tail:] += np.linspace(0, 1.0 if rng.random() < 0.15 else -0.6, tail)
    return Plan(formants, voicing, aspiration, frication, fric_freq, fric_bw, pitch, np.array(boundaries))


def rosenberg(frac: np.ndarray, open_quotient: float) -> np.ndarray:
    """Rosenberg glottal-flow pulse at cycle phase `frac` in [0, 1): opening, faster closing, closed phase."""
    rise, fall = 0.6 * open_quotient, 0.4 * open_quotient
    opening = 0.5 * (1 - np.cos(np.pi * frac / rise))
    closing = np.cos(0.5 * np.pi * np.clip(frac - rise, 0, fall) / fall)
    return np.where(frac < rise, opening, np.where(frac < open_quotient, closing, 0.0))


def glottal_phase(f0_samples: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Running glottal phase (cycles) for a per-sample f0 with per-cycle jitter."""
    phase = np.cumsum(f0_samples / SR)
    perturb = 1 + jitter * rng.standard_normal(int(phase[-1]) + 2)
    return np.cumsum(f0_samples / SR * perturb[phase.astype(np.int64)])


def render(
    plan: Plan, speaker: Speaker, rng: np.random.Generator, *, f0_scale: float = 1.0, vtl_scale: float = 1.0
) -> Rendered:
    """Synthesise the plan with a speaker (f0_scale / vtl_scale alter pitch / tract for prosody variants)."""
    n = plan.n_samples
    n_frames = len(plan.voicing)
    frame_pos = np.arange(n_frames) * HOP
    idx = np.arange(n)
    f0_frames = np.clip(speaker.f0 * f0_scale * 2 ** (plan.pitch * speaker.f0_range / 12), 55, 420)
    f0 = np.interp(idx, frame_pos, f0_frames)
    phase = glottal_phase(f0, speaker.jitter, rng)
    cycle = phase.astype(np.int64)
    frac = phase - cycle
    shimmer = np.exp(speaker.shimmer * rng.standard_normal(cycle[-1] + 1))
    pulse = rosenberg(frac, speaker.open_quotient) * shimmer[cycle]
    voicing = np.interp(idx, frame_pos, plan.voicing)
    breath = np.interp(idx, frame_pos, plan.aspiration) + speaker.breathiness * voicing * (0.4 + pulse)
    source = pulse * voicing + 0.12 * breath * rng.standard_normal(n)

    vtl = speaker.vtl * vtl_scale
    step = FILTER_HOP // HOP
    formants = plan.formants[::step]
    freqs = np.concatenate([formants, np.broadcast_to(HIGH_FORMANTS, (len(formants), 3))], axis=1) * vtl
    freqs = np.minimum(freqs, 7600.0)
    bws = np.broadcast_to(REF_BANDWIDTHS * speaker.bandwidth, freqs.shape) * (1 + 0.3 * (vtl - 1))
    radiation = 1 - 0.98 * np.exp(-2j * np.pi * np.fft.rfftfreq(N_FFT))
    tract = allpole_response(resonator_polys(freqs, bws), N_FFT) * radiation
    fric_freq = np.minimum(plan.fric_freq[::step] * vtl, 7200.0)
    fric = (
        allpole_response(resonator_polys(fric_freq[:, None], plan.fric_bw[::step, None]), N_FFT) * radiation
    )
    # Unit peak gain for frication (the resonator polynomial is DC-normalised).
    fric *= 0.04 / (np.abs(fric).max(axis=1, keepdims=True) + 1e-12)
    noise = np.interp(idx, frame_pos, plan.frication) * rng.standard_normal(n)
    # Most frames have no frication: filter only those whose window (+-1 filter frame) has some.
    active = np.convolve(np.abs(plan.frication[::step]) > 1e-4, np.ones(3), mode="same") > 0
    audio = frame_filter([(source, tract), (noise, fric)], FILTER_HOP, rows=np.flatnonzero(active))
    voiced = plan.voicing > 0.2
    epochs = np.flatnonzero(np.diff(cycle)) + 1
    return Rendered(audio, f0_frames, voiced, epochs)


def _rbj_peaking(freq: float, gain_db: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Peaking-EQ biquad (RBJ audio-EQ cookbook)."""
    a_gain = 10 ** (gain_db / 40)
    w = 2 * np.pi * freq / SR
    alpha = np.sin(w) / (2 * q)
    b = np.array([1 + alpha * a_gain, -2 * np.cos(w), 1 - alpha * a_gain])
    a = np.array([1 + alpha / a_gain, -2 * np.cos(w), 1 - alpha / a_gain])
    return b / a[0], a / a[0]


def channel(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Recording chain shared by every utterance: room, microphone, noise, loudness; returns int16 samples."""
    n = len(x)
    # Room: direct path, a few early reflections, an exponentially decaying diffuse tail.
    rt60 = rng.uniform(0.08, 0.35)
    length = int(0.5 * rt60 * SR)
    t = np.arange(length) / SR
    tail = rng.standard_normal(length) * 10 ** (-3 * t / rt60)
    tail[: int(0.002 * SR)] = 0.0
    tail *= np.sqrt(10 ** (-rng.uniform(6, 20) / 10) / np.sum(tail**2))
    ir = tail
    ir[0] = 1.0
    for _ in range(rng.integers(2, 6)):
        ir[int(rng.uniform(0.002, 0.02) * SR)] += rng.uniform(-0.4, 0.4)
    y = signal.fftconvolve(x, ir)[:n]
    # Microphone / preamp: high-pass, a presence peak or dip, anti-alias low-pass.
    y = signal.sosfilt(signal.butter(2, rng.uniform(40, 150), "highpass", fs=SR, output="sos"), y)
    b, a = _rbj_peaking(rng.uniform(800, 6000), rng.uniform(-5, 5), rng.uniform(0.7, 2.0))
    y = signal.lfilter(b, a, y)
    y = signal.sosfilt(signal.butter(4, rng.uniform(6800, 7800), "lowpass", fs=SR, output="sos"), y)
    # Background noise (mixture of white, pink and brown) at a random SNR, occasionally mains hum.
    n_fast = fft.next_fast_len(n, real=True)
    spec = fft.rfft(rng.standard_normal(n_fast))
    f = np.maximum(np.fft.rfftfreq(n_fast, 1 / SR), 20.0)
    mix = rng.dirichlet(np.ones(3))
    noise = fft.irfft(spec * (mix[0] + mix[1] * np.sqrt(1000 / f) + mix[2] * (200 / f)), n=n_fast)[:n]
    if rng.random() < 0.2:
        mains = rng.choice([50.0, 60.0])
        ts = np.arange(n) / SR
        noise += sum(np.sin(2 * np.pi * mains * h * ts + rng.uniform(0, 6.3)) / h for h in (1, 2, 3)) * 0.3
    speech_rms = np.sqrt(np.mean(y**2)) + 1e-12
    snr = rng.uniform(20, 45)
    y = y + noise * speech_rms / (np.sqrt(np.mean(noise**2)) + 1e-12) * 10 ** (-snr / 20)
    # Loudness: a random RMS level, limited by the peak.
    y *= 10 ** (rng.uniform(-30, -18) / 20) / (np.sqrt(np.mean(y**2)) + 1e-12)
    peak = np.max(np.abs(y))
    if peak > 0.98:
        y *= 0.98 / peak
    return np.round(y * 32767).astype(np.int16)
