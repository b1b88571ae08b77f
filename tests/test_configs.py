"""The Hydra configs: every group option composes, the defaults are the paper's recipe, the official recipe
matches clovaai/aasist, the SLURM launcher composes, and config errors are reported clearly and early."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError

from aasist_lightning import config_dir
from aasist_lightning.cli.app import drop_unused_run_folder, unknown_key_message
from aasist_lightning.cli.config_checks import ConfigError, check_config, unset_unread_manifests

CONF = config_dir()


def compose_cfg(*overrides: str, name: str = "train", output_dir: Path | None = None) -> DictConfig:
    """Compose like `python train.py <overrides>` would (with the hydra node, so ${hydra:...} resolves)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    if output_dir is not None:
        cfg.paths.output_dir = str(output_dir)
    return cfg


def options(group: str) -> list[str]:
    names = sorted(p.stem for p in (CONF / group).glob("*.yaml"))
    if group == "callbacks":  # the single-callback files are the building blocks of these three
        names = ["default", "none", "with_early_stopping"]
    return names


def test_default_is_the_paper_recipe() -> None:
    cfg = compose_cfg()
    assert cfg.hydra.job.config_name == "train"
    assert cfg.seed == 42 and cfg.optimized_metric == "val/eer_best"
    m = cfg.model
    assert (m.arch, m.pretrained, m.first_conv, m.freq_mask_width) == ("AASIST-L", "AASIST-L", 128, 20)
    assert m.class_weights is None
    assert m.optimizer._target_ == "torch.optim.Adam"
    assert (m.optimizer.lr, m.optimizer.weight_decay) == (5e-5, 5e-5)
    assert m.scheduler._target_.endswith("CosineAnnealingLR") and m.scheduler.interval == "step"
    assert cfg.trainer.max_epochs == 5 and cfg.trainer.accelerator == "auto"
    assert (cfg.data.batch_size, cfg.data.train_subset, cfg.data.seed) == (16, 1000, 42)
    assert cfg.data.generator._target_.startswith("aasist_lightning.data.synthetic")
    assert cfg.augment is None
    assert list(cfg.logger) == ["wandb"] and cfg.logger.wandb.offline == "auto"
    assert (
        cfg.callbacks.model_checkpoint.monitor == "val/eer" and cfg.callbacks.model_checkpoint.mode == "min"
    )
    check_config(cfg)


def test_paths_and_run_dirs(tmp_path: Path) -> None:
    cfg = compose_cfg(output_dir=tmp_path)
    root = Path(cfg.paths.root_dir)
    assert Path(cfg.paths.log_dir) == root / "outputs"
    assert cfg.hydra.run.dir.startswith(str(root / "outputs" / "train" / "runs"))
    assert cfg.hydra.sweep.dir.startswith(str(root / "outputs" / "train" / "multiruns"))
    assert OmegaConf.to_container(cfg.hydra.sweep)["subdir"] == "${hydra.job.num}"
    assert cfg.callbacks.model_checkpoint.dirpath == str(tmp_path / "checkpoints")
    assert cfg.logger.wandb.save_dir == str(tmp_path)


@pytest.mark.parametrize(
    ("group", "key"),
    [
        ("trainer", "trainer"),
        ("logger", "logger"),
        ("callbacks", "callbacks"),
        ("experiment", None),
        ("hparams_search", None),
        ("debug", None),
        ("model", "model"),
        ("model/optimizer", "model.optimizer"),
        ("model/scheduler", "model.scheduler"),
        ("data", "data"),
        ("augment", None),
    ],
)
def test_every_group_option_composes(group: str, key: str | None) -> None:
    names = options(group)
    assert names, f"no options in conf/{group}"
    for name in names:
        cfg = compose_cfg(f"{group}={name}")
        if key:
            assert OmegaConf.select(cfg, key, throw_on_missing=False) is not None or name == "none", (
                group,
                name,
            )


