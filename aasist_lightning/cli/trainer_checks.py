"""The checks of the trainer's, the callbacks' and the sweep's settings: values that Lightning or a sweeper
takes and fails on only mid-run (or that make a run train nothing, or wait forever)."""

from __future__ import annotations

import os

from omegaconf import DictConfig

from aasist_lightning.cli.checker import Checker, rename_hint
from aasist_lightning.values import is_integer, is_real

#: What a callback may ``monitor``: the training module's logged metrics (tests/test_train.py checks them
#: against a run's results) and Lightning's own epoch and step.
MONITORABLE = (
    *("val/eer", "val/eer_best", "val/loss", "val/acc", "val/act_dcf", "val/cllr", "val/min_cllr"),
    *("val/act_dcf_calibrated", "val/cllr_calibrated", "train/loss", "train/acc", "lr", "epoch", "step"),
)
#: What train.py returns (to a sweeper) besides test metrics: the logged ones, not Lightning's epoch, step.
_RETURNED = tuple(m for m in MONITORABLE if m not in ("epoch", "step"))


def check_trainer(c: Checker, trainer: DictConfig, training: bool = True) -> None:
    """The trainer's epochs, validation cadence, accumulation, clipping, batch limit and DDP settings."""
    max_epochs = trainer.get("max_epochs")
    max_steps = trainer.get("max_steps", -1)
    unbounded = max_epochs == -1 and is_integer(max_steps) and max_steps > 0
    if not unbounded:
        fix = "train at least one epoch, e.g. trainer.max_epochs=5 (the paper's)"
        if c.int_at_least("trainer.max_epochs", max_epochs, 1, fix):
            min_epochs = trainer.get("min_epochs")
            if min_epochs is not None and is_integer(min_epochs) and min_epochs > max_epochs:
                c.add(
                    "trainer.min_epochs", min_epochs, f"exceeds trainer.max_epochs={max_epochs}", "lower it"
                )
    # Lightning takes these and fails on them only once training runs (or trains nothing at all).
    every = trainer.get("check_val_every_n_epoch", 1)
    if every is not None:
        c.int_at_least("trainer.check_val_every_n_epoch", every, 1, "1 (best.ckpt is chosen on validation)")
    accumulate = trainer.get("accumulate_grad_batches", 1)
    c.int_at_least("trainer.accumulate_grad_batches", accumulate, 1, "1 (a step per batch) or more")
    clip = trainer.get("gradient_clip_val")
    if clip is not None and not (is_real(clip) and clip >= 0):
        c.add("trainer.gradient_clip_val", clip, "must be >= 0 or null", "null (no clipping) or e.g. 1.0")
    limit = trainer.get("limit_train_batches")
    valid = (is_integer(limit) and limit >= 1) or (is_real(limit) and 0 < limit <= 1)
    # 0 is Lightning's way to skip training: a mistake when training, consistent with train=false.
    if limit is not None and not valid and not (limit == 0 and not training):
        why = "must be a batch count >= 1 or a share in (0, 1] (0 trains nothing)"
        c.add("trainer.limit_train_batches", limit, why, "null for every batch; train=false to only test")
    check_ddp(c, trainer, training)


def check_callbacks(c: Checker, callbacks: DictConfig) -> None:
    """Each callback's ``patience`` and ``monitor`` (a metric the training logs, with a "did you mean")."""
    for name, node in callbacks.items():
        if not isinstance(node, DictConfig):
            continue
        patience = node.get("patience")
        if patience is not None:  # EarlyStopping takes a negative one and stops after the first validation
            c.int_at_least(f"callbacks.{name}.patience", patience, 0, "validations to wait, e.g. 5")
        monitor = node.get("monitor")
        if monitor is not None and monitor not in MONITORABLE:
            fix = rename_hint(monitor, MONITORABLE) or f"one of {', '.join(MONITORABLE)}"
            c.add(f"callbacks.{name}.monitor", monitor, "is not a metric the training logs", fix)


def cluster_detected() -> bool:
    """Whether this process runs where a multi-node job's processes find each other: a cluster environment
    Lightning detects (SLURM, torchrun, LSF, MPI), or ranks set by hand or by Kubeflow (NODE_RANK, or
    WORLD_SIZE and RANK). Elsewhere Lightning waits forever for the other nodes."""
    from lightning.fabric.plugins.environments import LSFEnvironment, MPIEnvironment, TorchElasticEnvironment

    manual = "NODE_RANK" in os.environ or {"WORLD_SIZE", "RANK"} <= os.environ.keys()
    detected = (env.detect() for env in (LSFEnvironment, MPIEnvironment, TorchElasticEnvironment))
    return manual or "SLURM_NTASKS" in os.environ or any(detected)


def check_ddp(c: Checker, trainer: DictConfig, training: bool = True) -> None:
    """``trainer.num_nodes`` beyond one node without a cluster, and a DDP strategy that would stop at the
    first backward pass (only when the run trains)."""
    nodes = trainer.get("num_nodes", 1)
    valid = c.int_at_least("trainer.num_nodes", nodes, 1, "1, or the nodes of a SLURM job (trainer=ddp)")
    if valid and nodes > 1 and not cluster_detected():
        why = "needs a cluster (SLURM, torchrun, or NODE_RANK and MASTER_ADDR on each node), else the run"
        fix = "1 here, or submit: -m hydra/launcher=slurm hydra.launcher.nodes=<n>"
        c.add("trainer.num_nodes", nodes, f"{why} waits for nodes that never come", fix)
    strategy = trainer.get("strategy")
    ddp = isinstance(strategy, str) and strategy.startswith("ddp")
    if training and ddp and not strategy.endswith("find_unused_parameters_true"):
        why = "stops mid-training: AASIST's residual blocks leave bn1's weights unused (an official quirk)"
        fixed = strategy.replace("_find_unused_parameters_false", "") + "_find_unused_parameters_true"
        c.add("trainer.strategy", strategy, why, f"trainer.strategy={fixed} (as trainer=ddp, ddp_cpu set it)")


def check_optimized_metric(c: Checker, metric: object) -> None:
    """What train.py returns to a sweeper: a metric the training logs (not Lightning's epoch or step), or a
    test metric (``test/...``; the per-attack ones depend on the corpus), checked before the first trial."""
    if metric is None or str(metric).startswith("test/") or metric in _RETURNED:
        return
    fix = rename_hint(metric, _RETURNED) or "e.g. optimized_metric=val/eer_best"
    c.add("optimized_metric", metric, "is not a metric train.py returns", fix)


__all__ = [
    "MONITORABLE",
    "check_callbacks",
    "check_ddp",
    "check_optimized_metric",
    "check_trainer",
    "cluster_detected",
]
