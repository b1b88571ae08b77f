"""Training entry point: `train(cfg)` runs fit + test from a composed Hydra config and returns the metrics.

`main()` is the Hydra application: the `aasist-train` console script (from any folder, with the packaged
configs) and the thin `train.py` at the repository root. Outputs of a run (all in
`cfg.paths.output_dir`): checkpoints/best.ckpt (lowest val/eer) and last.ckpt, scores/dev.txt (the best
epoch's validation scores) and scores/eval.txt (test scores of best.ckpt), plots/, results.json, config.yaml
and config_tree.log.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf, open_dict

from aasist_lightning.cli.app import hydra_app
from aasist_lightning.cli.config_checks import check_config, unset_unread_manifests
from aasist_lightning.cli.config_tree import print_config_tree
from aasist_lightning.cli.output_checks import check_output_dir
from aasist_lightning.cli.resume import check_checkpoint, check_trained, resolve_ckpt_path
from aasist_lightning.files import atomic_write_json
from aasist_lightning.runtime.allocator import allocator
from aasist_lightning.runtime.hardware import (
    detect_hardware,
    resolve_device,
    training_memory_format,
    training_precision,
)

if TYPE_CHECKING:
    import lightning as L

    from aasist_lightning.lit.module import AASISTLitModule

# Lightning (seconds to import) is imported inside train(): `aasist-train --help` and a mistyped override
# answer at once.

log = logging.getLogger(__name__)

SUMMARY_KEYS = ("val/eer_best", "test/eer", "test/min_tdcf")


def _splits(cfg: DictConfig) -> dict[str, str]:
    """The data splits the run reads, with the setting that reads each: train and dev to fit, eval to test."""
    fit = {"train": "train=true", "dev": "train=true"} if cfg.get("train", True) else {}
    return {**fit, **({"eval": "test=true"} if cfg.get("test", True) else {})}


def _single_console_log() -> None:
    """Lightning gives its `lightning` (and `lightning.fabric`, `lightning.pytorch`) loggers their own console
    handler and also propagates to the root logger, which Hydra equips with a console (and the run's .log
    file) handler: every message would print twice. Every plain console handler goes, also one bound to a
    stream that is no longer sys.stderr (Lightning imported under a redirected stderr, e.g. in a test)."""
    if not logging.getLogger().handlers:
        return
    for name in ("lightning", "lightning.fabric", "lightning.pytorch"):
        lightning_logger = logging.getLogger(name)
        for handler in list(lightning_logger.handlers):
            if type(handler) is logging.StreamHandler:
                lightning_logger.removeHandler(handler)


def _float_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()}


def _instantiate_model(node: DictConfig) -> AASISTLitModule:
    """The model group's `_target_` with plain containers (`_convert_`: the checkpoints' hparams load with
    weights_only). Hydra wraps the module's own errors (e.g. `WeightsNotFoundError`, which says how to fix
    it) in an InstantiationException: the module's error is raised instead."""
    try:
        return hydra.utils.instantiate(node, _convert_="all")
    except InstantiationException as err:
        if err.__cause__ is None:
            raise
        raise err.__cause__ from None