def test_eval_config_shares_the_groups() -> None:
    cfg = compose_cfg(name="eval")
    assert cfg.task_name == "eval" and cfg.ckpt_path is None
    assert cfg.model.arch == "AASIST-L" and cfg.data.generator is not None
    assert set(cfg.splits) == {"dev", "eval"}


def test_official_recipe_matches_clovaai() -> None:
    """clovaai/aasist config/AASIST-L.conf + main.py: from scratch, 100 epochs, batch 24, Adam 1e-4 (betas
    0.9/0.999, no amsgrad, weight decay 1e-4), cosine per step to 5e-6, class weights [0.1, 0.9], full train
    set."""
    cfg = compose_cfg("experiment=aasist_official")
    m = cfg.model
    assert m.pretrained is None and m.freq_mask_width == 0 and list(m.class_weights) == [0.1, 0.9]
    assert m.optimizer.lr == 1e-4 and m.optimizer.weight_decay == 1e-4
    assert list(m.optimizer.betas) == [0.9, 0.999] and m.optimizer.amsgrad is False
    assert m.scheduler.eta_min == 5e-6 and m.scheduler.interval == "step" and m.scheduler.T_max is None
    assert cfg.data.train_subset is None and cfg.data.batch_size == 24
    assert cfg.trainer.max_epochs == 100 and cfg.seed == 1234
    assert (m.first_conv, list(m.gat_dims)) == (128, [24, 32])
    assert compose_cfg("experiment=aasist_official", "model=aasist").model.gat_dims == [64, 32]
    check_config(cfg)


def test_paper_experiment_equals_the_default() -> None:
    default = OmegaConf.to_container(compose_cfg(), resolve=False)
    paper = OmegaConf.to_container(compose_cfg("experiment=paper"), resolve=False)
    for key in ("model", "data", "trainer", "augment", "seed", "task_name"):
        assert default[key] == paper[key], key


def test_optuna_search_config() -> None:
    cfg = compose_cfg("hparams_search=optuna_eer")
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "minimize"
    assert cfg.optimized_metric == "val/eer_best" and cfg.hydra.mode.name == "MULTIRUN"
    assert "model.optimizer.lr" in sweeper.params and "model.first_conv" in sweeper.params


@pytest.mark.parametrize("launcher", ["slurm", "submitit_slurm"])
def test_slurm_launcher_composes(launcher: str) -> None:
    cfg = compose_cfg(f"hydra/launcher={launcher}", "trainer=ddp")
    lc = cfg.hydra.launcher
    assert lc._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert lc.submitit_folder.endswith(".submitit/%j")
    if launcher == "slurm":
        assert (lc.gpus_per_node, lc.tasks_per_node, lc.timeout_min, lc.cpus_per_task) == (1, 1, 240, 8)
        more = compose_cfg("hydra/launcher=slurm", "hydra.launcher.gpus_per_node=4")
        assert more.hydra.launcher.tasks_per_node == 4
    assert cfg.trainer.strategy.startswith("ddp") and cfg.trainer.num_nodes == 1
    assert lc.name == cfg.hydra.job.name == "train"  # SLURM's job name (not the module of hydra.main)


