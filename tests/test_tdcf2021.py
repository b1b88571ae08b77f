"""ASVspoof 2021 LA min t-DCF: the revised normalisation against a transcription of the 2021 evaluation
package, the keys' ASV scores read by subset, and eval.py and aasist-score using them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from inference_fixtures import TINY_OVERRIDES, compose_cfg, random_checkpoint
from test_eval_corpora import LA21_KEYS, audio, snapshot, write
from test_score import _run as run_score

from aasist_lightning.cli.evaluate import evaluate
from aasist_lightning.data.corpora import LA21_ASV_FILES, read_asvspoof2021_asv
from aasist_lightning.data.protocols import ProtocolError
from aasist_lightning.metrics import ASVSPOOF2019, ASVSPOOF2021, compute_min_tdcf, read_score_file

pytestmark = pytest.mark.usefixtures("one_thread")


def _official_2021_min_tdcf(bona, spoof, tar, non, spf) -> float:
    """asvspoof-challenge/2021 eval-package: eval_metrics.compute_det_curve / compute_eer,
    eval_wrapper.load_asv_metrics, get_tDCF_C012 and get_mintDCF_eer, transcribed with config.py's costs."""

    def det(target, nontarget):
        scores = np.concatenate((target, nontarget))
        labels = np.concatenate((np.ones(target.size), np.zeros(nontarget.size)))
        order = np.argsort(scores, kind="mergesort")
        labels = labels[order]
        tar_count = np.cumsum(labels)
        non_count = nontarget.size - (np.arange(1, scores.size + 1) - tar_count)
        frr = np.concatenate((np.atleast_1d(0), tar_count / target.size))
        far = np.concatenate((np.atleast_1d(1), non_count / nontarget.size))
        thresholds = np.concatenate((np.atleast_1d(scores[order[0]] - 0.001), scores[order]))
        return frr, far, thresholds

    frr, far, thr = det(tar, non)
    asv_threshold = thr[np.nanargmin(np.abs(frr - far))]
    pfa_asv = np.sum(non >= asv_threshold) / non.size
    pmiss_asv = np.sum(tar < asv_threshold) / tar.size
    pfa_spoof_asv = np.sum(spf >= asv_threshold) / spf.size
    p_spoof = 0.05
    p_tar, p_non = (1 - p_spoof) * 0.99, (1 - p_spoof) * 0.01
    c0 = p_tar * 1 * pmiss_asv + p_non * 10 * pfa_asv
    c1 = p_tar * 1 - c0
    c2 = p_spoof * 10 * pfa_spoof_asv
    pmiss_cm, pfa_cm, _ = det(bona, spoof)
    return float(np.min((c0 + c1 * pmiss_cm + c2 * pfa_cm) / (c0 + np.minimum(c1, c2))))


