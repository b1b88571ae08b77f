"""ASVspoofDataModule on a tiny corpus in the official LA layout (and CSV manifests) built in tmp_path."""

import logging
import os
import re
from collections import Counter
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import soundfile as sf
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from aasist_lightning.bench.loader import benchmark_loader, make_flac_corpus
from aasist_lightning.data import (
    AudioError,
    EpochSampler,
    ProtocolError,
    RawBoost,
    UnpaddedDistributedSampler,
    asv_score_path,
    audio_dir,
    collate_trials,
    protocol_path,
)
from aasist_lightning.lit.datamodule import ASVspoofDataModule
from aasist_lightning.metrics import ASVSPOOF2019

NB = 4000  # short clips keep the tests fast; the rules do not depend on the length
PREFIX = {"train": "T", "dev": "D", "eval": "E"}
ATTACKS = {"train": ["A01", "A02"], "dev": ["A01", "A02"], "eval": ["A07", "A08", "A09"]}


def make_corpus(root: Path, n_bona: int = 6, n_per_attack: int = 4, seed: int = 0) -> dict[str, list[str]]:
    """Write an official-layout LA corpus: protocols, FLACs of varying length, ASV score files."""
    rng = np.random.default_rng(seed)
    ids: dict[str, list[str]] = {}
    for split in ("train", "dev", "eval"):
        lines = []
        for i in range(n_bona):
            lines.append(f"LA_00{i % 3} LA_{PREFIX[split]}_{1000 + i} - - bonafide")
        for a, attack in enumerate(ATTACKS[split]):
            for i in range(n_per_attack):
                lines.append(f"LA_00{i % 3} LA_{PREFIX[split]}_{2000 + 100 * a + i} - {attack} spoof")
        proto = protocol_path(root, split)
        proto.parent.mkdir(parents=True, exist_ok=True)
        proto.write_text("\n".join(lines) + "\n")
        folder = audio_dir(root, split)
        folder.mkdir(parents=True, exist_ok=True)
        ids[split] = [line.split()[1] for line in lines]
        for k, utt in enumerate(ids[split]):
            n = [NB // 3, NB, 2 * NB + 17][k % 3]
            sf.write(
                folder / f"{utt}.flac", rng.uniform(-0.5, 0.5, n).astype(np.float32), 16000, subtype="PCM_16"
            )
    for split in ("dev", "eval"):
        asv = asv_score_path(root, split)
        asv.parent.mkdir(parents=True, exist_ok=True)
        asv.write_text("bonafide target 1.0\nbonafide nontarget -1.0\nA01 spoof 0.0\n")
    return ids


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path / "LA"
    return root, make_corpus(root)


def _dm(root: Path | None, **kw) -> ASVspoofDataModule:
    kw.setdefault("num_workers", 0)
    kw.setdefault("nb_samp", NB)
    kw.setdefault("batch_size", 4)
    kw.setdefault("train_subset", None)  # the tiny corpus is smaller than the default 1000
    return ASVspoofDataModule(root=root, **kw)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def test_fit_batches_subset_file_and_untouched_corpus(corpus, tmp_path: Path) -> None:
    root, ids = corpus
    before = _snapshot(root)
    out = tmp_path / "run"
    dm = _dm(root, train_subset=6, output_dir=out, augment=RawBoost(algo=5), seed=1)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.subset_ids) == 6
    assert Counter(t.label for t in dm.trials["train"]) == {0: 3, 1: 3}
    assert (out / "train_subset.txt").read_text().split() == dm.subset_ids
    assert not (out / "dev_subset.txt").exists()  # full dev set: nothing to record
    assert "eval" not in dm.trials  # 'fit' does not read the eval split

    batches = list(dm.train_dataloader())
    assert len(batches) == 1  # 6 trials, batch 4, last partial batch dropped as in the official recipe
    wave, label = batches[0]
    assert wave.shape == (4, NB) and wave.dtype == torch.float32 and label.dtype == torch.int64
    assert torch.isfinite(wave).all()

    val = list(dm.val_dataloader())
    wave, label, utt_ids, attacks = val[0]
    assert wave.shape == (4, NB) and isinstance(utt_ids, list) and isinstance(attacks, list)
    seen = [u for b in val for u in b[2]]
    assert sorted(seen) == sorted(ids["dev"])  # complete, nothing dropped or repeated
    dev_attacks = dict(zip([u for b in val for u in b[2]], [a for b in val for a in b[3]], strict=True))
    assert dev_attacks["LA_D_1000"] == "-" and dev_attacks["LA_D_2000"] == "A01"
    assert _snapshot(root) == before  # nothing in the corpus folder was written


