"""The standard corpora through the data module and eval.py: tiny corpora written in each released layout
(real-format protocol lines), the crop modes (head / full / windows) on clips of any length, and bad input
(wrong root, another corpus's keys, missing audio, a label outside the vocabulary, an empty meta.csv)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hydra.utils import instantiate
from inference_fixtures import TINY_OVERRIDES, compose_cfg, random_checkpoint, tone

from aasist_lightning.cli.config_checks import ConfigError
from aasist_lightning.cli.evaluate import evaluate
from aasist_lightning.data.dataset import FULL_STEP, LengthBatchSampler, full_length
from aasist_lightning.data.protocols import BONAFIDE, SPOOF, ProtocolError
from aasist_lightning.metrics import read_score_file
from aasist_lightning.metrics.plots import det_ticks

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16000
NB = 16000  # the tiny model's input length (random_checkpoint's TINY_ARCH)
LA21_KEYS = """\
LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval
LA_0023 LA_E_5085671 none - bonafide bonafide notrim progress
LA_0015 LA_E_1000147 g722 loc_tx A19 spoof trim eval
LA_0031 LA_E_2000000 pstn usa_tx bonafide bonafide notrim eval
"""
DF21_KEYS = """\
LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim eval traditional_vocoder - - - -
VCC2018_SF1 DF_E_2000013 low_mp3 vcc2018 bonafide bonafide notrim eval bonafide - - - -
"""
ASV5 = {
    "train": "T_4850 T_0000000000 F - - - AC3 A05 spoof -\n"
    "T_3734 T_0000000011 F - - - - bonafide bonafide -\n"
    "T_4850 T_0000000002 F - - - AC3 A02 spoof -\n"
    "T_3734 T_0000000013 F - - - - bonafide bonafide -\n",
    "dev": "D_0062 D_0000000001 F - - - AC1 A11 spoof -\nD_0755 D_0000000005 M - - - - bonafide bonafide -\n",
}


def audio(path: Path, samples: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(samples, SR, 200.0 + 40 * seed, seed=seed), SR)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def in_the_wild(root: Path, lengths: list[int]) -> Path:
    """An In-the-Wild layout: meta.csv (the release's header and labels) beside the WAV files."""
    rows = ["file,speaker,label"]
    for i, n in enumerate(lengths):
        audio(root / f"{i}.wav", n, seed=i)
        rows.append(f"{i}.wav,Speaker {i % 3},{'bona-fide' if i % 2 else 'spoof'}")
    write(root / "meta.csv", "\n".join(rows) + "\n")
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def datamodule(tmp_path: Path, group: str, root: Path, *overrides: str):
    cfg = compose_cfg(
        f"data={group}", f"data.root={root}", "data.num_workers=0", *overrides, output_dir=tmp_path
    )
    return instantiate(cfg.data, nb_samp=NB, _convert_="all")


def test_every_corpus_group_reads_its_layout_with_conditions(tmp_path: Path) -> None:
    la = tmp_path / "la21"
    write(la / "keys/LA/CM/trial_metadata.txt", LA21_KEYS)
    for i, utt in enumerate(("LA_E_9332881", "LA_E_5085671", "LA_E_1000147", "LA_E_2000000")):
        audio(la / f"ASVspoof2021_LA_eval/flac/{utt}.flac", 4000, i)
    df = tmp_path / "df21"
    write(df / "keys/DF/CM/trial_metadata.txt", DF21_KEYS)
    for i, utt in enumerate(("DF_E_2000011", "DF_E_2000013")):
        audio(df / f"ASVspoof2021_DF_eval/flac/{utt}.flac", 4000, i)
    a5 = tmp_path / "asv5"
    for split, (name, folder) in {"train": ("ASVspoof5.train.tsv", "flac_T"),
                                  "dev": ("ASVspoof5.dev.track_1.tsv", "flac_D")}.items():  # fmt: skip
        write(a5 / "ASVspoof5_protocols" / name, ASV5[split])
        for i, line in enumerate(ASV5[split].splitlines()):
            audio(a5 / folder / f"{line.split()[1]}.flac", 4000, i)
    before = {p: snapshot(p) for p in (la, df, a5)}

    dm = datamodule(tmp_path, "asvspoof2021_la", la)  # data.subsets=[eval] by default
    dm.setup("test")
    assert [t.utt_id for t in dm.trials["eval"]] == ["LA_E_9332881", "LA_E_1000147", "LA_E_2000000"]
    assert dm.conditions["eval"]["LA_E_1000147"] == {"codec": "g722", "channel": "loc_tx", "subset": "eval"}
    assert dm.asv_scores("eval") is None  # no keys/LA/ASV files
    dm = datamodule(tmp_path, "asvspoof2021_la", la, "data.subsets=[progress]")
    dm.setup("test")
    assert [t.utt_id for t in dm.trials["eval"]] == ["LA_E_5085671"]

    dm = datamodule(tmp_path, "asvspoof2021_df", df)
    dm.setup("test")
    assert dm.conditions["eval"]["DF_E_2000011"]["vocoder"] == "traditional_vocoder"

    # ASVspoof 5 trains: the balanced subset (half bona fide, half spoof) works on its train split.
    dm = datamodule(tmp_path, "asvspoof5", a5, "data.train_subset=2", f"data.output_dir={tmp_path / 'out'}")
    dm.setup("fit")
    assert sorted(t.label for t in dm.trials["train"]) == [SPOOF, BONAFIDE]
    assert len(dm.trials["dev"]) == 2 and dm.conditions["dev"]["D_0000000001"]["attack_tag"] == "AC1"
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (2, NB) and y.tolist().count(BONAFIDE) == 1
    with pytest.raises(ProtocolError, match=r"ASVspoof5\.eval\.track_1\.tsv not found"):
        dm.setup("test")
    assert {p: snapshot(p) for p in before} == before  # the corpora are never written


def test_folder_corpus_and_splits_it_lacks(tmp_path: Path) -> None:
    root = tmp_path / "wavefake"
    audio(root / "real/ljs/a.wav", 3000)
    audio(root / "fake/melgan/a.wav", 3000, 1)
    dm = datamodule(tmp_path, "folder", root)
    dm.setup("test")
    assert [(t.label, t.attack) for t in dm.trials["eval"]] == [(BONAFIDE, "-"), (SPOOF, "melgan")]
    with pytest.raises(ProtocolError, match=r"data\.corpus=folder has no train split \(it has: eval\)"):
        dm.setup("fit")
    # eval.py's default splits=[dev,eval]: refused before any work, with the fix.
    cfg = compose_cfg(*TINY_OVERRIDES, "data=folder", f"data.root={root}", output_dir=tmp_path / "run")
    cfg.model.pretrained = "AASIST-L"
    with pytest.raises(ConfigError, match=r"data\.corpus='folder': has no dev split.*Fix: splits=\[eval\]"):
        evaluate(cfg)
    assert not (tmp_path / "run").exists()


def eval_cfg(tmp_path: Path, root: Path, ckpt: Path, *overrides: str, out: str = "run"):
    return compose_cfg(
        *TINY_OVERRIDES,
        "data=in_the_wild",
        f"data.root={root}",
        "splits=[eval]",
        f"ckpt_path={ckpt}",
        "progress=false",
        "data.num_workers=0",
        "model.inference.backend=eager",
        *overrides,
        output_dir=tmp_path / out,
    )


def test_eval_py_on_in_the_wild_in_every_crop_mode(tmp_path: Path) -> None:
    """data=in_the_wild splits=[eval]: every trial scored, results.json with eval/eer and the crop mode,
    scores/eval.txt; clips of 0.3-2.6 s in each mode; the corpus is left as it was."""
    lengths = [5000, 41000, 16000, 23000, 9000, 30000]
    root = in_the_wild(tmp_path / "release_in_the_wild", lengths)
    before = snapshot(root)
    ckpt = random_checkpoint(tmp_path / "tiny.ckpt")
    scores = {}
    for crop in ("head", "full", "windows"):
        out = tmp_path / crop
        metrics = evaluate(eval_cfg(tmp_path, root, ckpt, f"crop={crop}", "hop=8000", out=crop))
        results = json.loads((out / "results.json").read_text())
        assert results["eval/eer"] == metrics["eval/eer"] and 0 <= metrics["eval/eer"] <= 100
        assert results["crop"] == crop and results["corpus"] == "in_the_wild"
        assert results["hop"] == (8000 if crop == "windows" else None)
        timing = results["timings"]["eval"]  # throughput in trials/s and audio seconds per second
        assert timing["audio_seconds"] == pytest.approx(sum(lengths) / SR, abs=1e-3)
        # the rate comes from the unrounded wall time; "seconds" is rounded to 1 ms (these runs take ~30 ms)
        slowest, fastest = (timing["audio_seconds"] / (timing["seconds"] + d) for d in (5e-4, -5e-4))
        assert slowest * 0.999 <= timing["audio_s_per_s"] <= fastest * 1.001
        written = read_score_file(out / "scores" / "eval.txt")
        assert written.utt_ids == [str(i) for i in range(len(lengths))]  # every trial, in meta.csv order
        scores[crop] = written.scores
    # Clips of at most nb_samp samples: the same input in every mode. Longer ones differ by mode.
    short = np.asarray(lengths) <= NB
    np.testing.assert_allclose(scores["full"][short], scores["head"][short], atol=1e-4)
    np.testing.assert_allclose(scores["windows"][short], scores["head"][short], atol=1e-4)
    assert not np.allclose(scores["full"][~short], scores["head"][~short], atol=1e-4)
    assert snapshot(root) == before


def test_crop_modes_agree_on_clips_of_exactly_64600_samples(tmp_path: Path) -> None:
    root = in_the_wild(tmp_path / "itw", [64600] * 4)
    ckpt = random_checkpoint(tmp_path / "tiny.ckpt", nb_samp=64600)
    scores = []
    for crop in ("head", "full", "windows"):
        out = tmp_path / crop
        evaluate(eval_cfg(tmp_path, root, ckpt, f"crop={crop}", out=crop))
        scores.append(read_score_file(out / "scores" / "eval.txt").scores)
    np.testing.assert_allclose(scores[1], scores[0], atol=1e-5)
    np.testing.assert_allclose(scores[2], scores[0], atol=1e-5)


def test_full_mode_scores_the_whole_clip_and_batches_by_length(tmp_path: Path) -> None:
    """A clip's full-mode score is the network on the whole clip (repeat-padded to the next FULL_STEP);
    batches hold clips of one input length only."""
    import torch

    from aasist_lightning.data.audio import load_audio, pad_or_crop
    from aasist_lightning.runtime.scorer import load_detector

    lengths = [40000, 9000, 41000, 16000, 70000]
    root = in_the_wild(tmp_path / "itw", lengths)
    assert [full_length(n, NB) for n in lengths] == [40000, NB, 48000, NB, 72000]
    assert LengthBatchSampler([40000, NB, 48000, NB, 72000], 4 * NB).batches == [[1, 3], [0], [2], [4]]
    # A batch of long clips holds as many samples as one of short clips.
    assert LengthBatchSampler([NB] * 5 + [3 * NB] * 3, 4 * NB).batches == [[0, 1, 2, 3], [4], [5], [6], [7]]
    dm = datamodule(tmp_path, "in_the_wild", root)
    dm.setup("test")
    batches = [b[2] for b in dm.scoring_loader("eval", "full")]
    assert batches == [["1", "3"], ["0"], ["2"], ["4"]]

    ckpt = random_checkpoint(tmp_path / "tiny.ckpt")
    out = tmp_path / "run"
    evaluate(eval_cfg(tmp_path, root, ckpt, "crop=full"))
    model = load_detector(ckpt_path=ckpt).model
    x = load_audio(root / "4.wav")
    with torch.inference_mode():
        expected = model(torch.from_numpy(pad_or_crop(x, FULL_STEP * 9)[None]))[0, 1].item()
    assert read_score_file(out / "scores" / "eval.txt").scores[4] == pytest.approx(expected, abs=1e-4)


def test_per_condition_breakdown_beside_the_per_attack_table(tmp_path: Path) -> None:
    la = tmp_path / "la21"
    write(la / "keys/LA/CM/trial_metadata.txt", LA21_KEYS)
    for i, utt in enumerate(("LA_E_9332881", "LA_E_5085671", "LA_E_1000147", "LA_E_2000000")):
        audio(la / f"ASVspoof2021_LA_eval/flac/{utt}.flac", 4000, i)
    ckpt = random_checkpoint(tmp_path / "tiny.ckpt")
    cfg = eval_cfg(tmp_path, la, ckpt, "data=asvspoof2021_la", "data.subsets=null")
    evaluate(cfg)
    table = (tmp_path / "run" / "per_condition_eer.csv").read_text().splitlines()
    assert table[0] == "split,condition,value,n_bonafide,n_spoof,bonafide,eer_percent"
    assert any(r.startswith("eval,codec,alaw,0,1,all bona fide,") for r in table)
    assert any(r.startswith("eval,subset,eval,1,2,condition,") for r in table)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["per_condition_eer_table"]["csv"].endswith("per_condition_eer.csv")


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("wrong root", FileNotFoundError, r"data\.root=\S+nowhere does not exist\. Fix: data\.root=<the "),
        ("not the folder", ProtocolError, r"meta\.csv not found: data\.root must be the folder holding"),
        ("missing audio", FileNotFoundError, r"1 of 2 audio files listed in \S+meta\.csv are missing"),
        ("bad label", ProtocolError, r"meta\.csv:3: label 'fake' is neither 'bona-fide' nor 'spoof'"),
        ("empty meta.csv", ProtocolError, r"meta\.csv:1: expected the header 'file,speaker,label'"),
        (
            "DF keys for LA",
            ProtocolError,
            r"trial_metadata\.txt:1: .* \(it looks like ASVspoof 2021 DF keys\)",
        ),
    ],
)
def test_bad_input_clear_error_nothing_written(tmp_path: Path, case: str, error: type, message: str) -> None:
    root = tmp_path / "corpus"
    group = "in_the_wild"
    if case == "wrong root":
        root = tmp_path / "nowhere"
    elif case == "not the folder":
        in_the_wild(root / "release_in_the_wild", [4000, 4000])
    elif case == "DF keys for LA":
        group = "asvspoof2021_la"
        write(root / "keys/LA/CM/trial_metadata.txt", DF21_KEYS)
    else:
        in_the_wild(root, [4000, 4000])
        if case == "missing audio":
            (root / "1.wav").unlink()
        elif case == "bad label":
            write(root / "meta.csv", "file,speaker,label\n0.wav,A,spoof\n1.wav,B,fake\n")
        elif case == "empty meta.csv":
            write(root / "meta.csv", "")
    before = snapshot(root) if root.exists() else None
    cfg = eval_cfg(tmp_path, root, random_checkpoint(tmp_path / "tiny.ckpt"), f"data={group}")
    with pytest.raises(error, match=message):
        evaluate(cfg)
    assert not (tmp_path / "run" / "results.json").exists() and not (tmp_path / "run" / "scores").exists()
    assert (snapshot(root) if root.exists() else None) == before