def test_slurm_needs_sbatch_and_sane_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    from aasist_lightning.cli import launcher_checks

    launcher = compose_cfg("hydra/launcher=slurm", "hydra.launcher.nodes=-2").hydra.launcher
    monkeypatch.setattr(launcher_checks.shutil, "which", lambda name: None)
    problems = launcher_checks.launcher_problems(launcher)
    assert len(problems) == 2 and "hydra.launcher.nodes=-2: must be an integer >= 1" in problems[0]
    assert "needs SLURM's sbatch and srun" in problems[1]
    monkeypatch.setattr(launcher_checks.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert launcher_checks.launcher_problems(compose_cfg("hydra/launcher=slurm").hydra.launcher) == []


def test_writers_may_leave_the_run_folder_for_new_or_per_run_folders(tmp_path: Path) -> None:
    """Checkpoints on a scratch disk, W&B's and auto-versioned logs beside earlier ones lose nothing; a data
    folder or one holding files takes none, whatever the writer."""
    from aasist_lightning.cli.output_checks import check_output_dir

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "best.ckpt").write_text("an earlier run's")
    run = ("logger=many", "data.root=" + str(tmp_path / "LA"))
    fine = (f"callbacks.model_checkpoint.dirpath={tmp_path / 'scratch'}", f"logger.wandb.save_dir={busy}",
            f"logger.csv.save_dir={busy}", "logger.csv.version=null")  # fmt: skip
    check_output_dir(compose_cfg(*run, *fine, output_dir=tmp_path / "run"))
    bad = (f"callbacks.model_checkpoint.dirpath={busy}", f"logger.wandb.save_dir={tmp_path / 'LA' / 'w'}")
    with pytest.raises(ConfigError) as err:
        check_output_dir(compose_cfg(*run, *bad, output_dir=tmp_path / "run"))
    assert f"callbacks.model_checkpoint.dirpath={busy}: leads out of the run folder" in str(err.value)
    assert f"logger.wandb.save_dir={tmp_path / 'LA' / 'w'}: is inside data.root" in str(err.value)


def test_trainers_loggers_and_callbacks_instantiate(tmp_path: Path) -> None:
    import hydra
    import lightning as L

    from aasist_lightning.cli.train import resolve_auto
    from aasist_lightning.lit.callbacks import (
        InterruptCheckpoint,
        RNGCheckpoint,
        RunCheckpoint,
        ScoreFileWriter,
    )
    from aasist_lightning.lit.checkpoint_io import AtomicCheckpointIO
    from aasist_lightning.lit.loggers import instantiate_callbacks, instantiate_loggers

    for trainer in ("default", "cpu", "ddp_cpu"):
        cfg = compose_cfg(f"trainer={trainer}", output_dir=tmp_path)
        resolve_auto(cfg)  # "auto" is this package's: train() resolves it
        assert cfg.trainer.precision in ("32-true", "bf16-mixed")
        assert cfg.model.memory_format in ("channels_last", "contiguous")
        t = hydra.utils.instantiate(cfg.trainer, logger=False, enable_progress_bar=False, _convert_="all")
        assert isinstance(t, L.Trainer) and isinstance(t.strategy.checkpoint_io, AtomicCheckpointIO)
    cfg = compose_cfg("logger=many", output_dir=tmp_path)
    loggers = instantiate_loggers(cfg.logger)
    assert [type(lg).__name__ for lg in loggers] == ["WandbLogger", "ContinuedCSVLogger", "TensorBoardLogger"]
    kinds = {type(c) for c in instantiate_callbacks(cfg.callbacks)}
    assert {RunCheckpoint, InterruptCheckpoint, RNGCheckpoint, ScoreFileWriter} <= kinds
    assert instantiate_loggers(compose_cfg("logger=none").logger) == []
    assert instantiate_callbacks(compose_cfg("callbacks=none").callbacks) == []


def test_wandb_offline_unless_logged_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from aasist_lightning.lit.loggers import wandb_mode

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert wandb_mode() == "offline"
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "x" * 40 + "\n")
    assert wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_mode() == "offline"
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    monkeypatch.setenv("WANDB_MODE", "online")
    assert wandb_mode() == "online"


