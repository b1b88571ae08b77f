"""End-to-end training with the real pieces: a tiny AASIST on a tiny generated synthetic corpus (debug=tiny).

One fit + test writes every output; seeded runs reproduce; an interrupted run resumed with ckpt_path=last ends
exactly as the uninterrupted one; Ctrl-C leaves a usable last.ckpt; W&B offline writes a run folder; a 2-job
multirun, a 2-trial Optuna sweep and a 2-process CPU DDP run work through `python train.py`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import runpy
import subprocess
import sys
from pathlib import Path

import hydra
import lightning as L
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from logging_guard import root_logging_restored
from omegaconf import DictConfig, open_dict

from aasist_lightning import config_dir
from aasist_lightning.cli.train import train
from aasist_lightning.cli.trainer_checks import MONITORABLE
from aasist_lightning.metrics import compute_eer, read_score_file

CONF = config_dir()
TINY_COUNTS = {
    "train": 14,
    "dev": 14,
    "eval": 21,
}  # 8 bona fide + 1 per attack (6 train/dev, 13 eval attacks)


def compose_cfg(*overrides: str, output_dir: Path) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in a real run: the task function does not see the hydra node
    cfg.paths.output_dir = str(output_dir)
    return cfg


def metrics_of(results: dict) -> dict[str, float]:
    return {k: v for k, v in results.items() if "/" in k or k == "lr"}


def read_results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


class InterruptAt(L.Callback):
    """Simulates Ctrl-C: KeyboardInterrupt at the start of `epoch`, or after its batch `batch`."""

    def __init__(self, epoch: int = 1, batch: int | None = None) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.batch is None and trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self.batch is not None and trainer.current_epoch == self.epoch and batch_idx == self.batch:
            raise KeyboardInterrupt


class TerminateAt(L.Callback):
    """Simulates SIGTERM (a scheduler's time limit) after batch `batch` of epoch 0: what Lightning's handler
    does (a real signal would end the test process where no handler is installed)."""

    def __init__(self, batch: int = 1) -> None:
        self.batch = batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if trainer.current_epoch == 0 and batch_idx == self.batch:
            trainer._signal_connector.received_sigterm = True


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The debug=tiny synthetic corpus, generated once with the config's own generator settings."""
    root = tmp_path_factory.mktemp("tiny_corpus") / "LA"
    cfg = compose_cfg("debug=tiny", output_dir=root.parent / "unused")
    hydra.utils.instantiate(cfg.data.generator)(root)
    return root


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("train")


def tiny_cfg(work: Path, corpus: Path, run: str, *overrides: str) -> DictConfig:
    """debug=tiny with its outputs in <work>/outputs/tiny/runs/<run>, as Hydra would lay them out."""
    out = work / "outputs" / "tiny" / "runs" / run
    return compose_cfg(
        "debug=tiny", f"data.root={corpus}", "logger=none", "trainer.accelerator=cpu",
        f"paths.log_dir={work / 'outputs'}", *overrides, output_dir=out,
    )  # fmt: skip


def lean_cfg(work: Path, corpus: Path, run: str, *overrides: str) -> DictConfig:
    """tiny_cfg without the test-time plots (seconds of matplotlib that these tests do not look at)."""
    return tiny_cfg(work, corpus, run, "~callbacks.test_plots", *overrides)


@pytest.fixture(scope="module")
def main_run(work: Path, tiny_corpus: Path) -> tuple[Path, dict[str, float]]:
    """The reference run: 2 epochs, default callbacks, W&B (offline) as by default."""
    cfg = tiny_cfg(work, tiny_corpus, "main", "logger=wandb")
    metrics = train(cfg)
    return Path(cfg.paths.output_dir), metrics


#: Where tests run inside a cluster job (SLURM, torchrun): Lightning would take its environment for theirs.
CLUSTER_VARIABLES = ("SLURM_", "TORCHELASTIC_", "LSB_", "OMPI_", "PMI_", "NODE_RANK", "WORLD_SIZE", "RANK")


def subprocess_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLUSTER_VARIABLES)}
    env.update({"OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_DIR": str(tmp)})
    env.pop("WANDB_API_KEY", None)
    return env


