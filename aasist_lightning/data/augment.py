"""Waveform augmentations (config group ``augment/``), applied to training clips only.

Every augmentation is a callable ``aug(x, rng) -> y``: ``x`` a float32 1-D waveform (never modified),
``rng`` a ``numpy.random.Generator`` the dataset derives from (seed, epoch, sample index), so runs are
reproducible whatever the number of workers, and every sample and epoch gets its own draw.

RawBoost follows Tak et al., "RawBoost: A Raw Data Boosting and Augmentation Method applied to Automatic
Speaker Verification Anti-Spoofing", ICASSP 2022, as implemented in TakHemlata/SSL_Anti-spoofing
(``RawBoost.py``, ``process_Rawboost_feature``) with that work's default parameters; the only change
is the explicit generator instead of the global ``np.random`` state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import scipy.fft

from aasist_lightning.data.audio import SAMPLE_RATE
from aasist_lightning.values import is_integer, is_real

Augmentation = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _require(ok: bool, setting: str, rule: str) -> None:
    """The ValueError naming an augmentation setting (``name=value``) and what it must be."""
    if not ok:
        raise ValueError(f"augment.{setting} {rule}")


def _check_range(low_name: str, low: float, high_name: str, high: float) -> None:
    _require(
        is_real(low) and is_real(high), f"{low_name}={low!r}, {high_name}={high!r}", "must be finite numbers"
    )
    _require(low <= high, f"{low_name}={low!r}", f"must be <= augment.{high_name}={high!r}")


def _check_count(name: str, value: int, least: int) -> None:
    _require(
        is_integer(value) and value >= least,
        f"{name}={value!r}",
        f"must be an integer >= {least}",
    )


def _check_share(name: str, value: float, top: float) -> None:
    _require(is_real(value) and 0 <= value <= top, f"{name}={value!r}", f"must be a number in [0, {top:g}]")


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    # Written out (not rng.uniform) because RawBoost relies on low > high working for the non-linear gains.
    return low + (high - low) * rng.random()


def _norm_wav(x: np.ndarray, always: bool) -> np.ndarray:
    peak = np.max(np.abs(x))
    return x / peak if always or peak > 1 else x


def _bandstop_fir(numtaps: int, f1: float, f2: float, fs: float) -> np.ndarray:
    """``scipy.signal.firwin(numtaps, [f1, f2], window="hamming", fs=fs)`` (a band-stop: pass_zero is
    True) written out in numpy: the same windowed-sinc formula, without firwin's per-call overhead."""
    nyq = fs / 2
    left = np.array([0.0, f2 / nyq])[:, None]
    right = np.array([f1 / nyq, 1.0])[:, None]
    m = np.arange(numtaps) - (numtaps - 1) / 2
    h = (right * np.sinc(right * m) - left * np.sinc(left * m)).sum(axis=0) * np.hamming(numtaps)
    return h / h.sum()  # unit gain at DC, as firwin scales a pass-zero filter


def _notch_coeffs(rng: np.random.Generator, p: RawBoost, min_g: float, max_g: float) -> np.ndarray:
    """FIR coefficients of ``n_bands`` cascaded random notch filters with a random gain (genNotchCoeffs)."""
    b = np.ones(1)
    fs = p.sr
    for _ in range(p.n_bands):
        fc = _uniform(rng, p.min_f, p.max_f)
        bw = _uniform(rng, p.min_bw, p.max_bw)
        c = int(_uniform(rng, p.min_coeff, p.max_coeff))
        c += 1 - c % 2  # a band-stop FIR needs an odd number of taps
        f1 = fc - bw / 2 if fc - bw / 2 > 0 else 1 / 1000
        f2 = fc + bw / 2 if fc + bw / 2 < fs / 2 else fs / 2 - 1 / 1000
        b = np.convolve(_bandstop_fir(c, f1, f2, fs), b)
    gain = _uniform(rng, min_g, max_g)
    # max |H| over freqz's default 512 frequencies in [0, fs/2), which freqz takes from a 1024-point FFT.
    peak = np.max(np.abs(scipy.fft.rfft(b, 1024)[:512]))
    return 10 ** (gain / 20) * b / peak