def test_a_hop_longer_than_the_checkpoints_input_is_refused_before_work(tmp_path: Path) -> None:
    """hop is checked against the network that runs: a checkpoint's nb_samp, not the model group's."""
    root = in_the_wild(tmp_path / "release_in_the_wild", [5000, 41000])
    ckpt = random_checkpoint(tmp_path / "tiny.ckpt")  # nb_samp 16000
    cfg = eval_cfg(tmp_path, root, ckpt, "crop=windows", "hop=32300", "model.nb_samp=64600")
    with pytest.raises(ConfigError, match=r"hop=32300: longer than the input of checkpoint .*nb_samp=16000"):
        evaluate(cfg)
    assert not (tmp_path / "run").exists()
    longer = random_checkpoint(tmp_path / "longer.ckpt", nb_samp=40000)  # longer than the model group's
    results = evaluate(eval_cfg(tmp_path, root, longer, "crop=windows", "hop=30000", out="longer"))
    assert "eval/eer" in results


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("crop=middle", "crop='middle': must be one of head / full / windows"),
        ("hop=0", "hop=0: must be a number of samples in 1..nb_samp"),
        ("data.subsets=[eval]", "data.subsets=['eval']: ASVspoof 2021 subsets"),
        ("data.corpus=timit", "data.corpus='timit': is not one of asvspoof2019_la"),
    ],
)
def test_eval_config_errors(tmp_path: Path, override: str, message: str) -> None:
    cfg = eval_cfg(tmp_path, tmp_path / "none", tmp_path / "none.ckpt", "ckpt_path=null", override)
    cfg.model.pretrained = "AASIST-L"
    with pytest.raises(
        ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")
    ):
        evaluate(cfg)
    assert not (tmp_path / "run").exists()