def run_train_py(
    repo_root: Path, tmp: Path, *args: str, timeout: int = 300, status: int = 0
) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(repo_root / "train.py"), *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp, env=subprocess_env(tmp), check=False
    )
    assert proc.returncode == status, (
        f"{' '.join(cmd)}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    )
    return proc


# --------------------------------------------------------------------------------------------- one fit + test
def test_fit_and_test_write_every_output(main_run) -> None:
    out, metrics = main_run
    for rel in (
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "scores/dev.txt",
        "scores/eval.txt",
        "results.json",
        "config.yaml",
        "config_tree.log",
        "train_subset.txt",
        "plots/det_eval.png",
        "plots/score_histogram_eval.png",
    ):
        assert (out / rel).is_file(), rel
    assert (
        "model" in (out / "config_tree.log").read_text()
        and "first_conv: 3" in (out / "config.yaml").read_text()
    )
    results = read_results(out)
    for key in (
        "train/loss", "train/acc", "val/loss", "val/acc", "val/eer", "val/eer_best", "lr", "test/eer",
        "test/min_tdcf", "test/min_dcf", "test/act_dcf", "test/cllr", "test/eer_A07", "test/eer_A19",
    ):  # fmt: skip
        assert key in results and key in metrics, key
    assert metrics_of(results) == pytest.approx(metrics)
    # What the config check lets a callback monitor is what the module logs.
    assert {*MONITORABLE} - {"epoch", "step"} == {
        k for k in results if k.startswith(("val/", "train/", "lr"))
    }
    assert results["epochs"] == 2 and results["global_step"] == 6  # 12-trial subset, batch 4
    assert len(results["train_subset_ids"]) == 12
    assert (out / "train_subset.txt").read_text().split() == results["train_subset_ids"]
    assert results["config"]["model"]["first_conv"] == 3 and results["config"]["seed"] == 42
    assert results["checkpoints"]["best"] == str(out / "checkpoints" / "best.ckpt")
    assert isinstance(results["dev_eer_threshold"], float)


def test_wandb_offline_writes_a_run_folder(main_run) -> None:
    out, _ = main_run
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].glob("*.wandb")), list((out / "wandb").iterdir())
    import wandb

    assert wandb.run is None  # finished, so the next job of a multirun starts its own run


def test_score_files_are_aasist_format_and_match_the_metrics(main_run) -> None:
    out, metrics = main_run
    for split, name in (("dev", "dev.txt"), ("eval", "eval.txt")):
        lines = (out / "scores" / name).read_text().splitlines()
        assert len(lines) == TINY_COUNTS[split] and len({ln.split()[0] for ln in lines}) == len(lines)
        for line in lines:
            utt, attack, key, score = line.split()
            assert (
                utt.startswith("LA_")
                and key in ("bonafide", "spoof")
                and (attack == "-") == (key == "bonafide")
            )
            float(score)
    dev, ev = read_score_file(out / "scores" / "dev.txt"), read_score_file(out / "scores" / "eval.txt")
    assert 100 * compute_eer(ev.scores[ev.labels == 1], ev.scores[ev.labels == 0])[0] == pytest.approx(
        metrics["test/eer"]
    )
    # dev.txt holds the best epoch's validation scores, the epoch of best.ckpt.
    dev_eer, dev_threshold = compute_eer(dev.scores[dev.labels == 1], dev.scores[dev.labels == 0])
    assert 100 * dev_eer == pytest.approx(metrics["val/eer_best"])
    best = torch.load(out / "checkpoints" / "best.ckpt", weights_only=True, map_location="cpu")
    assert best["dev_eer_threshold_logit"] == pytest.approx(dev_threshold)


def test_last_ckpt_is_the_final_epoch_even_when_it_did_not_improve(work: Path, tiny_corpus: Path) -> None:
    # Monitoring the epoch number (mode min): only epoch 0 is ever "best".
    cfg = lean_cfg(
        work,
        tiny_corpus,
        "no_improvement",
        "trainer.max_epochs=3",
        "callbacks.model_checkpoint.monitor=epoch",
    )
    train(cfg)
    checkpoints = Path(cfg.paths.output_dir) / "checkpoints"
    best, last = (
        torch.load(checkpoints / name, weights_only=True, map_location="cpu")
        for name in ("best.ckpt", "last.ckpt")
    )
    assert best["epoch"] == 0
    assert last["epoch"] == 2 and last["global_step"] == read_results(checkpoints.parent)["global_step"]