# ---------------------------------------------------------------------------------------------- config errors
@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("model.first_conv=-3", ["model.first_conv=-3", "integer >= 1", "Fix:", "128"]),
        ("trainer.max_epochs=0", ["trainer.max_epochs=0", "integer >= 1", "Fix:", "max_epochs=5"]),
        ("data.train_subset=7", ["data.train_subset=7", "even", "Fix:", "1000", "null"]),
        ("model.optimizer.lr=0", ["model.optimizer.lr=0", "> 0", "Fix:", "lr=5e-5"]),
        ("model.optimizer.lr=-1e-4", ["model.optimizer.lr=-0.0001", "> 0", "Fix:"]),
        ("model.optimizer.lr=nan", ["model.optimizer.lr=nan", "> 0", "Fix:"]),
        ("model.optimizer.weight_decay=inf", ["model.optimizer.weight_decay=inf", "Fix:"]),
        ("model.temperatures=[2,2,100,.inf]", ["model.temperatures", "positive", "Fix:"]),
        ("model.filts=[70,[1,32],[16,32],[32,24],[24,24]]", ["model.filts", "block 2 takes 16", "Fix:"]),
        ("model.freq_mask_width=-1", ["model.freq_mask_width=-1", "Fix:"]),
        ("model.class_weights=[1]", ["model.class_weights=[1]", "[spoof, bonafide]"]),
        ("+model.first_cnv=64", ["model.first_cnv", "did you mean model.first_conv?"]),
        ("data.batch_size=0", ["data.batch_size=0", "Fix:"]),
        ("model.scheduler.eta_min=1.0", ["model.scheduler.eta_min=1.0", "below the lr"]),
        ("model.nb_samp=1000", ["nb_samp=1000", "minimum input length"]),
        ("model.inference.backend=onnxx", ["model.inference.backend='onnxx'", "eager", "Fix:"]),
        ("model.inference.precision=fp16", ["model.inference.precision='fp16'", "bf16", "Fix:"]),
        ("+model.inference.backnd=eager", ["model.inference.backnd", "did you mean model.inference.backend"]),
        ("allocator=jemalloc", ["allocator='jemalloc'", "pool, retain, system", "Fix:"]),
        (
            "model.memory_format=nhwc",
            ["model.memory_format='nhwc'", "auto, channels_last, contiguous", "Fix:"],
        ),
        ("+model.memory_fromat=auto", ["model.memory_fromat", "did you mean model.memory_format"]),
        ("data.eval_batch_size=0", ["data.eval_batch_size=0", "integer >= 1", "Fix:"]),
        ("seed=-1", ["seed=-1", "[0, 4294967295]", "Fix:"]),
        ("data.dev_subset=3", ["data.dev_subset=3", "even", "Fix:"]),
        ("data.on_bad_audio=warn", ["data.on_bad_audio='warn'", "error, skip", "Fix:"]),
        ("data=manifest", ["data.train_manifest='???'", "data.dev_manifest='???'", "Fix:"]),
    ],
)
def test_config_errors_name_key_value_and_fix(override: str, needles: list[str]) -> None:
    cfg = compose_cfg(override)
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))


def test_only_the_synthetic_group_generates() -> None:
    assert compose_cfg().data.generate is True
    for overrides in (["data=asvspoof2019_la"], ["data=manifest"], ["debug=tiny", "data=asvspoof2019_la"]):
        assert compose_cfg(*overrides).data.generate is False, overrides


def test_every_split_the_run_reads_needs_a_source() -> None:
    manifests = ["data=manifest", "data.train_manifest=t.csv", "data.dev_manifest=d.csv"]
    with pytest.raises(ConfigError, match=r"data\.eval_manifest=None: .* test=true reads the eval split"):
        check_config(compose_cfg(*manifests), splits={"eval": "test=true"})
    check_config(compose_cfg(*manifests), splits={"train": "train=true", "dev": "train=true"})  # test=false


def test_manifests_of_splits_the_run_does_not_read_may_stay_unset() -> None:
    """data=manifest leaves train_manifest and dev_manifest unset (???): splits=[eval] needs neither."""
    cfg = compose_cfg("data=manifest", "data.eval_manifest=e.csv")
    unset_unread_manifests(cfg, ["eval"])
    check_config(cfg, splits={"eval": "splits=[eval]"})
    assert cfg.data.train_manifest is None and cfg.data.dev_manifest is None
    cfg = compose_cfg("data=manifest", "data.eval_manifest=e.csv")
    unset_unread_manifests(cfg, ["dev", "eval"])
    with pytest.raises(ConfigError, match=r"data\.dev_manifest='\?\?\?': is not set"):
        check_config(cfg, splits={"dev": "splits=[dev,eval]", "eval": "splits=[dev,eval]"})


