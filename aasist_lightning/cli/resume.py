"""Resuming a training run (``ckpt_path``): which checkpoint, and whether it can continue this run. Checked
before any work: Lightning finds a mismatch only when it restores the checkpoint (a traceback, after the data
is prepared), and a finished run's checkpoint would train nothing and replace its results without the
validation metrics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from aasist_lightning.cli.errors import ConfigError

if TYPE_CHECKING:
    import lightning as L

    from aasist_lightning.lit.module import AASISTLitModule

LAST_CKPT = Path("checkpoints") / "last.ckpt"


def _multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """The checkpoint to resume from, or None; raises `ConfigError` when it does not exist.

    `ckpt_path=last`: this run folder's checkpoints/last.ckpt (resume in place: `hydra.run.dir=<old run>`, or
    `hydra.sweep.dir=<old sweep>` for a multirun); otherwise, in a single run, the newest
    `<paths.log_dir>/<task_name>/runs/*/checkpoints/last.ckpt`, continued in the new run folder.
    """
    value = cfg.get("ckpt_path")
    if value is None or str(value).strip() == "":
        return None
    output_dir = Path(cfg.paths.output_dir).resolve()
    if str(value) == "last":
        own = output_dir / LAST_CKPT
        if own.is_file():
            return str(own)
        runs = Path(cfg.paths.log_dir).resolve() / str(cfg.task_name) / "runs"
        if not _multirun():
            found = [p for p in runs.glob(f"*/{LAST_CKPT.as_posix()}") if output_dir not in p.parents]
            if found:
                return str(max(found, key=lambda p: p.stat().st_mtime))
        raise ConfigError(
            f"ckpt_path='last': no checkpoint at {own} nor under {runs}/*/{LAST_CKPT}. Fix: pass the "
            "interrupted run's folder with hydra.run.dir=<run folder> (hydra.sweep.dir=<sweep folder> for a "
            "multirun), or ckpt_path=<path/to/last.ckpt>."
        )
    return str(checkpoint_file(value, LAST_CKPT.name, "or ckpt_path=last"))


def checkpoint_file(value: Any, example: str, otherwise: str) -> Path:
    """``ckpt_path=value`` as an existing file, resolved; else a `ConfigError` naming the value and the fix
    (``example``: a checkpoint's name in a run's checkpoints/; ``otherwise``: the other way to run)."""
    path = Path(str(value)).expanduser()
    if path.is_dir():
        raise ConfigError(f"ckpt_path={value!r} is a folder. Fix: give the .ckpt inside it, e.g. {example}")
    if not path.is_file():
        raise ConfigError(
            f"ckpt_path={value!r}: no such checkpoint file. Fix: give the .ckpt of a training run (e.g. "
            f"outputs/train/runs/<time>/checkpoints/{example}), {otherwise}."
        )
    return path.resolve()


def check_checkpoint(ckpt_path: str, model: AASISTLitModule, cfg: DictConfig) -> int:
    """Read ``ckpt_path`` (weights_only) and check that it is a training checkpoint of the configured network
    and, when the run trains, that training can continue from it: full training state, the configured
    optimizer and schedule, epochs left to train. Returns its global step."""
    from aasist_lightning.models.weights import WeightsError, read_torch_file

    try:
        ckpt = read_torch_file(ckpt_path, "checkpoint")
    except WeightsError as err:
        raise ConfigError(f"ckpt_path: {err}. Fix: give a .ckpt written by a training run") from None
    hparams = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hparams, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise ConfigError(
            f"ckpt_path: {ckpt_path} is not a training checkpoint (no state_dict and hyper_parameters; an "
            "official .pth is a plain state_dict). Fix: give a .ckpt written by train.py, or start from "
            "weights with model.pretrained=<.pth>"
        )
    _check_network(ckpt_path, ckpt, model)
    if cfg.get("train", True):
        _check_training_state(ckpt_path, ckpt, model, cfg.trainer)
    return int(ckpt.get("global_step", 0))


def _check_network(ckpt_path: str, ckpt: dict[str, Any], model: AASISTLitModule) -> None:
    """The checkpoint's architecture and weight names are the configured network's."""
    from aasist_lightning.models import ARCH_KEYS, HyperParameterError, check_hparams

    hparams, configured = ckpt["hyper_parameters"], model.model.config
    try:
        stored = check_hparams(
            **{k: hparams.get(k) if hparams.get(k) is not None else configured[k] for k in ARCH_KEYS}
        )
    except HyperParameterError as err:
        raise ConfigError(f"ckpt_path: {ckpt_path} holds invalid hyper-parameters ({err})") from None
    differ = [k for k in ARCH_KEYS if stored[k] != configured[k]]
    if differ:
        shown = "; ".join(
            f"model.{k}={stored[k]} in the checkpoint, {configured[k]} configured" for k in differ
        )
        fix = " ".join(f"model.{k}={_override(stored[k])}" for k in differ)
        raise ConfigError(
            f"ckpt_path: {ckpt_path} is a checkpoint of another network: {shown}. Fix: pass {fix} (or the "
            "model group it was trained with)"
        )
    own, held = set(model.state_dict()), set(ckpt["state_dict"])
    if own != held:
        keys = "; ".join(
            f"{label}: {', '.join(sorted(names)[:3])}{', …' if len(names) > 3 else ''}"
            for label, names in (("missing", own - held), ("unexpected", held - own))
            if names
        )
        raise ConfigError(
            f"ckpt_path: {ckpt_path} does not hold this network's weights ({keys}). Fix: give a .ckpt "
            "written by train.py for this model"
        )


def _check_training_state(ckpt_path: str, ckpt: dict[str, Any], model: AASISTLitModule, trainer: Any) -> None:
    """Training continues from ``ckpt``: it holds the optimizer and loop state, of the configured optimizer
    and scheduler, and the trainer's limits leave something to train."""
    fix_weights = (
        f"Fix: to evaluate it, train=false (or eval.py ckpt_path={ckpt_path}); to fine-tune from its weights "
        f"with a new optimizer and schedule, model.pretrained={ckpt_path} instead of ckpt_path"
    )
    loops = ckpt.get("loops")
    if "optimizer_states" not in ckpt or not isinstance(loops, dict):
        raise ConfigError(
            f"ckpt_path: {ckpt_path} holds the weights only (no optimizer or loop state: saved with "
            f"save_weights_only, or by another program): training cannot resume from it. {fix_weights}"
        )
    for part in ("optimizer", "scheduler"):
        stored = _built(part, ckpt["hyper_parameters"].get(part))
        configured = _built(part, model.hparams.get(part))
        if stored != configured:
            raise ConfigError(
                f"ckpt_path: {ckpt_path} was trained with {stored}, configured {configured}: its {part} "
                f"state cannot continue in another. Fix: {stored} (as it was trained); or, to start a new "
                f"{part}, model.pretrained={ckpt_path} instead of ckpt_path"
            )
    progress = loops.get("fit_loop", {}).get("epoch_progress", {}).get("current", {})
    epochs, steps = progress.get("processed", 0), ckpt.get("global_step", 0)
    # Lightning's own test of a finished fit (epochs counted as processed before the epoch-end checkpoint;
    # a checkpoint written at validation end is caught after the fit, by check_trained).
    reached = [
        (f"trainer.{key}={limit}", f"trainer.{key}={done + 1}")
        for key, limit, done in (
            ("max_epochs", trainer.get("max_epochs"), epochs),
            ("max_steps", trainer.get("max_steps"), steps),
        )
        if limit is not None and 0 <= limit <= done
    ]
    if reached:
        raise ConfigError(
            f"ckpt_path: {ckpt_path} has trained {epochs} epochs ({steps} steps), all that "
            f"{' and '.join(limit for limit, _ in reached)} allow: nothing is left to train. Fix: "
            f"{' '.join(fix for _, fix in reached)} or more to train on; to test it, train=false (or eval.py "
            f"ckpt_path={ckpt_path})"
        )