def test_checkpoints_load_weights_only(main_run) -> None:
    out, _ = main_run
    results = read_results(out)
    for name in ("best.ckpt", "last.ckpt"):
        ckpt = torch.load(out / "checkpoints" / name, weights_only=True, map_location="cpu")
        assert ckpt["hyper_parameters"]["filts"] == [8, [1, 4], [4, 4], [4, 4], [4, 4]]
        assert isinstance(ckpt["dev_eer_threshold"], float)
    best = torch.load(out / "checkpoints" / "best.ckpt", weights_only=True, map_location="cpu")
    assert best["dev_eer_threshold"] == pytest.approx(results["dev_eer_threshold"])


def test_seeded_runs_are_reproducible(main_run, work: Path, tiny_corpus: Path) -> None:
    """Same seed, same metrics and scores (bit-identical on the CPU, whatever the logger); the phase timer
    (callbacks=[default,phase_times], what make bench profiles the recipe with) changes nothing and
    accounts for every clip and checkpoint."""
    out, metrics = main_run
    again = train(lean_cfg(work, tiny_corpus, "again", "callbacks=[default,phase_times]"))
    assert again == metrics
    run = work / "outputs/tiny/runs/again"
    assert (run / "scores/eval.txt").read_text() == (out / "scores/eval.txt").read_text()
    results = read_results(run)
    seconds, counts = results["phase_seconds"], results["phase_counts"]
    assert set(seconds) >= {
        *("warm_up", "loading", "training", "checkpointing"),
        *("validation_overhead", "validation", "test_overhead", "test"),
    }
    assert all(v >= 0 for v in seconds.values()) and seconds["training"] > 0
    assert sum(seconds.values()) < results["wall_time_s"]
    # 2 epochs of 12 clips, batch 4: the first step is the warm-up, the other 5 are timed as training
    assert counts["warm_up_clips"] == 4 and counts["training_clips"] == 20 and counts["training_steps"] == 5
    # validation and test clips after each run's first batch (in its overhead); the sanity check is not a run
    assert counts["validation_runs"] == 2 and counts["test_runs"] == 1
    assert counts["validation_clips"] == 2 * (TINY_COUNTS["dev"] - 4)
    assert counts["test_clips"] == TINY_COUNTS["eval"] - 4
    assert counts["checkpoints"] >= 3  # last.ckpt twice, best.ckpt at least once
    assert read_results(out)["phase_seconds"] is None  # not timed unless asked


# -------------------------------------------------------------------------------------------- resume / Ctrl-C
def test_interrupted_run_resumed_with_ckpt_path_last_ends_like_the_uninterrupted_one(
    main_run, work: Path, tiny_corpus: Path
) -> None:
    _, reference = main_run
    stop = [f"+callbacks.stop._target_={__name__}.InterruptAt", "+callbacks.stop.epoch=1"]
    with pytest.raises(SystemExit):  # Lightning exits after a KeyboardInterrupt
        train(lean_cfg(work, tiny_corpus, "stopped", *stop))
    stopped = work / "outputs/tiny/runs/stopped"
    assert (stopped / "checkpoints/last.ckpt").is_file() and not (stopped / "results.json").exists()
    # A new run folder: ckpt_path=last finds the newest outputs/tiny/runs/*/checkpoints/last.ckpt.
    resumed = train(lean_cfg(work, tiny_corpus, "resumed", "ckpt_path=last"))
    assert resumed == pytest.approx(reference, rel=1e-6, abs=1e-9)
    results = read_results(work / "outputs/tiny/runs/resumed")
    assert results["resumed_from"] == str(stopped / "checkpoints/last.ckpt")
    assert results["global_step"] == 6 and (work / "outputs/tiny/runs/resumed/scores/dev.txt").is_file()
    assert (stopped / "checkpoints/last.ckpt").is_file()  # the old run is left as it was


