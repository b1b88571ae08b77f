"""aasist-predict: files of every shape the loader handles, windowing of long clips, thresholds, output
formats, unreadable files, empty folders and exit codes."""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from inference_fixtures import random_checkpoint, tiny_checkpoint, tone

from aasist_lightning.cli.predict import CSV_COLUMNS, main
from aasist_lightning.data import load_audio, pad_or_crop
from aasist_lightning.runtime.audio_files import find_audio, score_files
from aasist_lightning.runtime.scorer import (
    InferenceError,
    Scorer,
    aggregate,
    load_detector,
    score_and_prob,
    windows,
)

NB = 64600
LONG = 30 * 16000  # 30 s


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model with the official input length 64,600, so the window edge cases are the real ones."""
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt", threshold=0.25, nb_samp=NB)


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every shape of the loader tests: mono / stereo, 5 rates, int16 / int24 / float; lengths around nb_samp;
    a 30 s clip; nested folders."""
    root = tmp_path_factory.mktemp("audio")
    for channels in (1, 2):
        for sr in (8000, 16000, 22050, 44100, 48000):
            for subtype in ("PCM_16", "PCM_24", "FLOAT"):
                x = tone(sr // 2, sr)
                data = x if channels == 1 else np.stack([x, 0.5 * x], axis=1)
                ext = "wav" if subtype == "FLOAT" else "flac"
                folder = root / f"ch{channels}"
                folder.mkdir(exist_ok=True)
                sf.write(folder / f"{sr}_{subtype}.{ext}", data, sr, subtype=subtype)
    lengths = root / "lengths" / "deeper"
    lengths.mkdir(parents=True)
    for n in (1, NB - 1, NB, NB + 1, LONG):
        sf.write(lengths / f"n{n}.wav", tone(n, 16000, seed=n), 16000, subtype="FLOAT")
    (root / "notes.txt").write_text("not audio: ignored when scanning folders\n")
    return root


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


def test_every_shape_scores(
    audio_dir: Path, ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out" / "scores.csv"
    assert main([str(audio_dir), "--ckpt", str(ckpt), "-o", str(out), "--no-progress"]) == 0
    rows = read_csv(out)
    assert len(rows) == 30 + 5  # the .txt file is not audio
    assert not list(out.parent.glob(".*tmp"))  # written atomically: no temporary file left
    by_name = {Path(r["path"]).name: r for r in rows}
    for r in rows:
        score, prob = float(r["score"]), float(r["prob_bonafide"])
        assert np.isfinite(score) and 0.0 <= prob <= 1.0
        assert prob == pytest.approx(1 / (1 + np.exp(-score)), abs=2e-6)
        assert r["decision"] == ("bonafide" if score >= 0.0 else "spoof")
    for sr in (8000, 16000, 22050, 44100, 48000):
        assert float(by_name[f"{sr}_PCM_16.flac"]["duration_s"]) == pytest.approx(0.5, abs=1e-3)
    assert float(by_name["n1.wav"]["duration_s"]) == pytest.approx(1 / 16000, abs=1e-6)
    assert float(by_name[f"n{LONG}.wav"]["duration_s"]) == pytest.approx(30.0)
    assert "error" not in capsys.readouterr().err


def test_fast_path_by_default_plain_on_request(audio_dir: Path, ckpt: Path, tmp_path: Path) -> None:
    scores = {}
    for name, extra in (("auto", []), ("plain", ["--backend", "eager", "--precision", "fp32"])):
        out = tmp_path / f"{name}.csv"
        args = [str(audio_dir / "lengths"), "--ckpt", str(ckpt), "-o", str(out), "--no-progress", *extra]
        assert main(args) == 0
        scores[name] = np.array([float(r["score"]) for r in read_csv(out)])
    np.testing.assert_allclose(scores["auto"], scores["plain"], atol=1e-4)
    detector = load_detector(ckpt_path=ckpt)
    assert Scorer.from_detector(detector, 4, "auto", "auto").backend == "torch onnx fp32"
    assert Scorer.from_detector(detector).backend == "torch eager fp32"  # the API's default: plain


def test_json_output_and_windows(audio_dir: Path, ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.json"
    assert main([str(audio_dir / "lengths"), "--ckpt", str(ckpt), "-o", str(out), "--threshold=-1e9"]) == 0
    doc = json.loads(out.read_text())
    assert doc["threshold"] == -1e9 and doc["mode"] == "windows" and doc["failed"] == []
    assert doc["nb_samp"] == doc["hop"] == NB and doc["aggregate"] == "mean"
    counts = {Path(r["path"]).name: r["windows"] for r in doc["results"]}
    # <= nb_samp: one (repeat-padded) window; 64601: the head window + one flush with the end; 30 s: 7
    # back-to-back windows + one flush with the end.
    assert counts == {
        "n1.wav": 1,
        f"n{NB - 1}.wav": 1,
        f"n{NB}.wav": 1,
        f"n{NB + 1}.wav": 2,
        f"n{LONG}.wav": 8,
    }
    assert {r["decision"] for r in doc["results"]} == {"bonafide"}
    assert all(len(r["window_scores"]) == r["windows"] for r in doc["results"])


def test_windows_cover_the_clip() -> None:
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(windows(x, 4), [[0, 1, 2, 3], [4, 5, 6, 7], [6, 7, 8, 9]])
    np.testing.assert_array_equal(
        windows(x, 4, hop=2), [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]
    )
    np.testing.assert_array_equal(windows(x, 5), [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]])
    np.testing.assert_array_equal(windows(x, 4, mode="official"), [[0, 1, 2, 3]])
    np.testing.assert_array_equal(windows(x[:3], 4), [pad_or_crop(x[:3], 4)])  # official repeat padding
    assert windows(x, 10).shape == (1, 10)
    with pytest.raises(InferenceError, match=r"hop 0 must be an integer number of samples in 1\.\.4"):
        windows(x, 4, hop=0)
    with pytest.raises(InferenceError, match="hop 5"):
        windows(x, 4, hop=5)
    with pytest.raises(InferenceError, match="mode 'head'"):
        windows(x, 4, mode="head")


def test_aggregation_and_official_mode(audio_dir: Path, ckpt: Path) -> None:
    """mean = the mean of the window logits, min = the least bona fide window, official = the head crop
    only."""
    detector = load_detector(ckpt_path=ckpt)
    scorer = Scorer.from_detector(detector, batch_size=3)  # smaller than the window count: batches are split
    long_file = next((audio_dir / "lengths").rglob(f"n{LONG}.wav"))
    x = load_audio(long_file)
    per_window = scorer(windows(x, NB))
    assert per_window.shape == (8, 2)
    results = {how: next(score_files([long_file], scorer, how=how)) for how in ("mean", "min")} | {
        "official": next(score_files([long_file], scorer, mode="official"))
    }
    np.testing.assert_allclose(results["mean"].logits, per_window.mean(axis=0), atol=1e-6)
    window_scores = score_and_prob(per_window)[0]
    assert results["min"].score == pytest.approx(window_scores.min(), abs=1e-6)
    assert results["min"].score <= results["mean"].score
    assert results["official"].score == pytest.approx(window_scores[0], abs=1e-5)
    assert results["official"].n_windows == 1
    np.testing.assert_allclose(aggregate(per_window, "min"), per_window[np.argmin(window_scores)])
    with pytest.raises(InferenceError, match="aggregate 'max'"):
        aggregate(per_window, "max")


def test_batching_across_files_is_invisible(audio_dir: Path, ckpt: Path) -> None:
    """Windows of consecutive files share batches; each file's score equals scoring it alone."""
    scorer = Scorer.from_detector(load_detector(ckpt_path=ckpt), batch_size=4)
    files = find_audio([audio_dir / "lengths"])
    together = [r.score for r in score_files(files, scorer, workers=2)]
    alone = [next(score_files([f], scorer)).score for f in files]
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_unreadable_file_is_named_and_skipped(
    audio_dir: Path, ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    sf.write(folder / "good.wav", tone(8000, 16000), 16000)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    sf.write(folder / "empty.wav", np.zeros(0, np.float32), 16000)  # a header, no samples
    out = tmp_path / "scores.csv"
    assert main([str(folder), "--ckpt", str(ckpt), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"skipping {folder / 'corrupt.wav'}" in err and "cannot read audio file" in err
    assert f"skipping {folder / 'empty.wav'}" in err and "contains no samples" in err
    assert "2 of 3 file(s) could not be read" in err
    assert [Path(r["path"]).name for r in read_csv(out)] == ["good.wav"]


def test_unreadable_files_listed_in_json(ckpt: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.flac").write_bytes(b"not flac")
    sf.write(tmp_path / "ok.flac", tone(8000, 16000), 16000)
    out = tmp_path / "s.json"
    assert (
        main([str(tmp_path / "bad.flac"), str(tmp_path / "ok.flac"), "--ckpt", str(ckpt), "-o", str(out)])
        == 1
    )
    doc = json.loads(out.read_text())
    assert [Path(r["path"]).name for r in doc["results"]] == ["ok.flac"]
    assert doc["failed"][0]["path"].endswith("bad.flac") and "bad.flac" in doc["failed"][0]["error"]


def test_empty_folder_and_missing_input(ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.md").write_text("no audio here")
    assert main([str(empty), "--ckpt", str(ckpt)]) == 2
    err = capsys.readouterr().err
    assert f"no audio files found in {empty}" in err
    assert main([str(tmp_path / "nope.wav"), "--ckpt", str(ckpt)]) == 2
    assert f"input {tmp_path / 'nope.wav'} does not exist" in capsys.readouterr().err


def test_stdout_and_usage_errors(audio_dir: Path, ckpt: Path, capsys: pytest.CaptureFixture) -> None:
    one = str(audio_dir / "ch1" / "16000_PCM_16.flac")
    assert main([one, "--ckpt", str(ckpt), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and lines[1].startswith(one + ",")
    for flag, value, message in (
        ("--hop", "0", "argument --hop: 0 is out of range (accepted: >= 1)"),
        ("--threshold", "high", "argument --threshold: 'high' must be a number, 'bayes' or 'dev-eer'"),
        ("--batch-size", "-2", "argument --batch-size: -2 is out of range (accepted: >= 1)"),
        ("--workers", "two", "argument --workers: 'two' is not an integer (accepted: >= 1)"),
    ):
        with pytest.raises(SystemExit) as usage:  # before the model is loaded
            main([one, "--ckpt", str(ckpt.parent / "not-read.ckpt"), flag, value])
        assert usage.value.code == 2
        assert capsys.readouterr().err.splitlines() == [
            f"aasist-predict: error: {message}",
            "(see aasist-predict --help)",
        ]
    assert main([one, "--ckpt", str(ckpt.parent / "missing.ckpt")]) == 2
    assert "missing.ckpt does not exist" in capsys.readouterr().err
    bad = ckpt.parent / "garbage.ckpt"
    bad.write_bytes(b"\x00garbage")
    assert main([one, "--ckpt", str(bad)]) == 2
    assert f"cannot read checkpoint {bad}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main([one, "--ckpt", str(ckpt), "--pretrained", "AASIST-L"])
    assert e.value.code == 2


def test_threshold_dev_eer(tmp_path_factory: pytest.TempPathFactory, audio_dir: Path, tmp_path: Path) -> None:
    """The threshold a real training run stored is used; official weights have none: a clear error."""
    import torch as _torch

    trained = tiny_checkpoint(tmp_path_factory)
    stored = _torch.load(trained, weights_only=True, map_location="cpu")["dev_eer_threshold"]
    assert stored is not None
    out = tmp_path / "s.json"
    assert (
        main([str(audio_dir / "ch2"), "--ckpt", str(trained), "--threshold", "dev-eer", "-o", str(out)]) == 0
    )
    doc = json.loads(out.read_text())
    assert doc["threshold"] == pytest.approx(stored)
    for r in doc["results"]:
        assert r["decision"] == ("bonafide" if r["score"] >= stored else "spoof")


def test_threshold_dev_eer_errors(
    ckpt: Path, audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    one = str(audio_dir / "ch1" / "16000_FLOAT.wav")
    assert main([one, "--pretrained", "AASIST-L", "--threshold", "dev-eer"]) == 2
    err = capsys.readouterr().err
    assert "AASIST-L are pretrained weights and carry no dev-EER threshold" in err and "--threshold 0" in err
    none_stored = random_checkpoint(tmp_path / "no_threshold.ckpt", threshold=None, nb_samp=NB)
    assert main([one, "--ckpt", str(none_stored), "--threshold", "dev-eer"]) == 2
    assert f"checkpoint {none_stored} stores no dev-EER threshold" in capsys.readouterr().err


def test_explain_writes_one_png_per_file(audio_dir: Path, ckpt: Path, tmp_path: Path) -> None:
    files = [audio_dir / "ch1" / "16000_FLOAT.wav", audio_dir / "ch2" / "16000_FLOAT.wav"]
    out_dir = tmp_path / "explain"
    assert (
        main(
            [*map(str, files), "--ckpt", str(ckpt), "--explain", str(out_dir), "-o", str(tmp_path / "s.csv")]
        )
        == 0
    )
    pngs = sorted(p.name for p in out_dir.iterdir())
    assert pngs == ["16000_FLOAT.png", "16000_FLOAT_2.png"]  # same name in two folders: both kept
    assert all((out_dir / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_device_errors(audio_dir: Path, ckpt: Path, capsys: pytest.CaptureFixture) -> None:
    one = str(audio_dir / "ch1" / "16000_FLOAT.wav")
    assert main([one, "--ckpt", str(ckpt), "--device", "tpu"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main([one, "--ckpt", str(ckpt), "--device", "cuda"]) == 2
        assert "no CUDA GPU is visible" in capsys.readouterr().err
    if not torch.backends.mps.is_available():
        assert main([one, "--ckpt", str(ckpt), "--device", "mps"]) == 2
        assert "cannot use an Apple GPU" in capsys.readouterr().err


@pytest.mark.gpu
def test_gpu_matches_cpu(audio_dir: Path, ckpt: Path, tmp_path: Path) -> None:
    outs = {}
    for device in ("cpu", "cuda"):
        outs[device] = tmp_path / f"{device}.json"
        assert (
            main(
                [str(audio_dir / "lengths"), "--ckpt", str(ckpt), "--device", device, "-o", str(outs[device])]
            )
            == 0
        )
    cpu, gpu = (json.loads(outs[d].read_text())["results"] for d in ("cpu", "cuda"))
    np.testing.assert_allclose([r["score"] for r in gpu], [r["score"] for r in cpu], atol=1e-3)


def test_nothing_scored_leaves_the_earlier_output(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "bad1.wav").write_bytes(b"x")
    (tmp_path / "bad2.wav").write_bytes(b"y")
    out = tmp_path / "old.csv"
    out.write_text("path,score\nkept.wav,1.0\n")
    args = [str(tmp_path / "bad1.wav"), str(tmp_path / "bad2.wav"), "--ckpt", str(ckpt), "-o", str(out)]
    assert main(args) == 2
    assert "none of the 2 file(s) could be read" in capsys.readouterr().err
    assert out.read_text() == "path,score\nkept.wav,1.0\n"


def test_a_file_name_that_is_not_utf8_is_written_as_its_bytes(ckpt: Path, tmp_path: Path) -> None:
    """The CSV failed with UnicodeEncodeError (a traceback, every score lost) on a name that is not UTF-8."""
    clips = tmp_path / "clips"
    clips.mkdir()
    name = os.fsdecode(b"bad\xffname.wav")
    sf.write(clips / "plain.wav", tone(16000, 16000), 16000)
    (clips / "plain.wav").rename(clips / name)
    out = tmp_path / "scores.csv"
    plain = ["--backend", "eager"]  # no ONNX export: seconds
    assert main([str(clips), "--ckpt", str(ckpt), "-o", str(out), "--no-progress", *plain]) == 0
    rows = out.read_bytes().splitlines()
    assert len(rows) == 2 and rows[1].startswith(os.fsencode(clips / name) + b",")
    # The standard output too, where its encoding is strict (PYTHONIOENCODING, some locales).
    args = [str(clips), "--ckpt", str(ckpt), *plain]
    code = f"from aasist_lightning.cli.predict import main; main({args!r})"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stdout.splitlines()[1:] == rows[1:]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_threshold_must_be_finite(
    audio_dir: Path, ckpt: Path, value: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as usage:
        main([str(audio_dir), "--ckpt", str(ckpt), f"--threshold={value}"])
    assert usage.value.code == 2
    assert f"--threshold: '{value}' must be a finite number" in capsys.readouterr().err


def test_explain_to_a_file_is_refused_before_any_work(
    audio_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    taken = tmp_path / "attention"
    taken.write_text("a file")
    one = str(audio_dir / "ch1" / "16000_FLOAT.wav")
    assert main([one, "--ckpt", str(tmp_path / "never-read.ckpt"), "--explain", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"--explain {taken} is a file: give a folder" in err and "Errno" not in err
    assert main([one, "--ckpt", str(tmp_path / "never-read.ckpt"), "--explain", str(taken / "sub")]) == 2
    assert f"--explain {taken / 'sub'}: {taken} is a file, not a folder" in capsys.readouterr().err
    assert taken.read_text() == "a file"


def test_explain_over_the_output_or_the_inputs_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """--explain the -o path left a folder out.csv/ holding the pictures (the CSV then failed, "Is a
    directory"); --explain an input folder wrote the pictures among the audio (exit 0). Both are refused
    before the model is read (it does not exist here), and nothing is written."""
    clips = tmp_path / "clips"
    (clips / "a").mkdir(parents=True)
    sf.write(clips / "a" / "x.wav", tone(16000, 16000), 16000)
    before = sorted(tmp_path.rglob("*"))
    never = ["--ckpt", str(tmp_path / "never-read.ckpt"), "--no-progress"]
    out = tmp_path / "e3" / "out.csv"
    for argv, message in [
        (
            [str(clips / "a" / "x.wav"), "-o", str(out), "--explain", str(out)],
            f"--explain {out} is also the -o",
        ),
        ([str(clips), "--explain", str(clips)], f"--explain {clips} is also the input {clips}"),
        ([str(clips / "a" / "x.wav"), "--explain", str(clips)], f"--explain {clips} holds the input"),
        ([str(clips), "--explain", str(clips / "a")], f"--explain {clips / 'a'} holds the input"),
    ]:
        assert main([*argv, *never]) == 2
        err = capsys.readouterr().err
        assert message in err and "never-read" not in err
        assert sorted(tmp_path.rglob("*")) == before


def test_a_failed_explain_replaces_no_earlier_output(
    audio_dir: Path, ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
) -> None:
    """-o and the --explain PNGs are one transaction: a picture that cannot be written (full disk) leaves
    every earlier file as it was, and no temporary file."""
    from aasist_lightning.runtime import attention

    def full_disk(model, audio, png, threshold):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(attention, "explain_file", full_disk)
    out, pngs = tmp_path / "s.csv", tmp_path / "pngs"
    pngs.mkdir()
    out.write_text("earlier")
    (pngs / "16000_FLOAT.png").write_text("earlier")
    one = str(audio_dir / "ch1" / "16000_FLOAT.wav")
    assert main([one, "--ckpt", str(ckpt), "--explain", str(pngs), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{pngs / '16000_FLOAT.png'}: No space left on device; no earlier output was replaced" in err
    assert out.read_text() == "earlier" and (pngs / "16000_FLOAT.png").read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["16000_FLOAT.png", "pngs", "s.csv"]
    # Folders made for the pictures go again with them.
    assert main([one, "--ckpt", str(ckpt), "--explain", str(tmp_path / "new" / "pngs"), "--no-progress"]) == 2
    capsys.readouterr()
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("content", [b"\x80\x02garbage", b"PK\x03\x04truncated", None])
def test_checkpoint_errors_never_advise_weights_only_false(
    audio_dir: Path, tmp_path: Path, content: bytes | None, capsys: pytest.CaptureFixture
) -> None:
    bad = tmp_path / "bad.ckpt"
    if content is None:  # a pickle of a class that is not a tensor or a container
        import fractions

        torch.save({"state_dict": {}, "x": fractions.Fraction(1, 3)}, bad)
    else:
        bad.write_bytes(content)
    assert main([str(audio_dir / "ch1" / "16000_FLOAT.wav"), "--ckpt", str(bad)]) == 2
    message, hint = capsys.readouterr().err.splitlines()
    assert message.startswith(f"aasist-predict: error: cannot read checkpoint {bad}: ")
    assert "weights_only" not in message and "--debug" in hint


def test_a_folder_that_cannot_be_listed_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its audio would otherwise be missing from the results without a word (as root, permissions do not
    stop a listing: the refusal is simulated)."""
    (tmp_path / "ok").mkdir()
    sf.write(tmp_path / "ok" / "a.wav", tone(1600, 16000), 16000)
    (tmp_path / "locked").mkdir()
    listing = os.scandir

    def scandir(path: str = ".") -> object:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return listing(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert find_audio([tmp_path / "ok"]) == [tmp_path / "ok" / "a.wav"]
    with pytest.raises(OSError, match=r"cannot list folder .*locked below .* \(Permission denied\)"):
        find_audio([tmp_path])


def test_a_full_standard_output_is_named(
    audio_dir: Path, ckpt: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FullDisk:
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def flush(self) -> None:
            pass

    one = str(audio_dir / "ch1" / "16000_FLOAT.wav")
    monkeypatch.setattr(sys, "stdout", FullDisk())
    assert main([one, "--ckpt", str(ckpt), "--no-progress"]) == 2
    assert "cannot write the results to standard output: No space left on device" in capsys.readouterr().err