def test_det_axes_cover_the_whole_curve() -> None:
    """A model above 60 % EER (and one below 1 %): the axes reach past every rate the curve takes."""
    from aasist_lightning.metrics.eer import det_curve

    rng = np.random.default_rng(0)
    for shift in (3.0, -1.0):  # ~7 % EER, and ~70 % (scores reversed)
        frr, far, _ = det_curve(rng.normal(shift, 1, 2000), rng.normal(0, 1, 2000))
        ticks = det_ticks(frr, far)
        drawn = (frr > 0) & (frr < 1) & (far > 0) & (far < 1)
        rates = np.concatenate([frr[drawn], far[drawn]])
        assert ticks[0] / 100 <= rates.min() and ticks[-1] / 100 >= rates.max()
        assert ticks[0] <= 0.1 and ticks[-1] >= 40  # never narrower than the usual view
    assert ticks[-1] > 95  # the reversed model's curve runs to the top right corner


def test_model_by_corpora_matrix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """corpora=[...]: one row per corpus (roots from the config or the environment), numbers equal to the
    metrics of the written score files, a progress bar naming each corpus; a missing corpus stops the run
    before any work unless skipped."""
    from aasist_lightning.cli.evaluate import evaluate_matrix
    from aasist_lightning.metrics import score_report

    itw = in_the_wild(tmp_path / "itw", [4000, 20000, 9000, 16000])
    folder = tmp_path / "fake_or_real"
    for i in range(2):
        audio(folder / f"real/{i}.wav", 5000, i)
        audio(folder / f"fake/melgan/{i}.wav", 5000, i + 2)
    monkeypatch.setenv("AASIST_ROOT_FOLDER", str(folder))
    ckpt = random_checkpoint(tmp_path / "tiny.ckpt")
    args = ("corpora=[itw,folder,la21]", f"roots.in_the_wild={itw}")
    with pytest.raises(ConfigError, match=r"no folder for asvspoof2021_la \(roots\.asvspoof2021_la=None\).*"
                       r"skip_missing=true"):  # fmt: skip
        evaluate_matrix(eval_cfg(tmp_path, itw, ckpt, *args))
    assert not (tmp_path / "run").exists()

    capsys.readouterr()
    rows = evaluate_matrix(eval_cfg(tmp_path, itw, ckpt, *args, "skip_missing=true", "progress=true"))
    bars = capsys.readouterr().err
    assert "in_the_wild eval" in bars and "folder eval" in bars and "ETA" in bars
    out = tmp_path / "run"
    assert [(r["corpus"], r["trials"]) for r in rows] == [("in_the_wild", 4), ("folder", 4)]
    for row in rows:
        scores = read_score_file(out / row["corpus"] / "scores" / "eval.txt")
        report = score_report(scores.scores, np.asarray(scores.labels), list(scores.attacks))
        assert row["eer"] == pytest.approx(report["eer"]) and row["cllr"] == pytest.approx(report["cllr"])
        assert row["min_tdcf"] is None
    matrix = json.loads((out / "matrix.json").read_text())
    assert matrix["rows"] == rows and matrix["crop"] == "head"
    assert (out / "matrix.md").read_text().startswith("| corpus | subsets | trials | EER (%) |")
    header = (out / "matrix.csv").read_text().splitlines()[0]
    assert header == "corpus,subsets,trials,eer,min_tdcf,min_dcf,act_dcf,cllr"
    assert (out / "plots" / "det_overlay.png").stat().st_size > 1000


