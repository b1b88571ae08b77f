"""The default training recipe end to end, scaled down, with an extrapolation to the full run.

``python train.py`` as shipped (or with ``--recipe-overrides``), except for the amount of data: one epoch of
``train_clips`` clips of a freshly generated embedded corpus, half as many dev and eval clips; the same model,
augmentation, precision (``trainer.precision=auto``), allocator and loaders. The scaled run sets its own
folders, data and generator sizes, epoch count, validation interval (every epoch), logger (none) and callbacks
(``default`` and ``phase_times``, without the progress bar and model summary): overrides of its data and
trainer keys shape only the full run it extrapolates to (``trainer.max_epochs=10``,
``data.train_subset=2000``, ...); callbacks and logger overrides are refused (early stopping would end the
full run early).

``lit.callbacks.PhaseTimes`` splits the run's time into phases and :func:`_extrapolate` scales each by its
own count to the full run's (:func:`_full_counts`): generation per generated clip; loading and training per
training clip after the first step; validation and test per clip after each run's first batch; their fixed
costs (``*_overhead``: the ONNX Runtime session, its first run, the epoch-end scoring and plots) per run;
checkpointing per checkpoint; set-up, the sanity check and the first step (``warm_up``) once.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException

from aasist_lightning import config_dir
from aasist_lightning.cli.config_checks import check_config
from aasist_lightning.data.synthetic import EVAL_ATTACKS, TRAIN_ATTACKS

#: The phases scaled to the full run, each by the count that drives it; the others happen once per run.
_UNITS = {
    "generation": "generated_clips",
    "loading": "training_clips",
    "training": "training_clips",
    "validation_overhead": "validation_runs",
    "validation": "validation_clips",
    "test_overhead": "test_runs",
    "test": "test_clips",
    "checkpointing": "checkpoints",
}
#: Trainer settings the extrapolation does not model (it counts whole epochs, every batch, one process), with
#: the only values it takes (typed: a limit of int 1 is one batch, of float 1.0 every batch).
_UNMODELLED = {"devices": 1, "num_nodes": 1, "limit_train_batches": 1.0, "limit_val_batches": 1.0,
               "limit_test_batches": 1.0, "val_check_interval": None, "max_steps": -1, "fast_dev_run": False,
               "overfit_batches": 0.0}  # fmt: skip
#: Config groups the scaled run sets itself and the full run's counts do not read (early stopping, loggers).
_IGNORED_GROUPS = ("callbacks", "logger")


def _compose(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):  # as @hydra.main hands it over
        del cfg["hydra"]
    return cfg


def _scaled_overrides(user_overrides: Sequence[str], train_clips: int, folder: str) -> list[str]:
    """``user_overrides`` followed by the scaled run's own (later overrides win), its files under ``folder``.
    The generator writes enough of each class for the balanced subsets: half bona fide, spoofs spread over
    the attacks."""
    half = train_clips // 2
    return [
        *user_overrides,
        f"paths.data_dir={folder}/data", f"paths.output_dir={folder}/run", "logger=none",
        "callbacks=[default,phase_times]", "~callbacks.rich_progress_bar", "~callbacks.model_summary",
        "trainer.enable_progress_bar=false", "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1",
        f"data.train_subset={train_clips}", f"data.dev_subset={half}", f"data.eval_subset={half}",
        f"data.generator.train_bonafide={half}",
        f"data.generator.train_spoof_per_attack={-(-half // len(TRAIN_ATTACKS))}",
        f"data.generator.dev_bonafide={half // 2}",
        f"data.generator.dev_spoof_per_attack={-(-half // (2 * len(TRAIN_ATTACKS)))}",
        f"data.generator.eval_bonafide={half // 2}",
        f"data.generator.eval_spoof_per_attack={-(-half // (2 * len(EVAL_ATTACKS)))}",
        "data.generator.progress=false",
    ]  # fmt: skip


def _clips(generator: DictConfig) -> dict[str, int]:
    """Clips the configured generator writes per split (its own job lists)."""
    corpus = hydra.utils.instantiate(generator)
    return {split: len(corpus.jobs(split)) for split in ("train", "dev", "eval")}


def _eval_batch(data: DictConfig) -> int:
    return int(data.eval_batch_size or data.batch_size)


def _full_counts(cfg: DictConfig, checkpoints_per_epoch: float) -> dict[str, float]:
    """What the full run of the composed config ``cfg`` processes, counted as ``PhaseTimes`` counts them:
    training clips in whole batches (the loader drops a last partial one) less the first step's (the
    warm-up); validation and test clips less each run's first batch (counted with its overhead)."""
    data, trainer = cfg.data, cfg.trainer
    clips = _clips(data.generator)
    train = data.train_subset or clips["train"]
    dev, test = data.dev_subset or clips["dev"], data.eval_subset or clips["eval"]
    batch, eval_batch = data.batch_size, _eval_batch(data)
    per_epoch = train // batch * batch if train >= batch else train
    validations = trainer.max_epochs // trainer.check_val_every_n_epoch
    return {
        "generated_clips": sum(clips.values()),
        "training_clips": trainer.max_epochs * per_epoch - min(batch, train),
        "validation_runs": validations,
        "validation_clips": validations * (dev - min(eval_batch, dev)),
        "test_runs": 1,
        "test_clips": test - min(eval_batch, test),
        "checkpoints": trainer.max_epochs * checkpoints_per_epoch,
    }