def test_ctrl_c_mid_epoch_leaves_a_usable_last_ckpt(work: Path, tiny_corpus: Path) -> None:
    stop = [
        f"+callbacks.stop._target_={__name__}.InterruptAt",
        "+callbacks.stop.epoch=0",
        "+callbacks.stop.batch=1",
    ]
    with pytest.raises(SystemExit):
        train(lean_cfg(work, tiny_corpus, "ctrl_c", "logger=csv", *stop))
    run = work / "outputs/tiny/runs/ctrl_c"
    ckpt = torch.load(run / "checkpoints/last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == 2
    # Resume in place (what hydra.run.dir=<that run folder> ckpt_path=last does) and finish.
    metrics = train(lean_cfg(work, tiny_corpus, "ctrl_c", "logger=csv", "ckpt_path=last"))
    results = read_results(run)
    assert results["global_step"] == 6 and results["epochs"] == 2 and "test/eer" in metrics
    # The interrupted part's metrics stay in csv/metrics.csv (Lightning's CSVLogger deleted them).
    with (run / "csv/metrics.csv").open() as file:
        logged = list(csv.DictReader(file))
    steps = [int(row["step"]) for row in logged if row["train/loss"]]
    assert steps[0] == 0 and steps[-1] == 5 and any(row["test/eer"] for row in logged)


def test_sigterm_mid_epoch_saves_last_ckpt_and_exits_143(work: Path, tiny_corpus: Path) -> None:
    """Lightning ends a run on SIGTERM with SystemExit(0): a scheduler would take it for a success, and the
    epoch's steps were lost. The step's last.ckpt is saved and the run ends in one line, exit status 143."""
    from aasist_lightning.cli.errors import EXIT_TERMINATED, interrupt_exits

    stop = [f"+callbacks.stop._target_={__name__}.TerminateAt", "+callbacks.stop.batch=1"]
    with pytest.raises(SystemExit) as end, interrupt_exits("aasist-train"):
        train(lean_cfg(work, tiny_corpus, "sigterm", *stop))
    assert end.value.code == EXIT_TERMINATED
    run = work / "outputs/tiny/runs/sigterm"
    ckpt = torch.load(run / "checkpoints/last.ckpt", weights_only=True, map_location="cpu")
    assert ckpt["global_step"] == 2 and not (run / "results.json").exists()


def test_a_finished_run_trains_on_only_when_max_epochs_is_raised(
    main_run, work: Path, tiny_corpus: Path
) -> None:
    """Its checkpoint at the same max_epochs is refused before any work (it trained nothing and replaced the
    results without the validation metrics); with more epochs the cosine schedule spans the longer run (the
    restored T_max made the lr rise again after the old end)."""
    from aasist_lightning.cli.errors import ConfigError

    last = main_run[0] / "checkpoints/last.ckpt"
    with pytest.raises(ConfigError, match=r"has trained 2 epochs .* trainer.max_epochs=3 or more"):
        train(lean_cfg(work, tiny_corpus, "finished", f"ckpt_path={last}"))
    assert not (work / "outputs/tiny/runs/finished").exists()
    metrics = train(lean_cfg(work, tiny_corpus, "longer", f"ckpt_path={last}", "trainer.max_epochs=3"))
    # The lr logged at the last of 9 steps, on a schedule planned for 9 (on the restored 6-step one: 1.25e-5).
    assert metrics["lr"] == pytest.approx(5e-5 * (1 + math.cos(math.pi * 8 / 9)) / 2, rel=1e-4)
    assert metrics["val/eer_best"] <= main_run[1]["val/eer_best"]


def test_a_run_validated_every_other_epoch_is_found_finished_after_the_fit(
    work: Path, tiny_corpus: Path
) -> None:
    """Its last.ckpt is written at validation end, before Lightning counts the epoch: the check before work
    cannot tell, so the fit finds it finished, and the run stops before replacing the results."""
    from aasist_lightning.cli.errors import ConfigError

    every = ("trainer.check_val_every_n_epoch=2",)
    train(lean_cfg(work, tiny_corpus, "every_other", *every))
    run = work / "outputs/tiny/runs/every_other"
    before = (run / "results.json").read_bytes()
    with pytest.raises(
        ConfigError, match=r"continues a run that had finished .* trainer.max_epochs=3 or more"
    ):
        train(lean_cfg(work, tiny_corpus, "every_other", *every, "ckpt_path=last"))
    assert (run / "results.json").read_bytes() == before


def test_a_resumed_csv_log_keeps_the_rows_up_to_its_checkpoint(tmp_path: Path) -> None:
    """Rows logged after the checkpoint (steps the resumed run trains again) give way to the new ones."""
    from aasist_lightning.lit.loggers import ContinuedCSVLogger

    first = ContinuedCSVLogger(tmp_path, name="csv", version="")
    for step in range(5):
        first.log_metrics({"train/loss": float(step)}, step=step)
    first.save()
    resumed = ContinuedCSVLogger(tmp_path, name="csv", version="")
    resumed.log_metrics({"train/loss": 30.0, "val/eer": 1.0}, step=3)
    resumed.save()
    with (tmp_path / "csv/metrics.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [(r["step"], r["train/loss"], r["val/eer"]) for r in rows] == [
        *(("0", "0.0", ""), ("1", "1.0", ""), ("2", "2.0", "")),
        ("3", "30.0", "1.0"),
    ]


def test_default_run_stops_with_the_model_error_when_weights_are_missing(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aasist_lightning.models import WeightsNotFoundError

    monkeypatch.setenv("AASIST_WEIGHTS_DIR", str(work / "no_weights"))
    monkeypatch.setenv("AASIST_CACHE_DIR", str(work / "no_cache"))
    monkeypatch.setenv("AASIST_OFFLINE", "1")
    corpus = work / "never_generated" / "LA"
    cfg = compose_cfg(f"data.root={corpus}", "logger=none", output_dir=work / "outputs/train/runs/no_weights")
    with pytest.raises(WeightsNotFoundError, match="AASIST-L"):
        train(cfg)
    assert not corpus.exists()  # stopped before generating any data


def test_a_configured_root_is_never_generated(work: Path) -> None:
    from aasist_lightning.cli.config_checks import ConfigError

    root = work / "nowhere" / "LA"
    # debug=tiny merges its data.generator into every data group: only the synthetic group uses it.
    cfg = compose_cfg(
        "debug=tiny", "data=asvspoof2019_la", f"data.root={root}", "logger=none",
        output_dir=work / "outputs/train/runs/nowhere",
    )  # fmt: skip
    assert cfg.data.generator is not None and cfg.data.generate is False
    with pytest.raises(FileNotFoundError, match=rf"data\.root={root} does not exist"):
        train(cfg)
    assert not root.parent.exists()
    with pytest.raises(ConfigError, match=r"data\.generate"):
        train(compose_cfg("debug=tiny", "data.generate=maybe", output_dir=work / "unused"))


def write_manifest(folder: Path, name: str, n: int, nan_last: bool = False) -> Path:
    """A manifest of ``n`` 1 s noise clips, both classes; with ``nan_last`` its last clip holds a NaN."""
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        wave = (0.1 * np.random.default_rng(i).standard_normal(16000)).astype(np.float32)
        if nan_last and i == n - 1:
            wave[-1] = np.nan
        sf.write(folder / f"{name}{i}.wav", wave, 16000, subtype="FLOAT")
        rows.append(f"{name}{i}.wav,{'bonafide' if i % 2 else 'spoof'}\n")
    path = folder / f"{name}.csv"
    path.write_text("".join(rows))
    return path


def test_testing_own_audio_needs_no_training_manifests(work: Path, tiny_corpus: Path, main_run) -> None:
    """data=manifest leaves the training manifests unset (???): train=false tests without them."""
    eval_csv = write_manifest(work / "own_eval", "eval", 6)
    best = main_run[0] / "checkpoints" / "best.ckpt"
    cfg = lean_cfg(
        work, tiny_corpus, "own_eval", "data=manifest", f"data.eval_manifest={eval_csv}", "train=false",
        f"ckpt_path={best}", "model.inference.backend=eager",
    )  # fmt: skip
    metrics = train(cfg)
    assert 0 <= metrics["test/eer"] <= 100
    assert cfg.data.train_manifest is None and cfg.data.dev_manifest is None


def test_callbacks_none_writes_no_checkpoint(work: Path, tiny_corpus: Path) -> None:
    """Lightning adds a checkpoint callback of its own when none is configured (epoch=N-step=M.ckpt in the
    logger's folder): callbacks=none means none."""
    cfg = tiny_cfg(work, tiny_corpus, "no_callbacks", "callbacks=none", "logger=csv", "trainer.max_epochs=1")
    metrics = train(cfg)
    run = Path(cfg.paths.output_dir)
    assert "test/eer" in metrics and (run / "results.json").is_file()
    assert sorted(run.rglob("*.ckpt")) == []


def test_a_failing_validation_keeps_the_trained_epoch(work: Path, tiny_corpus: Path) -> None:
    from aasist_lightning.data import AudioError

    # 13 dev clips in batches of 4: the sanity check (2 batches) passes, the epoch-end validation fails.
    dev = write_manifest(work / "late_nan", "dev", 13, nan_last=True)
    cfg = lean_cfg(
        work,
        tiny_corpus,
        "late_nan",
        f"data.dev_manifest={dev}",
        "test=false",
        "model.inference.backend=eager",
    )
    with pytest.raises(AudioError, match=r"dev12\.wav has 1 NaN"):
        train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 0 and ckpt["global_step"] == 3  # epoch 0 trained: 12 trials, batches of 4
    assert not (last.parent / "best.ckpt").exists()  # no validation result: no best epoch


def test_a_checkpoint_of_another_network_is_refused_before_work(work: Path, tiny_corpus: Path) -> None:
    from inference_fixtures import random_checkpoint

    from aasist_lightning.cli.config_checks import ConfigError

    other = random_checkpoint(work / "other_size.ckpt", gat_dims=[4, 8])
    cfg = lean_cfg(work, tiny_corpus, "other_size", f"ckpt_path={other}")
    with pytest.raises(ConfigError, match=r"model\.gat_dims=\[4, 8\] in the checkpoint, \[4, 4\] configured"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_a_diverging_loss_stops_training_before_a_checkpoint_of_it(work: Path, tiny_corpus: Path) -> None:
    """lr=1e30 makes the weights inf after one step: training stops there with the fix (it trained on NaN
    weights, checkpointed them and failed at validation on NaN scores)."""
    from aasist_lightning.cli.errors import user_errors
    from aasist_lightning.lit.module import TrainingDivergedError

    cfg = lean_cfg(work, tiny_corpus, "diverged", "model.optimizer.lr=1e30")
    with pytest.raises(TrainingDivergedError, match=r"at step 1 .*lower model\.optimizer\.lr \(now 1e\+30\)"):
        train(cfg)
    assert TrainingDivergedError in user_errors()  # exit status 2, one line
    assert not list(Path(cfg.paths.output_dir).glob("checkpoints/*.ckpt"))


# ------------------------------------------------------------------------------------ python train.py: scale
def run_entry_point(monkeypatch: pytest.MonkeyPatch, repo_root: Path, *args: str) -> None:
    """`python train.py <args>` in this process (a multirun launches its jobs one after the other here)."""
    monkeypatch.setattr(sys, "argv", ["train.py", *args])
    with root_logging_restored():
        runpy.run_path(str(repo_root / "train.py"), run_name="__main__")


def test_multirun_two_jobs_each_with_its_own_folder_and_wandb_run(
    repo_root: Path, tmp_path: Path, tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = tmp_path / "multirun"
    run_entry_point(
        monkeypatch, repo_root, "-m", "debug=tiny", f"data.root={tiny_corpus}", "logger=wandb",
        "~callbacks.test_plots", "model.first_conv=3,5", "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    ids = set()
    for job, first_conv in (("0", 3), ("1", 5)):
        results = read_results(sweep / job)
        assert results["config"]["model"]["first_conv"] == first_conv and "test/eer" in results
        (run,) = (sweep / job / "wandb").glob("offline-run-*")
        ids.add(run.name.rsplit("-", 1)[1])
    assert len(ids) == 2


def test_optuna_sweep_two_trials_minimises_val_eer_best(
    repo_root: Path, tmp_path: Path, tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = tmp_path / "optuna"
    run_entry_point(
        monkeypatch, repo_root, "hparams_search=optuna_eer", "hydra.sweeper.n_trials=2", "debug=tiny",
        f"data.root={tiny_corpus}", "logger=none", "~callbacks.test_plots", "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    values = [read_results(sweep / job)["val/eer_best"] for job in ("0", "1")]
    assert best["best_value"] == pytest.approx(min(values))
    assert set(best["best_params"]) == {
        "model.optimizer.lr", "model.optimizer.weight_decay", "model.first_conv", "model.freq_mask_width",
    }  # fmt: skip


@pytest.mark.slow  # two fresh Python + torch processes: ~30 s on 2 cores
def test_ddp_on_two_cpu_processes_gives_the_single_process_eer(
    repo_root: Path, tmp_path: Path, tiny_corpus: Path
) -> None:
    run_dir = tmp_path / "ddp"
    run_train_py(
        repo_root, tmp_path, "debug=tiny", "trainer=ddp_cpu", f"data.root={tiny_corpus}", "logger=none",
        "~callbacks.test_plots", "trainer.max_epochs=1", f"hydra.run.dir={run_dir}",
    )  # fmt: skip
    results = read_results(run_dir)
    assert results["config"]["trainer"]["devices"] == 2
    # Every trial scored once across the two processes (no padding duplicates) ...
    for split, name in (("dev", "dev.txt"), ("eval", "eval.txt")):
        ids = [ln.split()[0] for ln in (run_dir / "scores" / name).read_text().splitlines()]
        assert len(ids) == len(set(ids)) == TINY_COUNTS[split]
    # ... and the logged EER is the one a single process computes on the same scores,
    ev = read_score_file(run_dir / "scores" / "eval.txt")
    assert results["test/eer"] == pytest.approx(
        100 * compute_eer(ev.scores[ev.labels == 1], ev.scores[ev.labels == 0])[0]
    )
    # which is also what one process testing the same checkpoint reports.
    cfg = lean_cfg(
        tmp_path, tiny_corpus, "single", "train=false", f"ckpt_path={run_dir / 'checkpoints/best.ckpt'}"
    )
    single = train(cfg)
    assert single["test/eer"] == pytest.approx(results["test/eer"], abs=1e-9)
    assert single["test/min_tdcf"] == pytest.approx(results["test/min_tdcf"], abs=1e-9)


def test_ddp_process_stopped_by_bad_audio_ends_the_run_in_one_error(repo_root: Path, tmp_path: Path) -> None:
    """A clip with a NaN sample (found only when read) stops the DDP process whose shard holds it; the
    other, waiting for it in a collective, must not end in the backend's traceback (~10 s: two processes)."""
    train_csv = write_manifest(tmp_path, "train", 9, nan_last=True)
    dev_csv = write_manifest(tmp_path, "dev", 8)
    proc = run_train_py(
        repo_root, tmp_path, "debug=tiny", "trainer=ddp_cpu", "data=manifest", "data.train_subset=null",
        f"data.train_manifest={train_csv}", f"data.dev_manifest={dev_csv}", "test=false", "logger=none",
        "model.inference.backend=eager", "trainer.max_epochs=1", f"hydra.run.dir={tmp_path / 'run'}",
        status=2,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr and "Connection closed" not in proc.stderr, proc.stderr[-3000:]
    # The seeded shuffle gives the clip to process 1: rank 0 reports the message it left in the store.
    bad = f"{tmp_path / 'train8.wav'} has 1 NaN/inf samples"
    assert f"aasist-train: error: DDP process 1 stopped the run on bad input: audio file {bad}" in proc.stderr


# ------------------------------------------------------------------------------------------------------ GPU
@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_gpu_run(work: Path, tiny_corpus: Path, precision: str) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cfg = tiny_cfg(
        work,
        tiny_corpus,
        f"gpu_{precision}",
        "trainer=gpu",
        "trainer.accelerator=gpu",
        f"trainer.precision={precision}",
    )
    metrics = train(cfg)
    assert all(v == v for v in metrics.values())  # no NaN
    assert (work / f"outputs/tiny/runs/gpu_{precision}/scores/eval.txt").is_file()


@pytest.mark.parametrize("module", ["aasist_lightning.cli.train", "aasist_lightning.cli.evaluate"])
def test_python_dash_m_runs_the_entry_point(module: str) -> None:
    """`python -m aasist_lightning.cli.train ...` is the application (it exited 0 having done nothing)."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--cfg", "job"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "first_conv:" in done.stdout