def test_zero_training_batches_is_refused_only_when_training() -> None:
    with pytest.raises(ConfigError, match=r"trainer\.limit_train_batches=0: .*train=false to only test"):
        check_config(compose_cfg("trainer.limit_train_batches=0"))
    check_config(compose_cfg("trainer.limit_train_batches=0", "train=false"))  # Lightning's "skip training"
    with pytest.raises(ConfigError, match=r"trainer\.limit_train_batches=-1"):
        check_config(compose_cfg("trainer.limit_train_batches=-1", "train=false"))


def test_settings_that_fail_only_mid_run_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from aasist_lightning.cli import trainer_checks

    monkeypatch.setattr(trainer_checks, "cluster_detected", lambda: False)
    cfg = compose_cfg(
        "trainer=ddp_cpu", "trainer.strategy=ddp", "trainer.num_nodes=2", "optimized_metric=val/eerr"
    )
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    for needle in (
        "trainer.strategy='ddp': stops mid-training", "trainer.strategy=ddp_find_unused_parameters_true",
        "trainer.num_nodes=2: needs a cluster", "optimized_metric='val/eerr'", "did you mean val/eer?",
    ):  # fmt: skip
        assert needle in str(err.value), (needle, str(err.value))
    with pytest.raises(ConfigError, match=r"optimized_metric='step': is not a metric train.py returns"):
        check_config(compose_cfg("optimized_metric=step"))  # logged, never returned
    monkeypatch.setattr(trainer_checks, "cluster_detected", lambda: True)  # e.g. a SLURM job's nodes
    check_config(compose_cfg("trainer=ddp_cpu", "trainer.num_nodes=2", "optimized_metric=test/eer_A17"))
    check_config(compose_cfg("trainer.strategy=ddp", "train=false"))  # testing has no backward pass