def _extrapolate(
    seconds: Mapping[str, float], counts: Mapping[str, float], full_counts: Mapping[str, float]
) -> dict[str, float]:
    """Each phase's seconds in the full run: scaled by its unit (:data:`_UNITS`), or as measured for the
    phases that happen once. A scaled phase the run measured on none of its units cannot be scaled:
    ValueError rather than an estimate that leaves it out."""
    for phase, unit in _UNITS.items():
        if full_counts.get(unit) and not counts.get(unit):
            raise ValueError(f"the scaled run has no {unit} to scale its {phase} time by: use more clips")
    return {
        phase: value / counts[unit] * full_counts[unit] if (unit := _UNITS.get(phase)) else value
        for phase, value in seconds.items()
    }


def check_recipe_arguments(train_clips: int, overrides: Sequence[str]) -> None:
    """ValueError naming the bad argument: a clip count the run cannot scale from (one epoch of it needs a
    training step and a validation / test batch besides the first, whose times are fixed costs), an
    override that does not compose or is invalid for train.py, or one the extrapolation does not model."""
    if train_clips < 4 or train_clips % 4:
        raise ValueError(f"--recipe-clips must be a positive multiple of 4, got {train_clips}")
    for override in overrides:
        if override.split("=")[0].lstrip("+~").split(".")[0] in _IGNORED_GROUPS:
            raise ValueError(
                f"--recipe-overrides: {override!r}: the profile runs with its own callbacks and logger, and "
                "the extrapolation assumes every epoch runs: leave it out"
            )
    try:
        full = _compose(list(overrides))
        check_config(full, sections=("model", "trainer", "data"))
        if full.data.get("generator") is None:
            raise ValueError("the recipe runs on the embedded corpus: keep data's default group")
        _compose(_scaled_overrides(overrides, train_clips, "/nonexistent"))
    except (HydraException, OmegaConfBaseException, ValueError) as e:
        raise ValueError(f"--recipe-overrides: {e}") from None
    data, trainer = full.data, full.trainer
    for key, value in _UNMODELLED.items():
        given = trainer.get(key, value)
        if type(given) is not type(value) or given != value:
            raise ValueError(
                f"--recipe-overrides: trainer.{key}={trainer.get(key)!r} is not modelled by the "
                f"extrapolation (it counts whole epochs of every batch in one process): leave it at {value!r}"
            )
    every = trainer.get("check_val_every_n_epoch")
    if not isinstance(every, int) or every < 1:
        raise ValueError(
            f"--recipe-overrides: trainer.check_val_every_n_epoch={every!r}: use an integer >= 1"
        )
    batch, eval_batch = data.batch_size, _eval_batch(data)
    if train_clips < 2 * batch or train_clips // 2 <= eval_batch:
        least = 4 * -(-max(2 * batch, 2 * eval_batch + 2) // 4)
        raise ValueError(
            f"--recipe-clips {train_clips}: at batch size {batch} (evaluation {eval_batch}) the scaled run "
            f"needs 2 training batches and 2 dev / eval batches (N/2 clips each): use --recipe-clips {least} "
            "or more"
        )


def profile_recipe(train_clips: int = 160, overrides: Sequence[str] = (), log: Any = print) -> dict[str, Any]:
    """Run the scaled-down recipe in a temporary folder, in a process of its own (its peak RSS is the run's
    alone); its phases, counts and the extrapolation to the full run. Check the arguments first with
    :func:`check_recipe_arguments` (the command does, before it measures anything)."""
    shown = f" with {' '.join(overrides)}" if overrides else ""
    log(f"  default recipe{shown}, scaled: 1 epoch of {train_clips} clips, {train_clips // 2} dev and eval")
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_profile, train_clips, list(overrides)).result()


def _profile(train_clips: int, user_overrides: list[str]) -> dict[str, Any]:
    from aasist_lightning.cli.train import train

    full_cfg = _compose(user_overrides)
    with tempfile.TemporaryDirectory(prefix="aasist-bench-recipe-") as tmp:
        cfg = _compose(_scaled_overrides(user_overrides, train_clips, tmp))
        start = time.perf_counter()
        hydra.utils.instantiate(cfg.data.generator)(Path(cfg.data.root))
        generation = time.perf_counter() - start
        start = time.perf_counter()
        metrics = train(cfg)
        wall = time.perf_counter() - start
        results = json.loads((Path(cfg.paths.output_dir) / "results.json").read_text())
    seconds = {"generation": generation, **results["phase_seconds"]}
    seconds["set_up_and_other"] = wall - sum(results["phase_seconds"].values())
    counts = {"generated_clips": sum(_clips(cfg.data.generator).values()), **results["phase_counts"]}
    full_counts = _full_counts(full_cfg, counts.get("checkpoints", 0))
    full = _extrapolate(seconds, counts, full_counts)
    return {
        "train_clips": train_clips,
        "overrides": user_overrides,
        "precision": results["config"]["trainer"]["precision"],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "counts": counts,
        "wall_s": round(generation + wall, 2),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "full_run_counts": full_counts,
        "full_run_estimate_s": {k: round(v, 1) for k, v in full.items()},
        "full_run_estimate_min": round(sum(full.values()) / 60, 1),
        "metrics": {k: v for k, v in metrics.items() if k in ("val/eer_best", "test/eer")},
    }


__all__ = ["check_recipe_arguments", "profile_recipe"]