def test_matrix_outputs_are_checked_before_scoring_and_written_together(tmp_path: Path) -> None:
    from aasist_lightning.cli.evaluate import evaluate_matrix
    from aasist_lightning.files import OutputPathError

    itw = in_the_wild(tmp_path / "itw", [4000, 20000])
    ckpt = random_checkpoint(tmp_path / "tiny.ckpt")
    out = tmp_path / "run"
    out.mkdir()
    (out / "matrix.md").write_text("an earlier matrix\n")
    (out / "matrix.md").chmod(0o444)
    cfg = eval_cfg(tmp_path, itw, ckpt, "corpora=[itw]", f"roots.in_the_wild={itw}")
    with pytest.raises(OutputPathError, match=r"matrix\.md is read-only"):
        evaluate_matrix(cfg)
    assert sorted(p.name for p in out.iterdir()) == ["matrix.md"]  # nothing scored, nothing else written


def test_training_on_an_evaluation_only_corpus_is_refused_before_any_work(tmp_path: Path) -> None:
    from aasist_lightning.cli.config_checks import check_config

    cfg = compose_cfg("data=in_the_wild", f"data.root={tmp_path}", name="train", output_dir=tmp_path)
    with pytest.raises(ConfigError) as err:
        check_config(cfg, splits={"train": "train=true", "dev": "train=true"})
    assert (
        "data.corpus='in_the_wild': has no train split (it has: eval), but train=true reads it. Fix: pass "
        "data.train_manifest=<csv>" in str(err.value)
    )
    check_config(cfg, splits={"eval": "test=true"})  # its eval split is fine