def test_eval_head_crop_matches_file_and_test_split(corpus) -> None:
    root, ids = corpus
    dm = _dm(root)
    dm.setup("test")
    assert set(dm.trials) == {"eval"}
    batches = list(dm.test_dataloader())
    assert sorted(u for b in batches for u in b[2]) == sorted(ids["eval"])
    first = sf.read(audio_dir(root, "eval") / f"{batches[0][2][1]}.flac", dtype="float32")[0]
    np.testing.assert_array_equal(batches[0][0][1].numpy(), first[:NB])  # a full-length clip: head crop
    assert len(list(dm.predict_dataloader())) == len(batches)


def test_train_batches_reproducible_across_workers_and_vary_by_epoch(corpus) -> None:
    root, _ = corpus

    def epoch_batches(workers: int, epoch: int) -> list[torch.Tensor]:
        dm = _dm(root, train_subset=None, num_workers=workers, augment=RawBoost(algo=2), seed=5)
        dm.setup("fit")
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        return [b[0] for b in loader]

    ref = epoch_batches(0, 0)
    for a, b in zip(ref, epoch_batches(2, 0), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    other = epoch_batches(0, 1)
    assert not all(torch.equal(a, b) for a, b in zip(ref, other, strict=True))


def test_samplers_shard_without_loss_or_duplicates() -> None:
    data = list(range(10))
    shards = [list(UnpaddedDistributedSampler(data, num_replicas=3, rank=r)) for r in range(3)]
    assert sorted(i for s in shards for i in s) == data
    assert [len(UnpaddedDistributedSampler(data, num_replicas=3, rank=r)) for r in range(3)] == [4, 3, 3]
    train = [EpochSampler(data, num_replicas=2, rank=r, shuffle=True, seed=0) for r in range(2)]
    for s in train:
        s.set_epoch(3)
    items = [x for s in train for x in s]
    assert sorted(i for i, _ in items) == data and {e for _, e in items} == {3}


def test_lightning_keeps_the_sampler_and_sets_the_epoch(corpus, tmp_path: Path) -> None:
    root, _ = corpus
    seen: list[tuple[int, int]] = []

    class Probe(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(NB, 2)

        def training_step(self, batch, batch_idx):
            return torch.nn.functional.cross_entropy(self.layer(batch[0]), batch[1])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    dm = _dm(root, train_subset=None)
    dm.setup("fit")
    original = dm.datasets["train"].__class__.__getitem__

    def spy(ds, key):
        seen.append(key)
        return original(ds, key)

    dm.datasets["train"].__class__ = type("Spy", (dm.datasets["train"].__class__,), {"__getitem__": spy})
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(Probe(), datamodule=dm)
    for epoch in (0, 1):  # 14 trials, batch 4: 12 distinct ones per epoch (the last partial batch dropped)
        drawn = [i for i, e in seen if e == epoch]
        assert len(drawn) == len(set(drawn)) == 12
    assert {e for _, e in seen} == {0, 1}


def test_missing_root_and_layout(tmp_path: Path) -> None:
    (tmp_path / "LA").mkdir()
    with pytest.raises(FileNotFoundError) as err:
        _dm(tmp_path / "LA_typo").setup("fit")
    msg = str(err.value)
    assert f"data.root={tmp_path / 'LA_typo'} does not exist" in msg
    assert f"did you mean data.root={tmp_path / 'LA'}" in msg
    with pytest.raises(FileNotFoundError) as err:
        _dm(tmp_path).setup("fit")  # the parent of LA/
    msg = str(err.value)
    assert str(protocol_path(tmp_path, "train")) in msg and "ASVspoof2019_LA_{train,dev,eval}/flac" in msg
    assert f"did you mean data.root={tmp_path / 'LA'}" in msg


def test_missing_protocol(corpus) -> None:
    root, _ = corpus
    protocol_path(root, "eval").unlink()
    _dm(root).setup("fit")  # fit does not need eval
    with pytest.raises(FileNotFoundError, match=re.escape(str(protocol_path(root, "eval")))):
        _dm(root).setup("test")


def test_missing_audio_one_error(corpus, caplog) -> None:
    root, ids = corpus
    gone = [audio_dir(root, "dev") / f"{u}.flac" for u in ids["dev"][:7]]
    for p in gone:
        p.unlink()
    with pytest.raises(FileNotFoundError) as err:
        _dm(root).setup("fit")
    msg = str(err.value)
    assert f"7 of {len(ids['dev'])} audio files listed in {protocol_path(root, 'dev')} are missing" in msg
    assert all(str(p) in msg for p in gone[:5]) and "... and 2 more" in msg
    assert "data.on_bad_audio=skip" in msg
    dm = _dm(root, on_bad_audio="skip")
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    assert len(dm.trials["dev"]) == len(ids["dev"]) - 7
    assert "7 of 14 audio files" in caplog.text


def test_unparsable_protocol_line(corpus) -> None:
    root, _ = corpus
    proto = protocol_path(root, "train")
    lines = proto.read_text().splitlines()
    lines[4] = "LA_001 LA_T_9999 - A01"
    proto.write_text("\n".join(lines) + "\n")
    with pytest.raises(ProtocolError, match=re.escape(f"{proto}:5")):
        _dm(root).setup("fit")


def test_bad_audio_error_and_skip(corpus, caplog) -> None:
    root, ids = corpus
    bad = audio_dir(root, "dev") / f"{ids['dev'][2]}.flac"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match=f"1 of .* are damaged:\n  {re.escape(str(bad))} cannot be read"):
        _dm(root).setup("validate")  # before any batch is read

    dm = _dm(root, on_bad_audio="skip", num_workers=2)
    dm.setup("validate")
    with caplog.at_level(logging.WARNING):
        batches = list(dm.val_dataloader())
    assert sorted(u for b in batches for u in b[2]) == sorted(set(ids["dev"]) - {ids["dev"][2]})
    assert dm.num_skipped == 1  # counted across worker processes

    caplog.clear()
    dm = _dm(root, on_bad_audio="skip")
    dm.setup("validate")
    with caplog.at_level(logging.WARNING):
        list(dm.val_dataloader())
    assert str(bad) in caplog.text and "1 unusable file(s) skipped so far" in caplog.text
    assert collate_trials([None, None]) is None  # an all-bad batch: the step should skip it


def test_generator_called_only_when_needed(tmp_path: Path) -> None:
    root = tmp_path / "generated"
    calls: list[Path] = []

    def generator(where: Path) -> None:
        calls.append(where)
        make_corpus(where)

    dm = _dm(root, generator=generator, generate=True)
    dm.prepare_data()
    dm.prepare_data()
    assert calls == [root]
    (audio_dir(root, "eval") / "LA_E_1000.flac").unlink()
    _dm(root, generator=generator, generate=True).prepare_data()
    assert calls == [root, root]
    _dm(root, generator=generator, generate=True).setup("fit")


def test_a_users_root_is_never_generated(tmp_path: Path) -> None:
    """Without generate (only the synthetic data group sets it) a generator is ignored: a missing root stops
    the run, naming data.root, and is not created."""
    root = tmp_path / "nowhere" / "LA"
    dm = _dm(root, generator=make_corpus)
    dm.prepare_data()
    with pytest.raises(FileNotFoundError, match=rf"data\.root={re.escape(str(root))} does not exist"):
        dm.setup("fit")
    assert not root.parent.exists()


def test_a_one_class_training_manifest_is_refused(tmp_path: Path) -> None:
    rows = []
    for i in range(4):
        sf.write(tmp_path / f"b{i}.wav", np.full(NB // 2, 0.1, dtype=np.float32), 16000)
        rows.append(f"b{i}.wav,bonafide\n")
    csv = tmp_path / "train.csv"
    csv.write_text("".join(rows))
    dm = ASVspoofDataModule(
        train_manifest=csv, dev_manifest=csv, train_subset=None, num_workers=0, nb_samp=NB
    )
    with pytest.raises(
        ProtocolError, match=rf"{re.escape(str(csv))}: the train split has 4 bona fide and 0 spoof"
    ):
        dm.setup("fit")
    dm.setup("validate")  # a one-class dev split is allowed: validation reports no EER yet


def test_manifests(tmp_path: Path, corpus) -> None:
    root, _ = corpus
    audio = tmp_path / "mine"
    audio.mkdir()
    rows = ["path,label,attack,speaker"]
    for i in range(8):
        sf.write(audio / f"c{i}.wav", np.full(NB // 2, 0.1 * (i + 1), dtype=np.float32), 16000)
        rows.append(f"mine/c{i}.wav,{'bonafide' if i % 2 else 'spoof'},{'' if i % 2 else 'X'},s{i % 2}")
    csv = tmp_path / "train.csv"
    csv.write_text("\n".join(rows) + "\n")
    dm = ASVspoofDataModule(train_manifest=csv, dev_manifest=csv, train_subset=4, num_workers=0, nb_samp=NB)
    dm.setup("fit")
    assert Counter(t.label for t in dm.trials["train"]) == {0: 2, 1: 2}
    assert dm.asv_scores("dev") is None
    with pytest.raises(ValueError, match=r"no eval data: set data\.eval_manifest"):
        dm.setup("test")
    only_train = ASVspoofDataModule(train_manifest=csv, num_workers=0, nb_samp=NB, train_subset=None)
    only_train.setup("fit")  # validation is optional when fitting ...
    with pytest.raises(ValueError, match=r"no dev data: set data\.dev_manifest"):
        only_train.val_dataloader()  # ... until a dev loader is asked for
    # A manifest replaces one split of the corpus; the others still come from root.
    mixed = _dm(root, train_manifest=csv, train_subset=None)
    mixed.setup(None)
    assert len(mixed.trials["train"]) == 8 and len(mixed.trials["eval"]) == 18
    assert mixed.asv_scores("test").source == str(asv_score_path(root, "eval"))


def test_asv_scores(corpus) -> None:
    root, _ = corpus
    dm = _dm(root)
    assert dm.asv_scores("dev").source == str(asv_score_path(root, "dev"))
    assert dm.asv_scores("val").source == str(asv_score_path(root, "dev"))
    tandem = dm.asv_scores("eval")
    assert tandem.source == str(asv_score_path(root, "eval")) and tandem.cost_model == ASVSPOOF2019
    assert min(len(tandem.scores.target), len(tandem.scores.nontarget), len(tandem.scores.spoof)) > 0
    asv_score_path(root, "eval").unlink()
    assert dm.asv_scores("eval") is None
    with pytest.raises(ValueError, match="'dev' and 'eval' only"):
        dm.asv_scores("train")


def test_subset_errors_name_the_key(corpus) -> None:
    root, _ = corpus
    with pytest.raises(ValueError, match=r"data\.train_subset=7 is odd"):
        _dm(root, train_subset=7).setup("fit")
    with pytest.raises(ProtocolError, match=r"dev\.trl\.txt: data\.dev_subset=100 needs 50 bona fide"):
        _dm(root, dev_subset=100).setup("fit")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"root": None}, "no data given: set data.root"),
        ({"on_bad_audio": "ignore"}, "data.on_bad_audio='ignore' must be one of"),
        ({"batch_size": 0}, "data.batch_size=0 must be a positive integer"),
        ({"batch_size": True}, "data.batch_size=True must be a positive integer"),  # a YAML bool is an int
        ({"num_workers": -1}, "data.num_workers=-1 must be >= 0"),
        ({"seed": -1}, "data.seed=-1 must be a non-negative integer"),
        ({"augment": {"_target_": "x"}}, "data.augment must be an instantiated augmentation"),
        (
            {"root": None, "train_manifest": "a.csv", "generator": print, "generate": True},
            "data.generator needs data.root",
        ),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    kwargs = {"root": tmp_path, **kwargs}
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        ASVspoofDataModule(**kwargs)


def test_loader_defaults(corpus) -> None:
    root, _ = corpus
    dm = ASVspoofDataModule(root=root, nb_samp=NB, train_subset=None)
    dm.setup("fit")
    loader = dm.train_dataloader()
    cpus = len(os.sched_getaffinity(0))
    assert loader.num_workers == min(16, cpus) and loader.persistent_workers
    assert loader.pin_memory == torch.cuda.is_available()
    assert not dm.test_dataloader().persistent_workers


def test_data_configs_instantiate(repo_root: Path, corpus, tmp_path: Path) -> None:
    root, _ = corpus
    with initialize_config_dir(config_dir=str(repo_root / "conf"), version_base="1.3"):
        base = ["+model=aasist_l", "+seed=11", f"data.output_dir={tmp_path / 'out'}"]
        cfg = compose(config_name=None, overrides=["+data=asvspoof2019_la", "+augment=rawboost", *base])
        with pytest.raises(Exception, match="root"):
            instantiate(cfg.data, _convert_="all")  # root is mandatory
        cfg = compose(
            config_name=None,
            overrides=["+data=asvspoof2019_la", "+augment=rawboost", f"data.root={root}", *base],
        )
        dm = instantiate(cfg.data, _convert_="all")
        assert isinstance(dm.augment, RawBoost) and dm.seed == 11 and dm.nb_samp == 64600
        assert dm.subset_sizes == {"train": 1000, "dev": None, "eval": None} and dm.batch_size == 16
        cfg = compose(config_name=None, overrides=["+data=asvspoof2019_la", f"data.root={root}", *base])
        assert instantiate(cfg.data, _convert_="all").augment is None  # no augment group at all (eval)
        cfg = compose(
            config_name=None,
            overrides=[
                "+data=manifest",
                "+augment=none",
                "data.train_manifest=a.csv",
                "data.dev_manifest=b.csv",
                *base,
            ],
        )
        dm = instantiate(cfg.data, _convert_="all")
        assert dm.root is None and dm.augment is None and set(dm.manifests) == {"train", "dev"}


def test_bench_loader_smoke(tmp_path: Path) -> None:
    manifest = make_flac_corpus(tmp_path, 6)
    result = benchmark_loader(
        manifest, num_workers=0, batch_size=2, augment=RawBoost(algo=2), epochs=1, nb_samp=NB
    )
    assert result["clips"] == 6 and result["clips_per_s"] > 0
