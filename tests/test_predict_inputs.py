"""aasist-predict's inputs at their limits: windows of a long clip at a small hop (copied a batch at a time,
in aasist-predict and eval.py), links to folders (followed, each real folder once), and files the loader
refuses (named as text, samples far beyond full scale)."""

from __future__ import annotations

import json
import os
import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from inference_fixtures import random_checkpoint, tone

from aasist_lightning.cli.predict import main
from aasist_lightning.data.audio import pad_or_crop
from aasist_lightning.runtime.audio_files import find_audio, score_files
from aasist_lightning.runtime.scorer import Scorer, aggregate, load_detector, score_and_prob, windows

pytestmark = pytest.mark.usefixtures("one_thread")

NB = 1000  # windows of the memory tests: 1,000 samples


def _stacked(x: np.ndarray, nb_samp: int, hop: int | None = None, mode: str = "windows") -> np.ndarray:
    """The windows as one array, written out plainly: what windows() stands for."""
    hop = nb_samp if hop is None else hop
    if mode == "official" or len(x) <= nb_samp:
        return pad_or_crop(x, nb_samp)[None, :]
    starts = list(range(0, len(x) - nb_samp + 1, hop))
    if starts[-1] + nb_samp < len(x):
        starts.append(len(x) - nb_samp)
    return np.stack([x[s : s + nb_samp] for s in starts])


def _features(waves: np.ndarray) -> np.ndarray:
    """A stand-in network: two 'logits' per window that depend on every sample and on their order."""
    waves = np.asarray(waves)
    ramp = np.linspace(-1, 1, waves.shape[1], dtype=np.float32)
    return np.stack([waves.mean(axis=1), (waves * ramp).sum(axis=1)], axis=1)  # row by row: batch-blind


