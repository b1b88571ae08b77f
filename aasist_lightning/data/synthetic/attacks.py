"""Spoofing attacks: the ASVspoof 2019 LA attack ids, each mapped onto an algorithm of ``vocoders.py``.

Every attack receives the *content* of an utterance (a speaker-independent `Plan`) and the target speaker,
renders a bona-fide-like source with the same synthesiser as bona fide speech (text-to-speech style attacks
render the target speaker; voice-conversion style attacks render a different source voice and convert it),
and re-synthesises it. The result is then matched to the source's long-term spectrum and energy contour (what
a TTS/VC system trained on the target speaker achieves) and goes through the same recording channel as bona
fide audio, so the artefacts left are the algorithm's own: lost or random phase, smeared harmonics, buzzy or
regular excitation, joins, envelope/excitation mismatch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from aasist_lightning.data.synthetic.dsp import fit_length
from aasist_lightning.data.synthetic.speech import Plan, Rendered, Speaker, render
from aasist_lightning.data.synthetic.vocoders import (
    band_split_hybrid,
    concatenate_units,
    envelope_warp,
    frequency_warp_vc,
    glottal_vocoder,
    griffin_lim_vocoder,
    harmonic_vocoder,
    lpc_vocoder,
    match_energy,
    match_ltas,
    mel_vocoder,
    phase_vocoder_shift,
    psola_shift,
    pulse_vocoder,
    relp_codec,
)


@dataclass(frozen=True)
class AttackInput:
    """What an attack works from: the content, the target voice, a donor voice for VC sources, an rng."""

    plan: Plan
    speaker: Speaker
    donor: Speaker
    rng: np.random.Generator


@dataclass(frozen=True)
class Attack:
    """One attack id: its family, a one-line description (docs, README) and the algorithm, which returns
    (the source it re-synthesised, the dry spoof)."""

    family: str
    description: str
    fn: Callable[[AttackInput], tuple[np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------------------------- sources
def _tts_source(inp: AttackInput) -> Rendered:
    """Text-to-speech style: the target speaker's own voice is what the vocoder re-synthesises."""
    return render(inp.plan, inp.speaker, inp.rng)


def _vc_source(inp: AttackInput, f0_ratio: float = 1.0, vtl_ratio: float = 1.0) -> Rendered:
    """Voice-conversion style: a source voice (the donor's voice quality) that conversion by
    (f0_ratio, vtl_ratio) maps onto the target speaker's pitch and formant scale."""
    source = replace(
        inp.donor,
        f0=inp.speaker.f0 / f0_ratio,
        vtl=inp.speaker.vtl / vtl_ratio,
        f0_range=inp.speaker.f0_range,
        rate=inp.speaker.rate,
    )
    return render(inp.plan, source, inp.rng)


def _ratio(rng: np.random.Generator, low: float, high: float) -> float:
    """A conversion ratio away from 1, up or down with equal probability."""
    r = rng.uniform(low, high)
    return r if rng.random() < 0.5 else 1.0 / r


# --------------------------------------------------------------------------------------------- attack ids
def _a01(inp):
    x = _tts_source(inp).audio
    return x, griffin_lim_vocoder(x, inp.rng, 512, 128, 8)


def _a02(inp):
    x = _tts_source(inp).audio
    return x, mel_vocoder(x, inp.rng, 1024, 256, 80, 8000.0, 8)


def _a03(inp):
    src = _tts_source(inp)
    return src.audio, lpc_vocoder(src.audio, src, inp.rng, 18)


def _a04(inp):
    q = _ratio(inp.rng, 1.08, 1.25)
    x = _vc_source(inp, f0_ratio=q, vtl_ratio=q).audio
    return x, phase_vocoder_shift(x, q)


def _a05(inp):
    out = concatenate_units(inp.plan, inp.speaker, inp.rng)
    return out, out


def _a06(inp):
    beta = _ratio(inp.rng, 1.06, 1.2)
    x = _vc_source(inp, f0_ratio=beta, vtl_ratio=beta).audio
    return x, frequency_warp_vc(x, beta)


def _a07(inp):
    src = _tts_source(inp)
    return src.audio, harmonic_vocoder(src.audio, src, inp.rng)


def _a08(inp):
    src = _tts_source(inp)
    return src.audio, pulse_vocoder(src.audio, src, inp.rng, n_ceps=40)


def _a09(inp):
    x = _tts_source(inp).audio
    return x, griffin_lim_vocoder(x, inp.rng, 1024, 256, 16)


def _a10(inp):
    x = _tts_source(inp).audio
    return x, mel_vocoder(x, inp.rng, 800, 200, 40, 7000.0, 12)


def _a11(inp):
    src = _tts_source(inp)
    return src.audio, relp_codec(src.audio, src, inp.rng)


def _a12(inp):
    r = _ratio(inp.rng, 1.1, 1.3)
    src = _vc_source(inp, f0_ratio=r)
    return src.audio, psola_shift(src.audio, src, r)