def test_a_cluster_is_detected_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from aasist_lightning.cli.trainer_checks import cluster_detected

    for name in [n for n in os.environ if n.startswith(("SLURM_", "TORCHELASTIC_", "LSB_", "OMPI_", "PMI_"))]:
        monkeypatch.delenv(name)
    for name in ("NODE_RANK", "WORLD_SIZE", "RANK", "GROUP_RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert not cluster_detected()
    monkeypatch.setenv("NODE_RANK", "1")  # Lightning's manual multi-node setup
    assert cluster_detected()


def test_all_problems_are_listed_at_once() -> None:
    cfg = compose_cfg(
        "model.first_conv=-3", "trainer.max_epochs=0", "data.train_subset=7", "model.optimizer.lr=0"
    )
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert str(err.value).count("Fix:") == 4


def test_network_problems_come_from_the_network_under_the_config_keys() -> None:
    """config_checks has no rules of its own for the architecture: AASIST's validator says what is wrong, the
    check names the config key and the fix."""
    from aasist_lightning.cli.config_checks import ARCH_FIXES
    from aasist_lightning.models import ARCH_KEYS

    assert set(ARCH_FIXES) == set(ARCH_KEYS)
    cfg = compose_cfg("model.first_conv=-3", "model.gat_dims=[24]", "model.pool_ratios=[0.4,0.5,1.5,0.5]")
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    message = str(err.value)
    for needle in (
        "model.first_conv=-3: must be an integer >= 1. Fix: use a positive sinc filter length",
        "model.gat_dims=[24]: must be a list of 2 numbers. Fix:",
        "model.pool_ratios=[0.4, 0.5, 1.5, 0.5]: each ratio must be in (0, 1]. Fix:",
    ):
        assert needle in message, (needle, message)
    assert message.count("Fix:") == 3 and "AASIST hyper-parameter" not in message


def test_model_group_instantiates_the_lit_module() -> None:
    """`_target_` builds AASISTLitModule from the flat model keys; optimizer / scheduler stay plain dicts."""
    import hydra

    from aasist_lightning.lit.module import AASISTLitModule

    cfg = compose_cfg("debug=tiny", "model.first_conv=5")
    lit = hydra.utils.instantiate(cfg.model, _convert_="all")
    assert isinstance(lit, AASISTLitModule) and lit.model.kernel_size == 5
    model = OmegaConf.to_container(cfg.model, resolve=True)
    assert dict(lit.hparams) == {k: v for k, v in model.items() if not k.startswith("_")}
    assert type(lit.hparams.optimizer) is dict and lit.hparams.optimizer["_target_"] == "torch.optim.Adam"
    assert type(lit.hparams.filts) is list and type(lit.hparams.filts[1]) is list
    assert hydra.utils.instantiate(compose_cfg("debug=tiny").model).hparams == lit.hparams | {"first_conv": 3}


def test_aasist_train_console_script_uses_the_packaged_configs(tmp_path: Path, repo_root: Path) -> None:
    """`aasist-train` (cli.train.main) composes from any folder with the package's configs and the same
    overrides as `python train.py`; --cfg job prints the composed config without training."""
    script = 'aasist-train = "aasist_lightning.cli.train:main"'
    assert script in (repo_root / "pyproject.toml").read_text()
    installed = Path(sys.executable).parent / "aasist-train"
    main = "import sys; from aasist_lightning.cli.train import main; sys.argv[0] = 'aasist-train'; main()"
    entry = [str(installed)] if installed.is_file() else [sys.executable, "-c", main]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*entry, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)

    proc = run("--cfg", "job", "debug=tiny", "model.first_conv=64", "logger=none")
    assert proc.returncode == 0, proc.stderr
    printed = yaml.safe_load(proc.stdout)
    assert printed["model"]["_target_"] == "aasist_lightning.lit.module.AASISTLitModule"
    assert printed["model"]["first_conv"] == 64 and printed["task_name"] == "tiny"
    assert list(tmp_path.iterdir()) == []  # nothing was run
    typo = run("model.first_cnv=64")
    assert typo.returncode == 2 and "model.first_cnv: no such key in the config" in typo.stderr


def test_config_errors_come_before_any_data_or_weights(tmp_path: Path) -> None:
    """train() rejects the config before touching a (missing) corpus or (missing) weights file."""
    from aasist_lightning.cli.train import train

    cfg = compose_cfg(
        "trainer.max_epochs=0",
        f"data.root={tmp_path / 'no_corpus'}",
        "data.generator=null",
        f"model.pretrained={tmp_path / 'missing.pth'}",
        output_dir=tmp_path / "run",
    )
    with pytest.raises(ConfigError, match=r"trainer.max_epochs=0"):
        train(cfg)
    assert not (tmp_path / "run").exists()
    cfg = compose_cfg(f"ckpt_path={tmp_path / 'nope.ckpt'}", output_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match=r"ckpt_path=.*no such checkpoint file"):
        train(cfg)
    cfg = compose_cfg("ckpt_path=last", f"paths.log_dir={tmp_path}", output_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match=r"hydra.run.dir=<run folder>"):
        train(cfg)


def test_struct_mode_rejects_unknown_keys() -> None:
    cfg = compose_cfg()
    with pytest.raises(ConfigAttributeError):
        _ = cfg.model.first_cnv
    with pytest.raises(ConfigCompositionException, match="first_cnv"):
        compose_cfg("model.first_cnv=64")
    with pytest.raises(MissingConfigException, match=r"aasist_xl(.|\n)*Available options(.|\n)*aasist_l"):
        compose_cfg("model=aasist_xl")