def check_trained(ckpt_path: str, resumed_step: int, model: AASISTLitModule, trainer: L.Trainer) -> None:
    """After a resumed fit: raise a `ConfigError` when Lightning found the checkpoint's run finished, so the
    fit trained and validated nothing (its results would replace the run's without validation metrics)."""
    if trainer.global_step == resumed_step and not model.val_results:
        epochs = trainer.max_epochs
        raise ConfigError(
            f"ckpt_path: {ckpt_path} continues a run that had finished (trainer.max_epochs={epochs}): "
            f"nothing was trained. Fix: trainer.max_epochs={(epochs or 0) + 1} or more to train on; to test "
            "it, train=false"
        )


def _built(part: str, node: Any) -> str:
    """The optimizer or schedule the training module builds from its ``part`` hyper-parameter (with its
    defaults: Adam; no schedule; a schedule stepped every epoch), as overrides."""
    node = node if isinstance(node, dict) else {}
    target = node.get("_target_")
    if part == "optimizer":
        return f"model.optimizer._target_={target or 'torch.optim.Adam'}"
    interval = node.get("interval", "epoch")
    return (
        f"model.scheduler._target_={target} model.scheduler.interval={interval}"
        if target
        else "model/scheduler=none"
    )


def _override(value: Any) -> str:
    """A value as a Hydra command-line override writes it."""
    return str(value).replace(" ", "")


__all__ = ["LAST_CKPT", "check_checkpoint", "check_trained", "checkpoint_file", "resolve_ckpt_path"]
