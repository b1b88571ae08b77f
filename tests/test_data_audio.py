"""Audio loading on generated files of many shapes and on real speech; the fixed-length rule."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aasist_lightning.data import AudioError, load_audio, pad_or_crop
from aasist_lightning.data.audio import MAX_PEAK, header_problem

NB = 64600


def _tone(n: int, sr: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(np.float32)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_load_shapes_rates_and_formats(tmp_path: Path, subtype: str, sr: int, channels: int) -> None:
    n = sr // 2
    mono = _tone(n, sr)
    # Stereo: right channel at half the level, so the average is 0.75 of the tone.
    data = mono if channels == 1 else np.stack([mono, 0.5 * mono], axis=1)
    path = tmp_path / ("a.flac" if subtype != "FLOAT" else "a.wav")
    sf.write(path, data, sr, subtype=subtype)
    x = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) - 8000) <= 1
    expected_peak = 0.5 if channels == 1 else 0.375
    assert np.max(np.abs(x[100:-100])) == pytest.approx(expected_peak, rel=0.02)
    spectrum = np.abs(np.fft.rfft(x))
    assert np.argmax(spectrum) * 16000 / len(x) == pytest.approx(440, abs=3)


def test_int_pcm_is_scaled(tmp_path: Path) -> None:
    sf.write(tmp_path / "i.wav", np.array([32767, -32768, 0, 16384], dtype=np.int16), 16000)
    np.testing.assert_allclose(load_audio(tmp_path / "i.wav"), [32767 / 32768, -1, 0, 0.5], atol=1e-6)


def test_ogg(tmp_path: Path) -> None:
    sf.write(tmp_path / "a.ogg", _tone(16000, 16000), 16000, format="OGG", subtype="VORBIS")
    x = load_audio(tmp_path / "a.ogg")
    assert abs(len(x) - 16000) <= 1 and np.max(np.abs(x)) == pytest.approx(0.5, rel=0.1)


@pytest.mark.parametrize("n", [1, 64599, 64600, 64601])
def test_lengths_around_nb_samp(tmp_path: Path, n: int) -> None:
    rng = np.random.default_rng(n)
    data = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    sf.write(tmp_path / "x.wav", data, 16000, subtype="FLOAT")
    x = load_audio(tmp_path / "x.wav")
    np.testing.assert_array_equal(x, data)
    head = pad_or_crop(x, NB)
    assert head.shape == (NB,) and head.dtype == np.float32
    if n < NB:  # tiled: the clip repeats from its start
        np.testing.assert_array_equal(head[:n], x)
        np.testing.assert_array_equal(head[n : 2 * n][: NB - n], x[: NB - n])
    else:
        np.testing.assert_array_equal(head, x[:NB])
    starts = set()
    for seed in range(20):
        crop = pad_or_crop(x, NB, random=True, rng=np.random.default_rng(seed))
        assert crop.shape == (NB,)
        if n >= NB:
            starts.add(int(np.flatnonzero(x == crop[0])[0]))
        else:
            np.testing.assert_array_equal(crop, head)
    if n >= NB:  # every offset 0 .. n - NB is reachable, the last one included
        assert starts == set(range(n - NB + 1))


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_one_sample_at_any_rate(tmp_path: Path, sr: int) -> None:
    sf.write(tmp_path / "one.wav", np.array([0.25], dtype=np.float32), sr, subtype="FLOAT")
    x = load_audio(tmp_path / "one.wav")
    assert len(x) >= 1 and np.all(np.isfinite(x))
    assert pad_or_crop(x, NB).shape == (NB,)


def test_ten_minutes(tmp_path: Path) -> None:
    sr = 22050
    n = 10 * 60 * sr
    sf.write(tmp_path / "long.wav", _tone(n, sr, amp=0.3), sr, subtype="PCM_16")
    x = load_audio(tmp_path / "long.wav")
    assert abs(len(x) - 10 * 60 * 16000) <= 1
    crop = pad_or_crop(x, NB, random=True, rng=np.random.default_rng(0))
    assert crop.shape == (NB,) and np.max(np.abs(crop)) == pytest.approx(0.3, rel=0.01)


def test_real_speech(shared_dir: Path) -> None:
    files = sorted((shared_dir / "audio/vctk_p225").glob("*.flac"))
    assert len(files) == 4
    for f in files:
        x = load_audio(f)
        assert x.dtype == np.float32 and x.ndim == 1
        assert 16000 < len(x) < 16000 * 20 and np.all(np.isfinite(x))
        assert 0.01 < np.max(np.abs(x)) <= 1 and np.sqrt(np.mean(x**2)) > 1e-3
        assert pad_or_crop(x, NB).shape == (NB,)
        assert pad_or_crop(x, NB, random=True, rng=np.random.default_rng(0)).shape == (NB,)


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + bytes(range(256)) * 4)
    no_samples = tmp_path / "no_samples.wav"
    sf.write(no_samples, np.zeros((0, 1), dtype=np.float32), 16000)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.1, np.nan, 0.2], dtype=np.float32), 16000, subtype="FLOAT")
    inf = tmp_path / "inf.wav"
    sf.write(inf, np.array([[0.1, np.inf], [0.2, 0.2]], dtype=np.float32), 16000, subtype="FLOAT")
    huge = tmp_path / "huge.wav"  # finite, but NaN scores out of the network
    sf.write(huge, _tone(16000, 16000, amp=1e37), 16000, subtype="FLOAT")
    return {
        "missing": (tmp_path / "missing.flac", "does not exist"),
        "empty": (empty, "cannot read audio file"),
        "corrupt": (corrupt, "cannot read audio file"),
        "no_samples": (no_samples, "contains no samples"),
        "nan": (nan, "has 1 NaN/inf samples"),
        "inf": (inf, "has 1 NaN/inf samples"),
        "huge": (huge, re.escape("has samples reaching 1e+37: not audio scaled to [-1, 1]")),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "corrupt", "no_samples", "nan", "inf", "huge"])
def test_bad_audio_names_the_file(tmp_path: Path, case: str) -> None:
    path, message = _bad_files(tmp_path)[case]
    with pytest.raises(AudioError, match=message) as err:
        load_audio(path)
    assert str(path) in str(err.value)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("peak", [1.0, 4.0, 1e3, 1e3 + 1, 32768.0, 3e38])
def test_samples_beyond_full_scale(tmp_path: Path, peak: float) -> None:
    """Float audio may overshoot [-1, 1] a little and is read; 1,000 (+60 dBFS) and beyond is no audio scaled
    to it (float written at 16-bit scale: 32768) and is refused, naming the peak; two channels at 3e38 too
    (their average is no inf)."""
    path = tmp_path / "loud.wav"
    wave = np.linspace(-1, 1, 16000, dtype=np.float32) * np.float32(peak)
    sf.write(path, np.stack([wave, wave], axis=1), 16000, subtype="FLOAT")
    if peak <= MAX_PEAK:
        assert np.max(np.abs(load_audio(path))) == pytest.approx(peak)
        return
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert str(err.value).startswith(
        f"audio file {path} has samples reaching {peak:.4g}: not audio scaled to [-1, 1] (refused above 1000)"
    )


def test_soundfile_errors_name_the_file_as_text(tmp_path: Path) -> None:
    """soundfile names the file as the bytes it was given (b'...'): the messages name it as text, a name that
    is not UTF-8 too."""
    for name in ("notaudio.wav", os.fsdecode(b"caf\xe9.wav")):
        path = tmp_path / name
        path.write_text("not audio\n")
        with pytest.raises(AudioError) as err:
            load_audio(path)
        assert str(err.value) == (
            f"cannot read audio file {path} (Format not recognised.); is it a valid audio file "
            "(FLAC, WAV, OGG, ...)?"
        )
        assert header_problem(path) == "cannot be read (Format not recognised.)"


def test_pad_or_crop_empty() -> None:
    with pytest.raises(ValueError, match=re.escape("empty signal")):
        pad_or_crop(np.zeros(0, dtype=np.float32), NB)


def _truncated_wav(path: Path, seconds: float = 1.0) -> Path:
    sf.write(path, _tone(int(16000 * seconds), 16000), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header still promises every frame
    return path


def test_a_truncated_wav_warns_once_or_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _truncated_wav(tmp_path / "cut.wav")
    with caplog.at_level("WARNING"):
        first, second = load_audio(path), load_audio(path)
    assert len(first) == len(second) < 8000  # what is left of it
    assert caplog.text.count(f"audio file {path} is truncated") == 1  # once per file
    with pytest.raises(AudioError, match=re.escape(f"audio file {path} is truncated")):
        load_audio(path, on_damage="error")
    whole = tmp_path / "whole.wav"
    sf.write(whole, _tone(16000, 16000), 16000, subtype="PCM_16")
    assert len(load_audio(whole, on_damage="error")) == 16000  # a complete WAV is not damaged


def test_an_implausibly_short_clip_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "blip.flac"
    sf.write(path, _tone(800, 16000), 16000)  # 0.05 s
    with caplog.at_level("WARNING"):
        assert len(load_audio(path, on_damage="error")) == 800
    assert f"audio file {path} is implausibly short (0.050 s < 0.1 s)" in caplog.text


def test_a_device_or_folder_is_not_a_regular_audio_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="/dev/zero is a device, pipe or socket, not a regular audio file"):
        load_audio("/dev/zero")
    with pytest.raises(AudioError, match=f"{re.escape(str(tmp_path))} is a folder, not a regular audio file"):
        load_audio(tmp_path)


def test_the_dataset_refuses_a_damaged_file_under_error(tmp_path: Path) -> None:
    from aasist_lightning.data import TrialDataset
    from aasist_lightning.data.protocols import Trial

    trial = Trial("cut", _truncated_wav(tmp_path / "cut.wav"), 1, "-", "-")
    with pytest.raises(AudioError, match="is truncated"):
        TrialDataset([trial], nb_samp=16000, on_bad_audio="error")[0]
    assert TrialDataset([trial], nb_samp=16000, on_bad_audio="skip")[0][0].shape == (16000,)


def test_an_error_in_a_loader_worker_keeps_its_one_line_message(tmp_path: Path) -> None:
    from torch.utils.data import DataLoader

    from aasist_lightning.data import TrialDataset
    from aasist_lightning.data.protocols import Trial

    path = tmp_path / "nan.wav"
    sf.write(path, np.array([0.1, np.nan] * 800, dtype=np.float32), 16000, subtype="FLOAT")
    loader = DataLoader(TrialDataset([Trial("nan", path, 1, "-", "-")], nb_samp=1600), num_workers=1)
    with pytest.raises(AudioError) as err:
        next(iter(loader))
    assert str(err.value) == f"audio file {path} has 800 NaN/inf samples"


def test_a_file_name_that_is_not_utf8_is_read(tmp_path: Path) -> None:
    """Linux names are bytes: one that is not UTF-8 (Latin-1 'café.wav') is read, not refused by soundfile."""
    path = tmp_path / os.fsdecode(b"caf\xe9.wav")
    wave = np.linspace(-0.5, 0.5, 16000, dtype=np.float32)
    sf.write(os.fsencode(path), wave, 16000, subtype="FLOAT")
    assert np.array_equal(load_audio(path), wave)