def test_cli_reports_typos_and_wrong_options(repo_root: Path) -> None:
    """`python train.py` names a misspelt key with the closest one, lists a config group's options, and exits
    2 (bad input) before importing torch."""

    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, str(repo_root / "train.py"), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=repo_root)

    typo = run("trainer.max_epoch=3")
    assert typo.returncode == 2
    assert typo.stderr.splitlines()[0] == (
        "aasist-train: error: trainer.max_epoch: no such key in the config. Fix: rename it (did you mean "
        "max_epochs?), or add a new key with +trainer.max_epoch=3 (--cfg job prints the config)"
    )
    assert len(typo.stderr.splitlines()) == 2 and "Could not override" not in typo.stderr
    section = run("optim.lr=1e-4")
    assert section.returncode == 2
    assert "optim.lr: no such key in the config (it has no optim)" in section.stderr
    wrong = run("trainer=tpu")
    assert wrong.returncode == 2
    assert "Could not find 'trainer/tpu'" in wrong.stderr
    assert all(name in wrong.stderr for name in ("cpu", "ddp_cpu", "gpu"))


def test_only_unknown_key_overrides_get_the_one_line_report() -> None:
    with pytest.raises(ConfigCompositionException) as typo:
        compose_cfg("callbacks.model_checkpoint.dirpat=x")
    assert unknown_key_message(typo.value) == (
        "callbacks.model_checkpoint.dirpat: no such key in the config. Fix: rename it (did you mean "
        "dirpath?), or add a new key with +callbacks.model_checkpoint.dirpat=x (--cfg job prints the config)"
    )
    with pytest.raises(MissingConfigException) as group:
        compose_cfg("model=aasist_xl")
    assert unknown_key_message(group.value) is None
    assert unknown_key_message(ConfigCompositionException("Could not override 'x'.")) is None


def test_a_run_stopped_by_a_config_error_leaves_no_run_folder(tmp_path: Path, repo_root: Path) -> None:
    cmd = [sys.executable, str(repo_root / "train.py"), "model.first_conv=-3", "logger=none"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "model.first_conv=-3: must be an integer >= 1" in proc.stderr
    assert list((tmp_path / "outputs" / "train" / "runs").iterdir()) == []


def test_only_a_run_folder_of_hydras_start_files_is_dropped(tmp_path: Path) -> None:
    def run_folder(name: str, log: str = "") -> Path:
        folder = tmp_path / name
        (folder / ".hydra").mkdir(parents=True)
        (folder / ".hydra" / "config.yaml").write_text("seed: 1\n")
        (folder / "train.log").write_text(log)
        return folder

    drop_unused_run_folder(run_folder("fresh"))
    assert not (tmp_path / "fresh").exists()
    logged = run_folder("logged", log="[INFO] trainer.precision=auto: bf16-mixed\n")
    earlier = run_folder("earlier")
    (earlier / "checkpoints").mkdir()
    for kept in (logged, earlier):
        drop_unused_run_folder(kept)
        assert (kept / ".hydra" / "config.yaml").is_file() and (kept / "train.log").is_file()


@pytest.mark.parametrize("key", ["hydra.run.dir", "hydra.sweep.dir"])
def test_the_default_run_folder_is_checked_before_hydra_holds_the_config(
    tmp_path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default folders resolve ${hydra:runtime.cwd}; the check runs before Hydra sets HydraConfig (it
    used to fail there with a UserWarning and check nothing)."""
    from hydra.core.singleton import Singleton

    from aasist_lightning.cli.output_checks import OutputFolderCheck

    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs").write_text("a file where the default log folder goes\n")
    cfg = compose_cfg()
    Singleton._instances.pop(HydraConfig, None)  # as at Hydra's on_run_start: no HydraConfig yet
    check = OutputFolderCheck()
    start = check.on_run_start if key == "hydra.run.dir" else check.on_multirun_start
    with pytest.raises(SystemExit) as stop:
        start(config=cfg)
    assert stop.value.code == 2
    assert str(OmegaConf.select(cfg, key)).startswith(f"{tmp_path}/outputs/train/")
