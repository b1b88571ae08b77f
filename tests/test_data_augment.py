"""Augmentations: RawBoost algorithms 1-8, waveform frequency masking, random gain and their configs."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from scipy import signal

from aasist_lightning.data import Compose, FreqMaskWave, RandomGain, RawBoost, load_audio, pad_or_crop

N = 16000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """A speech-like harmonic signal with a little noise (one second, peak < 1)."""
    t = np.arange(N) / 16000
    f0 = 120 + 20 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    x = sum(np.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    x = x + 0.01 * np.random.default_rng(0).standard_normal(N)
    return (0.6 * x / np.max(np.abs(x))).astype(np.float32)


@pytest.mark.parametrize("algo", range(1, 9))
def test_rawboost_algorithms(speech: np.ndarray, algo: int) -> None:
    rb = RawBoost(algo=algo)
    before = speech.copy()
    y = rb(speech, np.random.default_rng(1))
    np.testing.assert_array_equal(speech, before)  # the input is left alone
    assert y.shape == speech.shape and y.dtype == np.float32
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y - speech)) > 1e-3  # it changes the signal
    np.testing.assert_array_equal(y, rb(speech, np.random.default_rng(1)))  # reproducible under a seed
    assert not np.array_equal(y, rb(speech, np.random.default_rng(2)))  # another seed, another draw


def test_rawboost_on_real_speech(shared_dir: Path) -> None:
    x = pad_or_crop(load_audio(shared_dir / "audio/vctk_p225/p225_001_mic1.flac"), 64600)
    for algo in (4, 8):
        y = RawBoost(algo=algo)(x, np.random.default_rng(0))
        assert y.shape == x.shape and np.all(np.isfinite(y)) and not np.array_equal(x, y)


def test_rawboost_algo_0_and_validation(speech: np.ndarray) -> None:
    np.testing.assert_array_equal(RawBoost(algo=0)(speech, np.random.default_rng(0)), speech)
    with pytest.raises(ValueError, match=r"augment\.algo=9 must be 0-8"):
        RawBoost(algo=9)


def test_rawboost_ssi_snr(speech: np.ndarray) -> None:
    rb = RawBoost(algo=3, snr_min=20, snr_max=20)
    noise = rb(speech, np.random.default_rng(0)) - speech
    snr = 10 * np.log10(np.sum(speech.astype(np.float64) ** 2) / np.sum(noise.astype(np.float64) ** 2))
    assert snr == pytest.approx(20, abs=0.05)


def test_freq_mask_wave_zeroes_a_band(speech: np.ndarray) -> None:
    aug = FreqMaskWave(min_width_hz=400, max_width_hz=400)
    white = np.random.default_rng(0).standard_normal(N).astype(np.float32)
    y = aug(white, np.random.default_rng(3))
    assert y.shape == white.shape and y.dtype == np.float32
    zero = np.abs(np.fft.rfft(y)) < 1e-3
    # Longest run of zeroed bins (1 Hz per bin here): the 400 Hz band.
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], zero.astype(int), [0]]))))[::2]
    assert 400 <= runs.max() <= 402
    np.testing.assert_array_equal(y, aug(white, np.random.default_rng(3)))
    np.testing.assert_array_equal(FreqMaskWave(p=0.0)(speech, np.random.default_rng(0)), speech)
    with pytest.raises(ValueError, match="max_width_hz=9000"):
        FreqMaskWave(max_width_hz=9000)


def test_random_gain(speech: np.ndarray) -> None:
    aug = RandomGain(min_db=-6, max_db=6)
    ratios = []
    for seed in range(20):
        y = aug(speech, np.random.default_rng(seed))
        ratios.append(np.max(np.abs(y)) / np.max(np.abs(speech)))
    db = 20 * np.log10(ratios)
    assert db.min() >= -6 - 1e-4 and db.max() <= 6 + 1e-4 and db.max() - db.min() > 3
    with pytest.raises(ValueError, match="min_db=3"):
        RandomGain(min_db=3, max_db=0)


def test_compose_order(speech: np.ndarray) -> None:
    calls: list[str] = []

    def tag(name: str):
        def aug(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            calls.append(name)
            return x * 2

        return aug

    y = Compose({"a": tag("a"), "b": tag("b")})(speech, np.random.default_rng(0))
    assert calls == ["a", "b"]
    np.testing.assert_allclose(y, speech * 4)
    assert len(Compose([tag("c")]).transforms) == 1


SSL_DEFAULTS = {  # main_SSL_LA.py argparse defaults, by their original names
    "algo": 5,
    "N_f": 5,
    "nBands": 5,
    "minF": 20,
    "maxF": 8000,
    "minBW": 100,
    "maxBW": 1000,
    "minCoeff": 10,
    "maxCoeff": 100,
    "minG": 0,
    "maxG": 0,
    "minBiasLinNonLin": 5,
    "maxBiasLinNonLin": 20,
    "P": 10,
    "g_sd": 2,
    "SNRmin": 10,
    "SNRmax": 40,
}


def _compose_augment(repo_root: Path, name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(repo_root / "conf/augment"), version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


def test_augment_configs(repo_root: Path) -> None:
    rb = instantiate(_compose_augment(repo_root, "rawboost"))
    assert isinstance(rb, RawBoost)
    ours = [
        "algo", "n_f", "n_bands", "min_f", "max_f", "min_bw", "max_bw", "min_coeff", "max_coeff", "min_g",
        "max_g", "min_bias_lin_nonlin", "max_bias_lin_nonlin", "p", "g_sd", "snr_min", "snr_max",
    ]  # fmt: skip
    assert dict(zip(SSL_DEFAULTS, (getattr(rb, k) for k in ours), strict=True)) == SSL_DEFAULTS
    assert isinstance(instantiate(_compose_augment(repo_root, "freq_mask_wave")), FreqMaskWave)
    assert isinstance(instantiate(_compose_augment(repo_root, "gain")), RandomGain)
    assert _compose_augment(repo_root, "none").get("augment", "missing") is None
    with initialize_config_dir(config_dir=str(repo_root / "conf"), version_base="1.3"):
        cfg = compose(
            config_name=None, overrides=["+augment=rawboost_mask_gain", "augment.transforms.rawboost.algo=3"]
        )
    combo = instantiate(cfg.augment, _convert_="all")
    assert [type(t) for t in combo.transforms] == [RawBoost, FreqMaskWave, RandomGain]
    assert combo.transforms[0].algo == 3 and combo.transforms[1].p == 0.5


# RawBoost.py (TakHemlata/SSL_Anti-spoofing) transcribed with scipy's firwin / freqz / lfilter as in the
# original; only the global np.random calls are replaced by the same draws from an explicit generator.
def _ref_rand_range(rng, x1, x2, integer):
    # np.random.uniform(x1, x2) = x1 + (x2 - x1) * U, also for x1 > x2 (Generator.uniform refuses that).
    y = x1 + (x2 - x1) * rng.random()
    return int(y) if integer else y


def _ref_norm_wav(x, always):
    if always:
        return x / np.amax(abs(x))
    return x / np.amax(abs(x)) if np.amax(abs(x)) > 1 else x


def _ref_gen_notch_coeffs(rng, n_bands, min_f, max_f, min_bw, max_bw, min_coeff, max_coeff, min_g, max_g, fs):
    b = 1
    for _ in range(n_bands):
        fc = _ref_rand_range(rng, min_f, max_f, 0)
        bw = _ref_rand_range(rng, min_bw, max_bw, 0)
        c = _ref_rand_range(rng, min_coeff, max_coeff, 1)
        if c / 2 == int(c / 2):
            c = c + 1
        f1 = fc - bw / 2
        f2 = fc + bw / 2
        if f1 <= 0:
            f1 = 1 / 1000
        if f2 >= fs / 2:
            f2 = fs / 2 - 1 / 1000
        b = np.convolve(signal.firwin(c, [float(f1), float(f2)], window="hamming", fs=fs), b)
    g = _ref_rand_range(rng, min_g, max_g, 0)
    _, h = signal.freqz(b, 1, fs=fs)
    return pow(10, g / 20) * b / np.amax(abs(h))


def _ref_filter_fir(x, b):
    n = b.shape[0] + 1
    y = signal.lfilter(b, 1, np.pad(x, (0, n), "constant"))
    return y[int(n / 2) : int(y.shape[0] - n / 2)]


def _ref_lnl(rng, x, p):
    y = [0] * x.shape[0]
    min_g, max_g = p["min_g"], p["max_g"]
    for i in range(p["n_f"]):
        if i == 1:
            min_g = min_g - p["min_bias_lin_nonlin"]
            max_g = max_g - p["max_bias_lin_nonlin"]
        b = _ref_gen_notch_coeffs(rng, *(p[k] for k in NOTCH), min_g, max_g, 16000)
        y = y + _ref_filter_fir(np.power(x, (i + 1)), b)
    y = y - np.mean(y)
    return _ref_norm_wav(y, 0)


def _ref_isd(rng, x, p):
    beta = _ref_rand_range(rng, 0, p["p"], 0)
    y = x.copy()
    n = int(x.shape[0] * (beta / 100))
    pos = rng.choice(x.shape[0], size=n, replace=False)  # the original: np.random.permutation(len)[:n]
    f_r = np.multiply(((2 * rng.random(pos.shape[0])) - 1), ((2 * rng.random(pos.shape[0])) - 1))
    y[pos] = x[pos] + p["g_sd"] * x[pos] * f_r
    return _ref_norm_wav(y, 0)


def _ref_ssi(rng, x, p):
    noise = rng.normal(0, 1, x.shape[0])
    b = _ref_gen_notch_coeffs(rng, *(p[k] for k in NOTCH), p["min_g"], p["max_g"], 16000)
    noise = _ref_norm_wav(_ref_filter_fir(noise, b), 1)
    snr = _ref_rand_range(rng, p["snr_min"], p["snr_max"], 0)
    noise = noise / np.linalg.norm(noise, 2) * np.linalg.norm(x, 2) / 10.0 ** (0.05 * snr)
    return x + noise


NOTCH = ["n_bands", "min_f", "max_f", "min_bw", "max_bw", "min_coeff", "max_coeff"]
_REF_CHAINS = {1: "L", 2: "I", 3: "S", 4: "LIS", 5: "LI", 6: "LS", 7: "IS"}


def _ref_rawboost(x, algo, rng, p):
    if algo == 8:
        return _ref_norm_wav(_ref_lnl(rng, x, p) + _ref_isd(rng, x, p), 0)
    for step in _REF_CHAINS[algo]:
        x = {"L": _ref_lnl, "I": _ref_isd, "S": _ref_ssi}[step](rng, x, p)
    return x


@pytest.mark.parametrize("algo", range(1, 9))
def test_rawboost_matches_the_original(speech: np.ndarray, algo: int) -> None:
    rb = RawBoost(algo=algo)
    params = {k: getattr(rb, k) for k in [*NOTCH, "n_f", "min_g", "max_g", "min_bias_lin_nonlin"]}
    params |= {k: getattr(rb, k) for k in ["max_bias_lin_nonlin", "p", "g_sd", "snr_min", "snr_max"]}
    for seed in range(3):
        ref = _ref_rawboost(speech.astype(np.float64), algo, np.random.default_rng(seed), params)
        np.testing.assert_allclose(rb(speech, np.random.default_rng(seed)), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RandomGain(p=5), r"augment\.p=5 must be a number in \[0, 1\]"),
        (lambda: RandomGain(p=-1), r"augment\.p=-1 must be a number in \[0, 1\]"),
        (lambda: RandomGain(min_db=float("nan")), r"augment\.min_db=nan, max_db=6\.0 must be finite numbers"),
        (lambda: FreqMaskWave(num_masks=-1), r"augment\.num_masks=-1 must be an integer >= 0"),
        (lambda: RawBoost(p=200), r"augment\.p=200 must be a number in \[0, 100\]"),
        (lambda: RawBoost(n_bands=0), r"augment\.n_bands=0 must be an integer >= 1"),
        (lambda: RawBoost(snr_min=40, snr_max=10), r"augment\.snr_min=40 must be <= augment\.snr_max=10"),
        # An empty FIR filter ("a cannot be empty") in the first training step before.
        (lambda: RawBoost(min_coeff=-20, max_coeff=-10), r"augment\.min_coeff=-20 must be an integer >= 1"),
        (lambda: RawBoost(min_coeff=0), r"augment\.min_coeff=0 must be an integer >= 1"),
        (lambda: RawBoost(min_coeff=10.5), r"augment\.min_coeff=10\.5 must be an integer >= 1"),
        (
            lambda: RawBoost(min_coeff=50, max_coeff=20),
            r"augment\.min_coeff=50 must be <= augment\.max_coeff",
        ),
        # A ZeroDivisionError mid-training before.
        (lambda: RawBoost(sr=0), r"augment\.sr=0 must be an integer >= 1"),
        (lambda: RawBoost(sr=16000.0), r"augment\.sr=16000\.0 must be an integer >= 1"),
        # Silently no notch filter at all before: centres past Nyquist, negative widths.
        (
            lambda: RawBoost(algo=3, min_f=12000, max_f=20000),
            r"augment\.max_f=20000 must be <= augment\.sr/2 = 8000 \(the Nyquist frequency of "
            r"augment\.sr=16000\)",
        ),
        (lambda: RawBoost(max_f=4000, sr=8000), None),  # the Nyquist frequency itself is a valid centre
        (lambda: RawBoost(max_f=4001, sr=8000), r"augment\.max_f=4001 must be <= augment\.sr/2 = 4000"),
        (lambda: RawBoost(min_f=-20), r"augment\.min_f=-20 must be >= 0"),
        (lambda: RawBoost(algo=1, min_bw=-5000, max_bw=-4000), r"augment\.min_bw=-5000 must be >= 0"),
        (lambda: RawBoost(min_bw=0, max_bw=0, min_f=0, min_coeff=1, max_coeff=1), None),  # the edges
        (lambda: RawBoost(algo=True), r"augment\.algo=True must be 0-8"),
    ],
)
def test_nonsense_settings_are_refused_when_built(build: Callable[[], object], message: str | None) -> None:
    """Accepted silently before (a probability of 5, negative masks, notches past Nyquist), or a traceback
    during training (RawBoost p=200: more altered samples than there are; no FIR taps; sr=0). ``None``: a
    valid edge value, accepted and usable."""
    if message is None:
        aug = build()
        x = np.random.default_rng(0).standard_normal(N).astype(np.float32)
        assert np.all(np.isfinite(aug(x, np.random.default_rng(1))))  # type: ignore[operator]
        return
    with pytest.raises(ValueError, match=message):
        build()