def _peak_mib(run: Callable[[], object]) -> float:
    """The peak of the memory Python and NumPy allocated while ``run`` ran, in MiB."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_windows_are_the_stacked_windows_in_every_mode_and_hop() -> None:
    rng = np.random.default_rng(0)
    for nb_samp in (1, 4, 7):
        for n in range(1, 25):
            x = rng.standard_normal(n).astype(np.float32)
            for hop in (None, *range(1, nb_samp + 1)):
                for mode in ("windows", "official"):
                    expected, got = _stacked(x, nb_samp, hop, mode), windows(x, nb_samp, hop, mode)
                    assert got.shape == expected.shape and len(got) == len(expected)
                    np.testing.assert_array_equal(np.asarray(got), expected)
                    np.testing.assert_array_equal(got[1:3], expected[1:3])  # a batch: a copy of those
                    np.testing.assert_array_equal(np.stack(list(got)), expected)
                    np.testing.assert_array_equal(got[-1], expected[-1])
    assert not windows(np.arange(10, dtype=np.float32), 4)[0].flags.writeable  # a view of the clip


def test_windows_of_a_long_clip_at_hop_1_are_not_copied_at_once() -> None:
    """25,001 windows of 1,000 samples: 100 MB stacked (20 s at hop 1 with the official input length would be
    61.5 GiB)."""
    x = np.arange(26_000, dtype=np.float32)
    assert _peak_mib(lambda: windows(x, NB, hop=1)) < 4
    w = windows(x, NB, hop=1)
    assert w.shape == (25_001, NB) and len(w) == 25_001
    np.testing.assert_array_equal(w[24_990:], _stacked(x[-1010:], NB, hop=1))  # a batch: only it is copied
    np.testing.assert_array_equal(w[-1], x[-NB:])


def test_score_files_copies_one_batch_of_windows_at_a_time(tmp_path: Path) -> None:
    """25,000 windows of 1,000 samples (100 MB stacked); the results are those of the stacked windows."""
    rng = np.random.default_rng(1)
    clips = [rng.uniform(-0.5, 0.5, n).astype(np.float32) for n in (26_000, 300, 2_500)]
    paths = []
    for i, clip in enumerate(clips):
        paths.append(tmp_path / f"c{i}.wav")
        sf.write(paths[-1], clip, 16000, subtype="FLOAT")
    scorer = Scorer(_features, NB, "stand-in", batch_size=16)
    results: list = []
    peak = _peak_mib(lambda: results.extend(score_files(paths, scorer, hop=1, how="min", workers=1)))
    assert peak < 40
    for result, clip in zip(results, clips, strict=True):
        logits = _features(_stacked(clip, NB, hop=1))
        np.testing.assert_array_equal(result.logits, aggregate(logits, "min"))
        assert result.window_scores == [float(s) for s in score_and_prob(logits)[0]]


def test_eval_windows_crop_copies_one_batch_of_windows_at_a_time() -> None:
    from aasist_lightning.cli.evaluate import _clip_scorer

    rng = np.random.default_rng(2)
    clips = [rng.uniform(-0.5, 0.5, n).astype(np.float32) for n in (26_000, 700, 1_500)]
    batches: list[int] = []

    def run(waves: np.ndarray) -> np.ndarray:
        batches.append(len(waves))
        return _features(waves)

    score = _clip_scorer(Scorer(run, NB, "stand-in", batch_size=16), "windows", 1)
    out: list = []
    assert _peak_mib(lambda: out.append(score(clips))) < 40
    expected = [aggregate(_features(_stacked(c, NB, hop=1)), "mean") for c in clips]
    np.testing.assert_allclose(out[0], np.stack(expected), rtol=1e-6)
    assert max(batches) == 16 and sum(batches) == sum(len(_stacked(c, NB, hop=1)) for c in clips)


def test_links_to_folders_are_searched_each_real_folder_once(tmp_path: Path) -> None:
    clips = tmp_path / "in"
    (clips / "deeper").mkdir(parents=True)
    for name in ("a.wav", "b.wav", "c.wav", "deeper/d.flac"):
        sf.write(clips / name, tone(1600, 16000), 16000)
    (clips / "deeper" / "up").symlink_to(clips, target_is_directory=True)  # a cycle
    lk = tmp_path / "lk"
    lk.mkdir()
    sf.write(lk / "own.wav", tone(1600, 16000), 16000)
    (lk / "file_link.wav").symlink_to(clips / "a.wav")
    (lk / "linked_dir").symlink_to(clips, target_is_directory=True)
    (lk / "same_dir_again").symlink_to(clips, target_is_directory=True)
    linked = lk / "linked_dir"
    assert find_audio([lk]) == [
        lk / "file_link.wav",  # a.wav, reached first by this path
        linked / "b.wav",
        linked / "c.wav",
        linked / "deeper" / "d.flac",
        lk / "own.wav",
    ]
    assert find_audio([clips, lk]) == [clips / n for n in ("a.wav", "b.wav", "c.wav", "deeper/d.flac")] + [
        lk / "own.wav"
    ]


def test_predict_scores_linked_folders_and_names_refused_files(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The refused files are named as text and skipped (exit 1); the JSON stays strict (no NaN)."""
    ckpt = random_checkpoint(tmp_path / "tiny.ckpt")
    scorer = Scorer.from_detector(load_detector(ckpt_path=ckpt))  # windows straight in: PyTorch takes them
    assert scorer(windows(tone(20000, 16000), scorer.nb_samp, hop=2000)).shape == (3, 2)
    clips = tmp_path / "in"
    clips.mkdir()
    sf.write(clips / "a.wav", tone(16000, 16000), 16000)
    sf.write(clips / "huge.wav", tone(16000, 16000) * 1e37, 16000, subtype="FLOAT")
    (clips / "notaudio.wav").write_text("not audio\n")
    lk = tmp_path / "lk"
    lk.mkdir()
    sf.write(lk / "own.wav", tone(16000, 16000, seed=1), 16000)
    (lk / "linked_dir").symlink_to(clips, target_is_directory=True)
    out = tmp_path / "scores.json"
    assert main([str(lk), "--ckpt", str(ckpt), "-o", str(out), "--no-progress", "--backend", "eager"]) == 1
    err = capsys.readouterr().err
    doc = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert [Path(r["path"]).name for r in doc["results"]] == ["a.wav", "own.wav"]
    huge, notaudio = lk / "linked_dir" / "huge.wav", lk / "linked_dir" / "notaudio.wav"
    assert re.search(
        rf"skipping {re.escape(str(huge))}: audio file .*huge.wav has samples reaching 5\.\d+e\+36: "
        r"not audio scaled to \[-1, 1\]",
        err,
    )
    assert f"cannot read audio file {notaudio} (Format not recognised.)" in err
    assert "b'" not in err and "RuntimeWarning" not in err
    assert os.path.islink(lk / "linked_dir")
