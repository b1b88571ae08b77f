"""Calibrated scores at the entry points: the calibration a checkpoint carries reaches the detector, its
exported metadata and aasist-predict's llr / posterior / Bayes decisions; aasist-score --calibrate-with fits
on a dev score file and judges the evaluated one; bad input is one line with exit status 2."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from inference_fixtures import random_checkpoint, tone

from aasist_lightning.cli.predict import CSV_COLUMNS
from aasist_lightning.cli.predict import main as predict
from aasist_lightning.cli.score import main as score
from aasist_lightning.metrics import cllr, read_score_file
from aasist_lightning.metrics.calibration import Calibration
from aasist_lightning.runtime.exported import write_onnx
from aasist_lightning.runtime.scorer import InferenceError, Scorer, load_detector

MAP = {"scale": 2.0, "offset": -1.0, "prior": 0.5}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    for i in range(3):
        sf.write(folder / f"c{i}.wav", tone(16000, 16000, freq=200 + 300 * i, seed=i), 16000)
    return folder


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "calibrated.ckpt", calibration=MAP)


def test_the_detector_and_its_metadata_carry_the_checkpoints_calibration(
    calibrated: Path, tmp_path: Path
) -> None:
    detector = load_detector(ckpt_path=calibrated)
    assert detector.calibration == Calibration(2.0, -1.0, 0.5)
    assert detector.metadata()["calibration"] == MAP
    assert Scorer.from_detector(detector).calibration == detector.calibration  # what an export stores
    plain = load_detector(ckpt_path=random_checkpoint(tmp_path / "plain.ckpt"))
    assert plain.calibration is None and plain.metadata()["calibration"] is None
    broken = random_checkpoint(
        tmp_path / "broken.ckpt", calibration={"scale": 1.0, "offset": "x", "prior": 0.5}
    )
    with pytest.raises(InferenceError, match="unusable score calibration"):
        load_detector(ckpt_path=broken)


def test_an_exported_model_carries_the_calibration_to_predict(
    calibrated: Path, clips: Path, tmp_path: Path
) -> None:
    detector = load_detector(ckpt_path=calibrated)
    onnx = write_onnx(detector.model, tmp_path / "m.onnx", detector.nb_samp, detector.metadata())
    assert Scorer.from_onnx(onnx).calibration == detector.calibration
    out = tmp_path / "s.json"
    assert predict([str(clips), "--onnx", str(onnx), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["calibration"] == MAP
    assert all(r["llr"] == pytest.approx(2.0 * r["score"] - 1.0) for r in doc["results"])


def test_predict_outputs_the_calibrated_llr_and_posterior_with_bayes_decisions(
    calibrated: Path, clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "s.json"
    assert predict([str(clips), "--ckpt", str(calibrated), "--prior", "0.2", "-o", str(out)]) == 0
    assert "no score calibration" not in capsys.readouterr().err
    doc = json.loads(out.read_text())
    assert doc["calibration"] == MAP and doc["prior"] == 0.2 and doc["threshold_rule"] == "bayes"
    target = -math.log(0.2 / 0.8)  # the Bayes threshold on the LLR
    assert doc["threshold"] == pytest.approx((target + 1.0) / 2.0)  # the same, on the score
    for r in doc["results"]:
        assert r["llr"] == pytest.approx(2.0 * r["score"] - 1.0)
        assert r["posterior_bonafide"] == pytest.approx(1 / (1 + math.exp(-r["llr"] + target)))
        assert r["decision"] == ("bonafide" if r["posterior_bonafide"] >= 0.5 else "spoof")
    csv_out = tmp_path / "s.csv"
    assert predict([str(clips), "--ckpt", str(calibrated), "--threshold", "dev-eer", "-o", str(csv_out)]) == 0
    with csv_out.open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    for row, r in zip(rows, doc["results"], strict=True):
        assert float(row["llr"]) == pytest.approx(r["llr"], abs=1e-5)
        assert float(row["posterior_bonafide"]) == pytest.approx(1 / (1 + math.exp(-r["llr"])), abs=1e-5)
        assert row["decision"] == ("bonafide" if float(row["score"]) >= 0.25 else "spoof")  # stored threshold


def test_a_calibration_that_reverses_the_scores_decides_on_the_llr(
    clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A weak run's dev scores may be reversed: the fitted scale is negative, the Bayes decision still
    follows the LLR; no threshold on the score expresses it (null), and --explain cannot draw it."""
    reversing = random_checkpoint(
        tmp_path / "r.ckpt", calibration={"scale": -2.0, "offset": 0.0, "prior": 0.5}
    )
    out = tmp_path / "r.json"
    assert predict([str(clips), "--ckpt", str(reversing), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["threshold"] is None and doc["llr_threshold"] == 0.0
    for r in doc["results"]:
        assert r["llr"] == pytest.approx(-2.0 * r["score"])
        assert r["decision"] == ("bonafide" if r["llr"] >= 0 else "spoof")
    assert predict([str(clips), "--ckpt", str(reversing), "--explain", str(tmp_path / "maps")]) == 2
    assert "reverses the scores" in capsys.readouterr().err and not (tmp_path / "maps").exists()


def test_predict_without_a_calibration_says_so_and_keeps_todays_columns(
    clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    plain = random_checkpoint(tmp_path / "plain.ckpt")
    assert predict([str(clips), "--ckpt", str(plain), "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert "carries no score calibration" in err and "decisions at score >= 0" in err
    rows = list(csv.DictReader(out.splitlines()))
    assert rows and all(r["llr"] == "" and r["posterior_bonafide"] == "" for r in rows)
    for r in rows:  # today's meaning: the default threshold is 0 on the score
        assert r["decision"] == ("bonafide" if float(r["score"]) >= 0 else "spoof")
        assert float(r["prob_bonafide"]) == pytest.approx(1 / (1 + math.exp(-float(r["score"]))), abs=1e-5)


@pytest.mark.parametrize("prior", ["0", "1", "nan", "-0.5", "half"])
def test_a_prior_outside_0_1_is_one_line(prior: str, clips: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as usage:  # before the model is loaded
        predict([str(clips), "--ckpt", "never-read.ckpt", "--prior", prior])
    assert usage.value.code == 2
    message, hint = capsys.readouterr().err.splitlines()
    assert message.startswith("aasist-predict: error: argument --prior: ") and "0 < value < 1" in message
    assert hint == "(see aasist-predict --help)"


# ---------------------------------------------------------------------------------------------- aasist-score
def miscalibrated(path: Path, n: int, seed: int) -> Path:
    """Overconfident, shifted scores: 5·LLR + 4 of calibrated Gaussian LLRs (3 spoof per bona fide)."""
    rng = np.random.default_rng(seed)
    bona, spoof = rng.normal(2, 2, n), rng.normal(-2, 2, 3 * n)
    lines = [f"B{i} - bonafide {5 * v + 4}" for i, v in enumerate(bona)]
    lines += [f"S{i} A0{1 + i % 3} spoof {5 * v + 4}" for i, v in enumerate(spoof)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_calibrate_with_a_dev_file_lowers_the_cllr(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    dev, evaluated = miscalibrated(tmp_path / "dev.txt", 300, 1), miscalibrated(tmp_path / "eval.txt", 400, 2)
    report_path, llrs = tmp_path / "r.json", tmp_path / "llr.txt"
    argv = [evaluated, "--calibrate-with", dev, "--calibrated-out", llrs, "--json", report_path]
    assert score([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    assert "Cllr calibrated" in out and "min Cllr" in out
    report = json.loads(report_path.read_text())
    assert report["calibration"]["fitted_on"] == str(dev)
    assert report["cllr"] > 1.0  # worse than no information
    assert report["min_cllr"] <= report["cllr_calibrated"] < 0.5 * report["cllr"]
    assert report["act_dcf_calibrated"] <= report["act_dcf"] + 0.02
    written = read_score_file(llrs)  # the calibrated scores, labels kept
    assert written.labels is not None
    assert cllr(written.scores[written.labels == 1], written.scores[written.labels == 0]) == pytest.approx(
        report["cllr_calibrated"]
    )
    assert score([str(evaluated), "--json", str(report_path)]) == 0  # without: no calibration, min Cllr kept
    capsys.readouterr()
    plain = json.loads(report_path.read_text())
    assert plain["calibration"] is None and plain["cllr_calibrated"] is None
    assert plain["min_cllr"] == pytest.approx(report["min_cllr"])


def test_bad_calibration_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    evaluated = miscalibrated(tmp_path / "eval.txt", 20, 3)
    one_class = tmp_path / "one.txt"
    one_class.write_text("".join(f"B{i} - bonafide {i / 10}\n" for i in range(5)))
    two_columns = tmp_path / "two.txt"
    two_columns.write_text("B0 0.5\nS0 -0.5\n")
    out = tmp_path / "llr.txt"
    for dev, message in (
        (tmp_path / "missing.txt", "missing.txt not found"),
        (one_class, f"--calibrate-with {one_class}: 5 bona fide and 0 spoof trials"),
        (two_columns, f"--calibrate-with {two_columns}: a two-column file"),
    ):
        assert score([str(evaluated), "--calibrate-with", str(dev), "--calibrated-out", str(out)]) == 2
        line, hint = capsys.readouterr().err.splitlines()
        assert line.startswith("aasist-score: error: ") and message in line and "--debug" in hint
    before = evaluated.read_text()
    dev = miscalibrated(tmp_path / "dev.txt", 20, 4)
    assert score([str(evaluated), "--calibrate-with", str(dev), "--calibrated-out", str(evaluated)]) == 2
    assert "is also an input" in capsys.readouterr().err and evaluated.read_text() == before
    with pytest.raises(SystemExit) as usage:  # calibrated on the scores it is judged on
        score([str(evaluated), "--calibrate-with", str(tmp_path / "." / "eval.txt")])
    assert usage.value.code == 2 and "is the evaluated score file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        score([str(evaluated), "--calibrated-out", str(out)])
    assert usage.value.code == 2 and "--calibrated-out needs --calibrate-with" in capsys.readouterr().err
    assert not out.exists()