@pytest.mark.parametrize("seed", range(4))
def test_revised_min_tdcf_matches_the_2021_evaluation_package(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bona, spoof = rng.normal(2, 1.5, 300), rng.normal(-1, 2, 900)
    tar, non, spf = rng.normal(3, 1, 200), rng.normal(-2, 1, 400), rng.normal(0.5 * seed, 1.5, 300)
    ours = compute_min_tdcf(bona, spoof, tar, non, spf, cost_model=ASVSPOOF2021)
    assert ours == pytest.approx(_official_2021_min_tdcf(bona, spoof, tar, non, spf), abs=1e-12)
    # Same C1, C2; C0 > 0 here, so the two editions differ, and a normalised cost never exceeds 1.
    legacy = compute_min_tdcf(bona, spoof, tar, non, spf, cost_model=ASVSPOOF2019)
    assert ours != pytest.approx(legacy) and 0 < ours <= 1


ASV_METADATA = """\
LA_0009 LA_E_9332881 alaw ita_tx bonafide target notrim eval
LA_0009 LA_E_1111111 alaw ita_tx bonafide nontarget notrim eval
LA_0015 LA_E_1000147 g722 loc_tx A19 spoof trim eval
LA_0009 LA_E_2222222 none - bonafide target notrim progress
LA_0031 LA_E_2000000 pstn usa_tx bonafide target notrim eval
LA_0031 LA_E_3333333 pstn usa_tx bonafide nontarget notrim eval
LA_0031 LA_E_4444444 none - A07 spoof notrim hidden_track
"""
ASV_SCORES = [4.1, -3.2, 0.7, 2.5, 3.3, -2.9, 1.4]


def la21_keys(root: Path, scores: list[float] = ASV_SCORES) -> Path:
    write(root / "keys/LA/CM/trial_metadata.txt", LA21_KEYS)
    write(root / LA21_ASV_FILES[0], ASV_METADATA)
    rows = [
        f"{line.split()[0]} {line.split()[1]} {s}"
        for line, s in zip(ASV_METADATA.splitlines(), scores, strict=True)
    ]
    write(root / LA21_ASV_FILES[1], "\n".join(rows) + "\n")
    return root


def test_the_keys_asv_scores_are_read_by_subset(tmp_path: Path) -> None:
    assert read_asvspoof2021_asv(tmp_path) is None  # no keys/LA/ASV: no t-DCF, no error
    root = la21_keys(tmp_path / "la21")
    asv = read_asvspoof2021_asv(root)  # subsets=[eval] by default
    assert asv.target.tolist() == [4.1, 3.3] and asv.nontarget.tolist() == [-3.2, -2.9]
    assert asv.spoof.tolist() == [0.7]
    every = read_asvspoof2021_asv(root, None)
    assert every.target.tolist() == [4.1, 2.5, 3.3] and every.spoof.tolist() == [0.7, 1.4]
    with pytest.raises(ProtocolError, match=r"no target / nontarget ASV trials"):
        read_asvspoof2021_asv(root, ["hidden"])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda lines: lines[:-1], r"score\.txt has 6 lines, .*trial_metadata\.txt 7"),
        (lambda lines: [lines[1], lines[0], *lines[2:]], r"score\.txt:1: expected 'speaker LA_E_9332881"),
        (lambda lines: [*lines[:2], "LA_0015 LA_E_1000147 high", *lines[3:]], r"score\.txt:3: score 'high'"),
        # As the 2019 ASV files: the line, not "1 spoof score(s) are NaN" at the t-DCF.
        (
            lambda lines: [*lines[:2], "LA_0015 LA_E_1000147 nan", *lines[3:]],
            r"score\.txt:3: score 'nan' is not finite",
        ),
        (
            lambda lines: [*lines[:4], "LA_0031 LA_E_2000000 -inf", *lines[5:]],
            r"score\.txt:5: score '-inf' is not finite",
        ),
    ],
)
def test_misaligned_or_broken_asv_scores_name_the_line(tmp_path: Path, damage, message: str) -> None:
    root = la21_keys(tmp_path)
    score_file = root / LA21_ASV_FILES[1]
    score_file.write_text("\n".join(damage(score_file.read_text().splitlines())) + "\n")
    with pytest.raises(ProtocolError, match=message):
        read_asvspoof2021_asv(root)


def test_eval_on_asvspoof2021_la_reports_the_2021_min_tdcf(tmp_path: Path) -> None:
    root = la21_keys(tmp_path / "la21")
    for i, utt in enumerate(("LA_E_9332881", "LA_E_5085671", "LA_E_1000147", "LA_E_2000000")):
        audio(root / f"ASVspoof2021_LA_eval/flac/{utt}.flac", 12000, i)
    before = snapshot(root)
    out = tmp_path / "run"
    cfg = compose_cfg(
        *TINY_OVERRIDES, "data=asvspoof2021_la", f"data.root={root}", "splits=[eval]",
        f"ckpt_path={random_checkpoint(tmp_path / 'tiny.ckpt')}", "progress=false", "data.num_workers=0",
        "model.inference.backend=eager", output_dir=out,
    )  # fmt: skip
    metrics = evaluate(cfg)
    report = json.loads((out / "results.json").read_text())["splits"]["eval"]
    assert report["min_tdcf_definition"] == "ASVspoof 2021" and "ASVTorch_Kaldi" in report["asv_scores"]
    written = read_score_file(out / "scores" / "eval.txt")
    labels = np.asarray(written.labels)
    asv = read_asvspoof2021_asv(root)
    expected = compute_min_tdcf(
        written.scores[labels == 1],
        written.scores[labels == 0],
        asv.target,
        asv.nontarget,
        asv.spoof,
        cost_model=ASVSPOOF2021,
    )
    assert metrics["eval/min_tdcf"] == pytest.approx(expected, abs=1e-12)
    assert snapshot(root) == before


