"""Embedded ASVspoof 2019 LA-style corpus: a generator, so the real pipeline runs anywhere with no download.

``SyntheticCorpus(seed=0, ...)(root)`` writes, under ``root`` (an ``LA`` folder):

- ``ASVspoof2019_LA_{train,dev,eval}/flac/<utt_id>.flac`` (16 kHz, 16-bit FLAC; ids ``LA_T_1234567`` ...),
- ``ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt``
  (``speaker utt_id - attack key``),
- ``ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt`` (synthetic ASV scores:
  target high, non-target low, spoofs in between, so min t-DCF can be computed end to end),
- ``synthetic_corpus.json`` (settings, fingerprint, counts), written last.

CLI: ``aasist-synth --out DIR [--seed N] [--train-bonafide N ...]`` (:mod:`aasist_lightning.cli.synth`).

**Bona fide** speech comes from a Klatt-style source-filter synthesiser (``speech.py``): per-split synthetic
speakers (f0 85-245 Hz and intonation range, vocal-tract length scaling the formants, breathiness, open
quotient, jitter, shimmer, speaking rate, formant bandwidths); utterances of about 1-5 s planned as syllables
of vowels, diphthongs, nasals, liquids, fricatives and stops (closure, burst, aspiration) with phrase breaks
and breaths; formant trajectories smoothed across phones (coarticulation); declination, pitch accents and
drift. Every utterance, bona fide or spoofed, then goes through the same recording channel: a short room
response (RT60 0.08-0.35 s), microphone high-pass / presence EQ / low-pass, background noise at 20-45 dB SNR
(white, pink, brown, sometimes mains hum), a random loudness (-30 to -18 dBFS RMS) and 16-bit quantisation.

**Spoofs** (``attacks.py``; the algorithms are in ``vocoders.py``) plan content from the same distributions
(speakers, durations, phones) and re-synthesise it with one algorithm per attack id. Text-to-speech style
attacks re-synthesise the target speaker's own rendering; voice-conversion style attacks render the content
with another voice and convert it to the target's pitch and formant scale. Each output is matched to its
source's long-term spectrum and energy contour, so what separates it from bona fide speech is the algorithm's
artefacts, not level or colouring. Train and dev use A01-A06; eval uses A07-A19, where A16 = A04 and A19 = A06
(as in ASVspoof 2019) and the rest are algorithms or settings training never sees.

| id | type | algorithm |
|---|---|---|
| A01 | TTS | Griffin-Lim vocoder: STFT magnitude (512/128), 8 fast Griffin-Lim iterations from random phase |
| A02 | TTS | mel-spectrogram inversion: 80 mels (1024/256), pseudo-inverse, 8 Griffin-Lim iterations |
| A03 | TTS | LPC vocoder: order-18 envelope every 5 ms, jitter-free impulse train / white-noise excitation |
| A04 | VC | phase-vocoder pitch + formant shift (x0.8-1.25) of another voice to the target's |
| A05 | TTS | unit selection: mid-phone joins of 1-3 phone units from 3 takes, 0-1 ms fades, level jumps |
| A06 | VC | frequency-warping VC: whole STFT warped x0.83-1.2 (pitch + formants), nearest-bin phase |
| A07 | TTS | harmonic-plus-noise vocoder: jitter-free sinusoids up to 3.5-5.5 kHz, random-phase noise above |
| A08 | TTS | WORLD-like vocoder: minimum-phase cepstral envelope per pulse + band-aperiodicity noise |
| A09 | TTS | Griffin-Lim, unseen settings: 1024/256 STFT, 16 iterations |
| A10 | TTS | mel inversion, unseen settings: 40 mels up to 7 kHz (800/200), 12 Griffin-Lim iterations |
| A11 | TTS | RELP codec: order-12 LPC, residual < 1 kHz decimated + 4-bit, zero-insertion high band |
| A12 | VC | TD-PSOLA pitch conversion (x0.77-1.3) of another voice, formants kept |
| A13 | TTS+VC | unit selection (A05) of another voice, then time-smoothed spectral-envelope filtering VC |
| A14 | TTS | statistical parametric TTS: A08's vocoder with over-smoothed envelope and f0 trajectories |
| A15 | TTS | band-split hybrid: original below 3-4.5 kHz, Griffin-Lim random-phase high band |
| A16 | VC | = A04 (same algorithm and settings) |
| A17 | VC | waveform-filtering VC: envelope-only warp x0.93-1.08 on short frames (256/64), gain ripple |
| A18 | TTS | glottal vocoder: jitter/shimmer-free Rosenberg pulses (fixed open quotient), order-20 LPC |
| A19 | VC | = A06 (same algorithm and settings) |

Shortcut check: ``python -m aasist_lightning.bench.shortcut`` fits a logistic regression on global
features (duration, RMS, peak, spectral centroid, zero-crossing rate, sample rate, bit depth) on train and
reports its dev / eval EER, which must stay near chance (above 25 %).
"""

from aasist_lightning.data.synthetic.attacks import ATTACKS, EVAL_ATTACKS, TRAIN_ATTACKS
from aasist_lightning.data.synthetic.corpus import SyntheticCorpus

__all__ = ["ATTACKS", "EVAL_ATTACKS", "TRAIN_ATTACKS", "SyntheticCorpus"]