def _a13(inp):
    beta = _ratio(inp.rng, 1.05, 1.15)
    source = replace(inp.donor, f0=inp.speaker.f0, vtl=inp.speaker.vtl / beta, f0_range=inp.speaker.f0_range)
    joined = concatenate_units(inp.plan, source, inp.rng)
    return joined, envelope_warp(joined, beta, 512, 128, smooth=1.0)


def _a14(inp):
    src = _tts_source(inp)
    return src.audio, pulse_vocoder(src.audio, src, inp.rng, n_ceps=20, time_smooth=3.0, f0_flatten=0.6)


def _a15(inp):
    x = _tts_source(inp).audio
    return x, band_split_hybrid(x, inp.rng)


def _a17(inp):
    beta = _ratio(inp.rng, 1.03, 1.08)
    x = _vc_source(inp, vtl_ratio=beta).audio
    return x, envelope_warp(x, beta, 256, 64, smooth=0.0, rng=inp.rng, wobble=0.1)


def _a18(inp):
    src = _tts_source(inp)
    return src.audio, glottal_vocoder(src.audio, src, inp.rng)


ATTACKS: dict[str, Attack] = {
    "A01": Attack(
        "TTS",
        "Griffin-Lim vocoder: STFT magnitude (512/128), 8 fast Griffin-Lim iterations from random phase",
        _a01,
    ),
    "A02": Attack(
        "TTS", "mel-spectrogram inversion: 80 mels (1024/256), pseudo-inverse, 8 Griffin-Lim iterations", _a02
    ),
    "A03": Attack(
        "TTS",
        "LPC vocoder: order-18 envelope every 5 ms, jitter-free impulse train / white-noise excitation",
        _a03,
    ),
    "A04": Attack(
        "VC", "phase-vocoder pitch + formant shift (x0.8-1.25) of another voice to the target's", _a04
    ),
    "A05": Attack(
        "TTS",
        "unit selection: mid-phone joins of 1-3 phone units from 3 takes, 0-1 ms fades, level jumps",
        _a05,
    ),
    "A06": Attack(
        "VC", "frequency-warping VC: whole STFT warped x0.83-1.2 (pitch + formants), nearest-bin phase", _a06
    ),
    "A07": Attack(
        "TTS",
        "harmonic-plus-noise vocoder: jitter-free sinusoids up to 3.5-5.5 kHz, random-phase noise above",
        _a07,
    ),
    "A08": Attack(
        "TTS", "WORLD-like vocoder: minimum-phase cepstral envelope per pulse + band-aperiodicity noise", _a08
    ),
    "A09": Attack("TTS", "Griffin-Lim, unseen settings: 1024/256 STFT, 16 iterations", _a09),
    "A10": Attack(
        "TTS",
        "mel inversion, unseen settings: 40 mels up to 7 kHz (800/200), 12 Griffin-Lim iterations",
        _a10,
    ),
    "A11": Attack(
        "TTS", "RELP codec: order-12 LPC, residual < 1 kHz decimated + 4-bit, zero-insertion high band", _a11
    ),
    "A12": Attack("VC", "TD-PSOLA pitch conversion (x0.77-1.3) of another voice, formants kept", _a12),
    "A13": Attack(
        "TTS+VC",
        "unit selection (A05) of another voice, then time-smoothed spectral-envelope filtering VC",
        _a13,
    ),
    "A14": Attack(
        "TTS",
        "statistical parametric TTS: A08's vocoder with over-smoothed envelope and f0 trajectories",
        _a14,
    ),
    "A15": Attack(
        "TTS", "band-split hybrid: original below 3-4.5 kHz, Griffin-Lim random-phase high band", _a15
    ),
    "A16": Attack("VC", "= A04 (same algorithm and settings)", _a04),
    "A17": Attack(
        "VC",
        "waveform-filtering VC: envelope-only warp x0.93-1.08 on short frames (256/64), gain ripple",
        _a17,
    ),
    "A18": Attack(
        "TTS",
        "glottal vocoder: jitter/shimmer-free Rosenberg pulses (fixed open quotient), order-20 LPC",
        _a18,
    ),
    "A19": Attack("VC", "= A06 (same algorithm and settings)", _a06),
}
TRAIN_ATTACKS = tuple(f"A{i:02d}" for i in range(1, 7))
EVAL_ATTACKS = tuple(f"A{i:02d}" for i in range(7, 20))


def synthesize_attack(attack: str, inp: AttackInput) -> np.ndarray:
    """Dry (pre-channel) spoofed waveform for `attack`, matched to its source's spectrum and energy."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack id {attack!r}; expected one of {', '.join(ATTACKS)}")
    reference, spoof = ATTACKS[attack].fn(inp)
    n = inp.plan.n_samples
    spoof = fit_length(np.nan_to_num(spoof), n)
    return match_energy(match_ltas(spoof, reference), reference)