def test_aasist_score_reports_the_2021_min_tdcf_of_a_phase(capsys, tmp_path: Path, monkeypatch) -> None:
    root = la21_keys(tmp_path / "la21")
    cm = {"LA_E_9332881": ("A07", "spoof", -1.5), "LA_E_5085671": ("-", "bonafide", 2.0)}  # eval, progress
    cm |= {"LA_E_1000147": ("A19", "spoof", 0.4), "LA_E_2000000": ("-", "bonafide", 0.1)}  # eval, eval
    scores = write(tmp_path / "cm.txt", "".join(f"{u} {a} {k} {s}\n" for u, (a, k, s) in cm.items()))
    asv_file = root / LA21_ASV_FILES[1]
    for subsets, left_out in ((["eval"], 1), (None, 0)):
        out_json = tmp_path / "r.json"
        extra = [] if subsets else ["--subsets", "all"]
        code, out, _ = run_score(capsys, scores, "--asv-scores", asv_file, *extra, "--json", out_json)
        report = json.loads(out_json.read_text())
        # The 2021 evaluation package's phase: only the CM and the ASV trials of its subsets count.
        counted = [v for u, v in cm.items() if subsets is None or u != "LA_E_5085671"]
        bona = np.array([s for _, k, s in counted if k == "bonafide"])
        spoof = np.array([s for _, k, s in counted if k == "spoof"])
        asv = read_asvspoof2021_asv(root, subsets)
        expected = compute_min_tdcf(
            bona, spoof, asv.target, asv.nontarget, asv.spoof, cost_model=ASVSPOOF2021
        )
        assert code == 0 and report["min_tdcf"] == pytest.approx(expected, abs=1e-12)
        assert report["n_bonafide"] == bona.size and report["trials_left_out"] == left_out
        assert report["min_tdcf_definition"] == "ASVspoof 2021" and report["subsets"] == (subsets or ["all"])
        assert str(root / LA21_ASV_FILES[0]) in report["asv_scores"] and "ASVspoof 2021 (revised" in out
        assert ("1 trials of other subsets left out" in out) == bool(left_out)
    # A relative path from inside the package reads the same keys; no output may replace them.
    monkeypatch.chdir(root / "keys/LA")
    out_json, relative = tmp_path / "rel.json", "ASV/ASVTorch_Kaldi/score.txt"
    code, _, err = run_score(capsys, scores, "--asv-scores", relative, "--subsets", "all", "--json", out_json)
    assert code == 0 and json.loads(out_json.read_text())["min_tdcf"] == report["min_tdcf"], err
    for key_file in ("ASV/trial_metadata.txt", "CM/trial_metadata.txt"):
        before = (root / "keys/LA" / key_file).read_text()
        code, _, err = run_score(capsys, scores, "--asv-scores", asv_file, "--json", key_file)
        assert code == 2 and "is also an input" in err and (root / "keys/LA" / key_file).read_text() == before
    plain = tmp_path / "plain.json"
    assert run_score(capsys, scores, "--json", plain)[0] == 0
    plain_report = json.loads(plain.read_text())
    assert plain_report["subsets"] is None and plain_report["trials_left_out"] is None
    # The keys' score file outside its package has no keys; --subsets means nothing for a 2019 file.
    lone = write(tmp_path / "score.txt", asv_file.read_text())
    code, _, err = run_score(capsys, scores, "--asv-scores", lone)
    assert code == 2 and f"whose keys are in {tmp_path.parent / 'trial_metadata.txt'}" in err
    asv19 = write(tmp_path / "asv19.txt", "bonafide target 5\n- nontarget -3\nA07 spoof 1\n")
    code, _, err = run_score(capsys, scores, "--asv-scores", asv19, "--subsets", "eval")
    assert code == 2 and "Fix: drop --subsets" in err
    code, _, err = run_score(capsys, scores, "--asv-scores", asv_file, "--subsets", "hidden")
    assert code == 2 and "no target / nontarget ASV trials" in err
    with pytest.raises(SystemExit) as usage:
        run_score(capsys, scores, "--subsets", "eval")  # a phase with no 2021 ASV scores to pick it for
    assert usage.value.code == 2 and "give it with the keys' ASV scores" in capsys.readouterr().err
    other = write(tmp_path / "other.txt", "LA_E_0000001 - bonafide 1.0\nLA_E_0000002 A07 spoof 0.0\n")
    code, _, err = run_score(capsys, other, "--asv-scores", asv_file)
    assert code == 2 and "none of the 2 trials of" in err and "Fix: --subsets" in err
    (root / "keys/LA/CM/trial_metadata.txt").unlink()
    code, _, err = run_score(capsys, scores, "--asv-scores", asv_file)
    assert code == 2 and "the CM keys name. Fix: give the ASV scores inside the full keys package" in err