def resolve_auto(cfg: DictConfig) -> None:
    """``trainer.precision`` and ``model.memory_format`` of ``auto`` replaced by the choice for the Trainer's
    device, so that config.yaml and results.json record what ran."""
    hardware = detect_hardware(resolve_device(cfg.trainer.get("accelerator", "auto")))
    with open_dict(cfg):
        if cfg.trainer.get("precision") == "auto":
            cfg.trainer.precision = training_precision("auto", hardware)
            log.info("trainer.precision=auto: %s on this machine", cfg.trainer.precision)
        if cfg.model.get("memory_format") == "auto":
            cfg.model.memory_format = training_memory_format("auto", hardware)
            log.info("model.memory_format=auto: %s on this machine", cfg.model.memory_format)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit and test AASIST as configured; returns the final metrics (keys as logged, EERs in percent).

    The config is validated first (`ConfigError`), before any data is generated or weights are looked up.
    """
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.utilities import rank_zero_only

    from aasist_lightning.lit.callbacks import RunCheckpoint
    from aasist_lightning.lit.loggers import finish_wandb, instantiate_callbacks, instantiate_loggers

    started = time.perf_counter()
    _single_console_log()
    # Lightning 2.6's CombinedLoader builds torch's deprecated LeafSpec: a warning on every run that users
    # can do nothing about.
    warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning)
    splits = _splits(cfg)
    unset_unread_manifests(cfg, splits)
    check_config(cfg, splits=splits)
    resolve_auto(cfg)
    output_dir = check_output_dir(cfg)
    ckpt_path = resolve_ckpt_path(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)

    # The model first: a missing pretrained-weights file stops the run before any corpus is generated, and
    # a checkpoint that cannot continue it before any file of the resumed run is touched.
    lit = _instantiate_model(cfg.model)
    resumed_step = check_checkpoint(ckpt_path, lit, cfg) if ckpt_path is not None else None
    # The trainer's settings too are checked by building it, before a corpus is generated or read.
    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    loggers = instantiate_loggers(cfg.get("logger"))
    # Without a configured checkpoint callback (callbacks=none) Lightning would add its own, writing
    # epoch=N-step=M.ckpt files into the logger's folder: no checkpoints is what that config asks for.
    chosen = "enable_checkpointing" in cfg.trainer or any(isinstance(c, ModelCheckpoint) for c in callbacks)
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        _convert_="all",
        **({} if chosen else {"enable_checkpointing": False}),
    )
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data, _convert_="all")
    if rank_zero_only.rank == 0:
        # Checks before work: every split the run reads is there, parses, has its audio (and training both
        # classes) before the first step; the other ranks' setup follows rank 0's prepare_data (in fit).
        datamodule.prepare_data()
        for stage in ("fit",) * bool(cfg.get("train", True)) + ("test",) * bool(cfg.get("test", True)):
            datamodule.setup(stage)
        # The config once every check passed: a check's one-line error is not buried under the tree.
        output_dir.mkdir(parents=True, exist_ok=True)
        print_config_tree(cfg, output_dir=output_dir)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(resolved)

    # Process-wide while the run lasts (see runtime.allocator); restored after, e.g. for tests.
    with allocator(cfg.get("allocator", "system")):
        try:
            metrics: dict[str, float] = {}
            if cfg.get("train", True):
                trainer.fit(lit, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
                if resumed_step is not None:  # resumed from ckpt_path
                    check_trained(str(ckpt_path), resumed_step, lit, trainer)
                metrics.update(_float_metrics(trainer.callback_metrics))
                metrics.update(lit.val_results)
            checkpoint = next((c for c in trainer.checkpoint_callbacks if isinstance(c, RunCheckpoint)), None)
            best = checkpoint.best_model_path if checkpoint is not None else ""
            if cfg.get("test", True):
                # Test the best epoch's weights (the official recipe's "eval with the best dev model").
                test_ckpt = (
                    best if best and Path(best).is_file() else (None if cfg.get("train", True) else ckpt_path)
                )
                if cfg.get("train", True) and test_ckpt is None:
                    log.warning("no best checkpoint was saved: testing the weights of the last epoch")
                trainer.test(lit, datamodule=datamodule, ckpt_path=test_ckpt, weights_only=True)
                metrics.update(lit.test_results)
            if trainer.is_global_zero:
                _write_results(cfg, output_dir, metrics, lit, datamodule, trainer, ckpt_path, started)
        finally:
            finish_wandb()
    return metrics


def _write_results(
    cfg: DictConfig,
    output_dir: Path,
    metrics: dict[str, float],
    lit: Any,
    datamodule: Any,
    trainer: L.Trainer,
    resumed_from: str | None,
    started: float,
) -> None:
    from aasist_lightning.lit.callbacks import PhaseTimes, RunCheckpoint, ScoreFileWriter

    checkpoint = next((c for c in trainer.checkpoint_callbacks if isinstance(c, RunCheckpoint)), None)
    writer = next((c for c in trainer.callbacks if isinstance(c, ScoreFileWriter)), None)
    phases = next((c for c in trainer.callbacks if isinstance(c, PhaseTimes)), None)
    subset_ids = getattr(datamodule, "subset_ids", None)
    subset_file = output_dir / "train_subset.txt"
    # No EER yet (e.g. a validation split with one class) is inf / NaN, which strict JSON cannot hold.
    results: dict[str, Any] = {k: v if math.isfinite(v) else None for k, v in sorted(metrics.items())}
    results.update(
        {
            "dev_eer_threshold": lit.dev_eer_threshold,
            "dev_eer_threshold_logit": lit.dev_eer_threshold_logit,
            # The best epoch's dev-fitted map of logits[:, 1] - logits[:, 0] to a calibrated LLR, or None.
            "calibration": lit.calibration.as_dict() if lit.calibration is not None else None,
            "epochs": trainer.current_epoch,
            "global_step": trainer.global_step,
            "checkpoints": {
                "best": checkpoint.best_model_path or None if checkpoint else None,
                "last": checkpoint.last_model_path or None if checkpoint else None,
            },
            "scores": {
                "dev": str(writer.dev_path) if writer and writer.dev_path.is_file() else None,
                "eval": str(writer.eval_path) if writer and writer.eval_path.is_file() else None,
            },
            "resumed_from": resumed_from,
            "train_subset_file": str(subset_file) if subset_file.is_file() else None,
            "train_subset_ids": list(subset_ids) if subset_ids is not None else None,
            "wall_time_s": round(time.perf_counter() - started, 3),
            "phase_seconds": {k: round(v, 3) for k, v in phases.seconds.items()} if phases else None,
            "phase_counts": dict(phases.counts) if phases else None,
            "config": OmegaConf.to_container(cfg, resolve=True),
        }
    )
    path = atomic_write_json(output_dir / "results.json", results)
    summary = ", ".join(f"{k} {results[k]:.4g}" for k in SUMMARY_KEYS if results.get(k) is not None)
    log.info("%s (EER in %%); all results: %s", summary, path)


def main() -> None:
    """Console script ``aasist-train`` (and ``python train.py``): train with Hydra overrides, e.g.
    ``aasist-train model.first_conv=256 trainer.max_epochs=10``, ``-m`` for sweeps. Configs: the packaged
    ``conf`` (see :func:`aasist_lightning.config_dir`)."""

    def _run(cfg: DictConfig) -> float | None:
        metrics = train(cfg)
        # The value a sweeper (Optuna) optimises.
        metric = cfg.get("optimized_metric")
        return metrics.get(metric) if metric else None

    hydra_app("aasist-train", "train", _run)


__all__ = ["main", "resolve_auto", "train"]


if __name__ == "__main__":
    main()
