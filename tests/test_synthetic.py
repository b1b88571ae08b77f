"""The embedded synthetic ASVspoof 2019 LA-style corpus: layout, determinism, caching, atomicity, attacks."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from omegaconf import OmegaConf

from aasist_lightning import config_dir
from aasist_lightning.data import read_protocol, synthetic
from aasist_lightning.data.protocols import asv_score_path, audio_dir, protocol_path
from aasist_lightning.data.synthetic import ATTACKS, EVAL_ATTACKS, TRAIN_ATTACKS, SyntheticCorpus
from aasist_lightning.data.synthetic.attacks import AttackInput, synthesize_attack
from aasist_lightning.data.synthetic.corpus import MANIFEST
from aasist_lightning.data.synthetic.speech import make_plan, sample_speaker
from aasist_lightning.lit.datamodule import ASVspoofDataModule
from aasist_lightning.metrics import read_asv_scores

TINY = {
    "train_bonafide": 4,
    "train_spoof_per_attack": 1,
    "dev_bonafide": 3,
    "dev_spoof_per_attack": 1,
    "eval_bonafide": 2,
    "eval_spoof_per_attack": 1,
    "train_speakers": 2,
    "dev_speakers": 2,
    "eval_speakers": 2,
    "min_duration": 1.0,
    "max_duration": 1.5,
}
EXPECTED = {
    "train": {"bonafide": 4, **dict.fromkeys(TRAIN_ATTACKS, 1)},
    "dev": {"bonafide": 3, **dict.fromkeys(TRAIN_ATTACKS, 1)},
    "eval": {"bonafide": 2, **dict.fromkeys(EVAL_ATTACKS, 1)},
}


def tiny(seed: int = 0, workers: int = 1, **changes) -> SyntheticCorpus:
    return SyntheticCorpus(seed=seed, **{**TINY, **changes}, num_workers=workers, progress=False)


def hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under root, by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def corpus_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "LA"
    tiny(workers=2)(root)  # the process pool path; the other tests mostly run in-process
    return root


def test_layout_protocols_and_audio(corpus_root: Path) -> None:
    for split, expected in EXPECTED.items():
        trials = read_protocol(protocol_path(corpus_root, split), audio_dir(corpus_root, split))
        counts: dict[str, int] = {}
        for t in trials:
            counts[t.attack if t.label == 0 else "bonafide"] = (
                counts.get(t.attack if t.label == 0 else "bonafide", 0) + 1
            )
            assert (t.attack == "-") == (t.label == 1)
            assert re.fullmatch(rf"LA_{split[0].upper()}_\d{{7}}", t.utt_id)
            assert re.fullmatch(r"LA_\d{4}", t.speaker)
            info = sf.info(str(t.path))
            assert (info.samplerate, info.channels, info.format, info.subtype) == (16000, 1, "FLAC", "PCM_16")
            assert 1.0 - 1e-3 <= info.duration <= 1.5 + 1e-3
        assert counts == expected
        assert len({t.speaker for t in trials}) == 2
    # Disjoint speakers across splits, as in LA.
    speakers = {
        s: {t.speaker for t in read_protocol(protocol_path(corpus_root, s), corpus_root)} for s in EXPECTED
    }
    assert not (speakers["train"] & speakers["dev"]) and not (speakers["dev"] & speakers["eval"])
    manifest = json.loads((corpus_root / MANIFEST).read_text())
    assert manifest["counts"] == EXPECTED


def test_asv_scores_parse_and_order(corpus_root: Path) -> None:
    for split in ("dev", "eval"):
        asv = read_asv_scores(asv_score_path(corpus_root, split))
        n_bona = EXPECTED[split]["bonafide"]
        assert (len(asv.target), len(asv.nontarget)) == (n_bona, 3 * n_bona)
        assert len(asv.spoof) == len(EXPECTED[split]) - 1
        lines = asv_score_path(corpus_root, split).read_text().splitlines()
        assert {line.split()[0] for line in lines if line.split()[1] == "spoof"} == set(EXPECTED[split]) - {
            "bonafide"
        }
    # Large sample: target above spoof above non-target on average (a meaningful min t-DCF).
    big = SyntheticCorpus(eval_bonafide=300, eval_spoof_per_attack=100)
    target, nontarget, spoof = ([], [], [])
    for line in big._asv_scores("eval").splitlines():
        _, key, score = line.split()
        {"target": target, "nontarget": nontarget, "spoof": spoof}[key].append(float(score))
    assert np.mean(target) > np.mean(spoof) > np.mean(nontarget)


def test_datamodule_reads_it_without_special_casing(corpus_root: Path, tmp_path: Path) -> None:
    dm = ASVspoofDataModule(
        root=corpus_root, train_subset=4, batch_size=2, num_workers=0, nb_samp=16000, generator=tiny(),
        output_dir=tmp_path,
    )  # fmt: skip
    dm.prepare_data()  # complete corpus: the generator only checks it
    dm.setup("fit")
    wave, label = next(iter(dm.train_dataloader()))[:2]
    assert tuple(wave.shape) == (2, 16000) and set(label.tolist()) <= {0, 1}
    assert dm.asv_scores("dev").source == str(asv_score_path(corpus_root, "dev"))


def test_same_seed_same_bytes_different_seed_different_audio(corpus_root: Path, tmp_path: Path) -> None:
    again = tmp_path / "again" / "LA"
    tiny(workers=1)(again)  # in-process here, two workers for corpus_root: scheduling must not matter
    assert hashes(again) == hashes(corpus_root)
    other = tmp_path / "other" / "LA"
    tiny(seed=1)(other)
    first = next(iter(read_protocol(protocol_path(other, "train"), audio_dir(other, "train"))))
    reference = next(
        iter(read_protocol(protocol_path(corpus_root, "train"), audio_dir(corpus_root, "train")))
    )
    assert first.utt_id != reference.utt_id
    assert not set(hashes(other).values()) & {
        h for p, h in hashes(corpus_root).items() if p.endswith(".flac")
    }


def test_second_call_reuses_the_corpus(corpus_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p: p.stat().st_mtime_ns for p in corpus_root.rglob("*")}

    def fail(*args, **kwargs):
        raise AssertionError("regenerated a cached corpus")

    monkeypatch.setattr(SyntheticCorpus, "synthesize", fail)
    tiny(workers=2)(corpus_root)
    assert {p: p.stat().st_mtime_ns for p in corpus_root.rglob("*")} == before


def test_other_settings_or_foreign_folders_are_refused(corpus_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"other settings \(train_bonafide: 4 there, 6 asked\)"):
        tiny(train_bonafide=6)(corpus_root)
    foreign = tmp_path / "LA"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="not a synthetic corpus"):
        tiny()(foreign)
    assert (foreign / "mine.txt").read_text() == "user data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LA"]  # no lock file, no partial folder


def test_an_empty_folder_becomes_the_corpus(corpus_root: Path, tmp_path: Path) -> None:
    """An empty folder made for the corpus (data.root, --out) is filled as a new one would be."""
    root = tmp_path / "LA"
    root.mkdir()
    tiny()(root)
    assert hashes(root) == hashes(corpus_root)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LA"]


def test_missing_files_are_reported(corpus_root: Path, tmp_path: Path) -> None:
    import shutil

    damaged = tmp_path / "damaged" / "LA"
    shutil.copytree(corpus_root, damaged)
    victim, other = sorted(audio_dir(damaged, "eval").glob("*.flac"))[:2]
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=f"damaged: 1 audio file is missing.*{victim.stem}"):
        tiny()(damaged)
    other.unlink()
    with pytest.raises(FileNotFoundError, match="damaged: 2 audio files are missing"):
        tiny()(damaged)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("train_bonafide", 0, "train_bonafide must be a positive integer"),
        ("dev_speakers", 1, r"dev_speakers must be an integer in \[2, 99\]"),
        ("max_duration", 0.9, "min_duration < max_duration"),
    ],
)
def test_bad_settings(key: str, value, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SyntheticCorpus(**{**TINY, key: value})


def test_killed_generation_leaves_no_complete_looking_folder_and_rerun_completes(
    corpus_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "killed" / "LA"
    partial = root.parent / ".LA.partial"
    generator = tiny(workers=2)
    process = multiprocessing.get_context("fork").Process(target=generator, args=(root,))
    process.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(partial.glob("*/flac/*.flac"))) < 8:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    written = len(list(partial.glob("*/flac/*.flac")))
    assert 8 <= written < sum(sum(c.values()) for c in EXPECTED.values()), "not killed mid-way"
    assert not root.exists()  # nothing that looks like a corpus
    assert not (partial / MANIFEST).exists()
    generator(root)  # resumes the partial folder (after the orphaned workers exit)
    assert not partial.exists()
    assert hashes(root) == hashes(corpus_root)


def test_attack_table_and_every_attack_runs() -> None:
    assert tuple(ATTACKS) == tuple(f"A{i:02d}" for i in range(1, 20))
    assert ATTACKS["A16"].fn is ATTACKS["A04"].fn and ATTACKS["A19"].fn is ATTACKS["A06"].fn
    unseen = {ATTACKS[a].fn for a in EVAL_ATTACKS if a not in ("A16", "A19")}
    assert not unseen & {ATTACKS[a].fn for a in TRAIN_ATTACKS}
    # The documented table (module docstring, README) is the registry's.
    for attack, spec in ATTACKS.items():
        assert f"| {attack} | {spec.family} | {spec.description} |" in synthetic.__doc__
    rng = np.random.default_rng(0)
    speaker, donor = sample_speaker(rng), sample_speaker(rng)
    plan = make_plan(rng, speaker, 1.2)
    for attack in ATTACKS:
        out = synthesize_attack(attack, AttackInput(plan, speaker, donor, np.random.default_rng(1)))
        assert out.shape == (plan.n_samples,) and np.isfinite(out).all() and np.std(out) > 0, attack
    with pytest.raises(ValueError, match="unknown attack id 'A20'"):
        synthesize_attack("A20", AttackInput(plan, speaker, donor, rng))


def test_config_folder_name_matches_the_generator() -> None:
    """conf/data/synthetic.yaml builds the cache folder from the seed and sizes as folder_name does."""
    data = OmegaConf.load(config_dir() / "data" / "synthetic.yaml")
    cfg = OmegaConf.create({"paths": {"data_dir": "/data"}, "data": data})
    generator = SyntheticCorpus(**{k: v for k, v in cfg.data.generator.items() if k != "_target_"})
    assert cfg.data.root == f"/data/synthetic_la/{generator.folder_name}/LA"
    assert cfg.data.generator._target_ == "aasist_lightning.data.synthetic.SyntheticCorpus"
    assert generator.sizes["train_bonafide"] >= 500 and generator.sizes["train_spoof_per_attack"] >= 84


def test_shortcut_baseline_runs(corpus_root: Path) -> None:
    pytest.importorskip("sklearn")
    from aasist_lightning.bench.shortcut import GLOBAL_FEATURES, file_features, shortcut_baseline

    global_feats, fine = file_features(next(audio_dir(corpus_root, "dev").glob("*.flac")))
    assert len(global_feats) == len(GLOBAL_FEATURES) and np.isfinite(fine).all()
    results = shortcut_baseline(corpus_root)
    for out in results.values():
        assert {"dev", "eval", "dev/A01", "eval/A19"} <= set(out)
        assert all(0.0 <= v <= 1.0 for v in out.values())


def test_the_training_hint_pastes_as_one_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """aasist-synth prints how to train on the corpus: a folder with a space stays one argument."""
    import shlex

    from aasist_lightning.cli.synth import main

    out = tmp_path / "my corpora" / "LA"
    counts = ["--train-bonafide", "2", "--dev-bonafide", "2", "--eval-bonafide", "2"]
    spoof = ["--train-spoof-per-attack", "1", "--dev-spoof-per-attack", "1", "--eval-spoof-per-attack", "1"]
    assert main(["--out", str(out), *counts, *spoof]) == 0
    hint = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("train on it: "))
    assert shlex.split(hint.removeprefix("train on it: "))[-1] == f"data.root={out.absolute()}"