def _filter_fir_sum(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """``sum(filterFIR(x, b) for x, b in pairs)`` with RawBoost's filterFIR (pad with len(b)+1 zeros,
    lfilter, drop (len(b)+1)//2 samples at the start; same length as x), computed by FFT: each filter is
    advanced by its delay and the products are summed before one inverse FFT."""
    n = pairs[0][0].shape[0]
    size = scipy.fft.next_fast_len(n + max(b.shape[0] for _, b in pairs), real=True)
    total = 0
    for x, b in pairs:
        delay = (b.shape[0] + 1) // 2
        advanced = np.zeros(size)
        advanced[: b.shape[0]] = b
        total = total + scipy.fft.rfft(x, size) * scipy.fft.rfft(np.roll(advanced, -delay))
    return scipy.fft.irfft(total, size)[:n]


class RawBoost:
    """RawBoost algorithms 0-8 (``algo``), parameters named after the original arguments.

    1 linear and non-linear convolutive noise (LnL), 2 impulsive signal-dependent noise (ISD),
    3 stationary signal-independent noise (SSI), 4 = 1+2+3 in series, 5 = 1+2, 6 = 1+3, 7 = 2+3,
    8 = 1 and 2 in parallel (summed, then peak-normalised); 0 leaves the signal as it is.
    Original names: N_f, nBands, minF, maxF, minBW, maxBW, minCoeff, maxCoeff, minG, maxG,
    minBiasLinNonLin, maxBiasLinNonLin, P, g_sd, SNRmin, SNRmax.
    """

    def __init__(
        self,
        algo: int = 5,
        n_f: int = 5,
        n_bands: int = 5,
        min_f: float = 20,
        max_f: float = 8000,
        min_bw: float = 100,
        max_bw: float = 1000,
        min_coeff: int = 10,
        max_coeff: int = 100,
        min_g: float = 0,
        max_g: float = 0,
        min_bias_lin_nonlin: float = 5,
        max_bias_lin_nonlin: float = 20,
        p: float = 10,
        g_sd: float = 2,
        snr_min: float = 10,
        snr_max: float = 40,
        sr: int = SAMPLE_RATE,
    ) -> None:
        if not (is_integer(algo) and 0 <= algo <= 8):
            raise ValueError(
                f"augment.algo={algo!r} must be 0-8 (the RawBoost algorithms, see conf/augment/rawboost.yaml)"
            )
        _check_count("n_f", n_f, 1)
        _check_count("n_bands", n_bands, 1)
        _check_count("sr", sr, 1)  # the notch filters' sampling rate, Hz
        # FIR taps: int(uniform(min, max)) made odd; a negative count makes an empty filter.
        _check_count("min_coeff", min_coeff, 1)
        _check_count("max_coeff", max_coeff, 1)
        for low_name, low, high_name, high in (
            ("min_f", min_f, "max_f", max_f),
            ("min_bw", min_bw, "max_bw", max_bw),
            ("min_coeff", min_coeff, "max_coeff", max_coeff),
            ("min_g", min_g, "max_g", max_g),
            ("min_bias_lin_nonlin", min_bias_lin_nonlin, "max_bias_lin_nonlin", max_bias_lin_nonlin),
            ("snr_min", snr_min, "snr_max", snr_max),
        ):
            _check_range(low_name, low, high_name, high)
        # Notch centres lie in [0, sr/2] (past Nyquist the band edges cross and the filter is no notch);
        # a negative width swaps the edges likewise.
        _require(min_f >= 0, f"min_f={min_f!r}", "must be >= 0 (a notch centre frequency, Hz)")
        _require(
            max_f <= sr / 2,
            f"max_f={max_f!r}",
            f"must be <= augment.sr/2 = {sr / 2:g} (the Nyquist frequency of augment.sr={sr!r})",
        )
        _require(min_bw >= 0, f"min_bw={min_bw!r}", "must be >= 0 (a notch bandwidth, Hz)")
        _check_share("p", p, 100)  # the largest share of samples ISD alters, in %
        _require(is_real(g_sd) and g_sd >= 0, f"g_sd={g_sd!r}", "must be a number >= 0")
        self.algo = algo
        self.n_f, self.n_bands = n_f, n_bands
        self.min_f, self.max_f, self.min_bw, self.max_bw = min_f, max_f, min_bw, max_bw
        self.min_coeff, self.max_coeff, self.min_g, self.max_g = min_coeff, max_coeff, min_g, max_g
        self.min_bias_lin_nonlin, self.max_bias_lin_nonlin = min_bias_lin_nonlin, max_bias_lin_nonlin
        self.p, self.g_sd, self.snr_min, self.snr_max, self.sr = p, g_sd, snr_min, snr_max, sr

    def __repr__(self) -> str:
        return f"RawBoost(algo={self.algo})"

    def lnl_convolutive_noise(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pairs = []
        min_g, max_g = self.min_g, self.max_g
        power = np.ones_like(x)
        for i in range(self.n_f):
            if i == 1:  # the non-linear terms are attenuated relative to the linear one
                min_g, max_g = min_g - self.min_bias_lin_nonlin, max_g - self.max_bias_lin_nonlin
            power = power * x  # x ** (i + 1), by products (np.power with an int exponent is slow)
            pairs.append((power, _notch_coeffs(rng, self, min_g, max_g)))
        y = _filter_fir_sum(pairs)
        return _norm_wav(y - np.mean(y), always=False)

    def isd_additive_noise(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        beta = _uniform(rng, 0, self.p)
        n = int(x.shape[0] * beta / 100)
        pos = rng.choice(x.shape[0], size=n, replace=False)
        f_r = (2 * rng.random(n) - 1) * (2 * rng.random(n) - 1)
        y = x.copy()
        y[pos] = x[pos] + self.g_sd * x[pos] * f_r
        return _norm_wav(y, always=False)

    def ssi_additive_noise(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noise = rng.normal(0, 1, x.shape[0])
        noise = _filter_fir_sum([(noise, _notch_coeffs(rng, self, self.min_g, self.max_g))])
        noise = _norm_wav(noise, always=True)
        snr = _uniform(rng, self.snr_min, self.snr_max)
        noise = noise / np.linalg.norm(noise, 2) * np.linalg.norm(x, 2) / 10.0 ** (0.05 * snr)
        return x + noise

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        y = x.astype(np.float64)
        a = self.algo
        if a == 8:
            y = _norm_wav(self.lnl_convolutive_noise(y, rng) + self.isd_additive_noise(y, rng), always=False)
        else:
            if a in (1, 4, 5, 6):
                y = self.lnl_convolutive_noise(y, rng)
            if a in (2, 4, 5, 7):
                y = self.isd_additive_noise(y, rng)
            if a in (3, 4, 6, 7):
                y = self.ssi_additive_noise(y, rng)
        return y.astype(np.float32)


class FreqMaskWave:
    """SpecAugment-style frequency masking on the waveform: zero ``num_masks`` random bands of the spectrum.

    Each band is ``min_width_hz``..``max_width_hz`` wide at a uniformly random position below Nyquist;
    applied with probability ``p``.
    """

    def __init__(
        self,
        min_width_hz: float = 100,
        max_width_hz: float = 1000,
        num_masks: int = 1,
        p: float = 1.0,
        sr: int = SAMPLE_RATE,
    ) -> None:
        if not 0 <= min_width_hz <= max_width_hz < sr / 2:
            raise ValueError(
                f"freq_mask_wave min_width_hz={min_width_hz}, max_width_hz={max_width_hz} must satisfy "
                f"0 <= min <= max < sr/2 = {sr / 2}"
            )
        _check_count("num_masks", num_masks, 0)
        _check_share("p", p, 1)
        self.min_width_hz, self.max_width_hz, self.num_masks, self.p, self.sr = (
            min_width_hz,
            max_width_hz,
            num_masks,
            p,
            sr,
        )

    def __repr__(self) -> str:
        return f"FreqMaskWave({self.min_width_hz}-{self.max_width_hz} Hz x{self.num_masks}, p={self.p})"

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.p:
            return x
        spec = np.fft.rfft(x)
        hz_per_bin = self.sr / x.shape[0]
        nyquist = self.sr / 2
        for _ in range(self.num_masks):
            width = _uniform(rng, self.min_width_hz, self.max_width_hz)
            low = _uniform(rng, 0, nyquist - width)
            spec[int(low / hz_per_bin) : int(np.ceil((low + width) / hz_per_bin)) + 1] = 0
        return np.fft.irfft(spec, n=x.shape[0]).astype(np.float32)


class RandomGain:
    """Multiply by a gain drawn uniformly in ``min_db``..``max_db`` dB, with probability ``p``."""

    def __init__(self, min_db: float = -6.0, max_db: float = 6.0, p: float = 1.0) -> None:
        _check_range("min_db", min_db, "max_db", max_db)
        _check_share("p", p, 1)
        self.min_db, self.max_db, self.p = min_db, max_db, p

    def __repr__(self) -> str:
        return f"RandomGain({self.min_db}..{self.max_db} dB, p={self.p})"

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.p:
            return x
        return (x * 10 ** (_uniform(rng, self.min_db, self.max_db) / 20)).astype(np.float32)


class Compose:
    """Apply augmentations in order, sharing one generator. ``transforms``: a sequence, or a mapping
    name -> augmentation applied in its order (so configs can address each part by name)."""

    def __init__(self, transforms: Sequence[Augmentation] | Mapping[str, Augmentation]) -> None:
        self.transforms = list(transforms.values() if isinstance(transforms, Mapping) else transforms)

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for t in self.transforms:
            x = t(x, rng)
        return x
