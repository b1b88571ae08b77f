"""The default training recipe end to end, scaled down, with an extrapolation to the full default run.

``python train.py`` as shipped, except for the amount of data: one epoch of ``train_clips`` clips of a freshly
generated embedded corpus, half as many dev and eval clips; the same model, augmentation, precision
(``trainer.precision=auto``), allocator, loaders and callbacks. The run's time is split into corpus
generation, the model and data set-up before the first step, loading (waiting for training batches),
training steps, validation, test and checkpointing (``lit.callbacks.PhaseTimes``), and each phase is scaled
by its own unit (generated clips, training clips, validation clips, test clips, checkpoints) to the full
default run's counts, read from the same composed config.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException

from aasist_lightning import config_dir
from aasist_lightning.data.synthetic import EVAL_ATTACKS, TRAIN_ATTACKS

#: The phases scaled to the full run, each by the count that drives it; the others (set-up, the sanity check,
#: the first training step) happen once per run, like here.
_UNITS = {
    "generation": "generated_clips",
    "loading": "training_clips",
    "training": "training_clips",
    "validation_set_up": "validation_runs",
    "validation": "validation_clips",
    "test_set_up": "test_runs",
    "test": "test_clips",
    "checkpointing": "checkpoints",
}


def _compose(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):  # as @hydra.main hands it over
        del cfg["hydra"]
    return cfg


def _clips(generator: DictConfig) -> dict[str, int]:
    """Clips the configured generator writes per split (its own job lists)."""
    corpus = hydra.utils.instantiate(generator)
    return {split: len(corpus.jobs(split)) for split in ("train", "dev", "eval")}


def _full_counts(cfg: DictConfig, checkpoints_per_epoch: float) -> dict[str, float]:
    """What the shipped default run processes, from its composed config, counted as ``PhaseTimes`` counts:
    training clips in whole batches (the loader drops the last partial one) less the first step's (the
    warm-up), validation and test clips less each run's first batch (its set-up)."""
    data, epochs = cfg.data, cfg.trainer.max_epochs
    clips = _clips(data.generator)
    dev, test = data.dev_subset or clips["dev"], data.eval_subset or clips["eval"]
    eval_batch = data.eval_batch_size or data.batch_size
    validations = epochs // cfg.trainer.get("check_val_every_n_epoch", 1)
    return {
        "generated_clips": sum(clips.values()),
        "training_clips": epochs * (data.train_subset // data.batch_size) * data.batch_size - data.batch_size,
        "validation_runs": validations,
        "validation_clips": validations * (dev - min(eval_batch, dev)),
        "test_runs": 1,
        "test_clips": test - min(eval_batch, test),
        "checkpoints": epochs * checkpoints_per_epoch,
    }


def check_recipe_arguments(train_clips: int, overrides: Sequence[str]) -> None:
    """ValueError naming the bad argument: a clip count the balanced subsets cannot split, an override
    that does not compose (a typo in a key, a bad value's type)."""
    if train_clips < 4 or train_clips % 4:
        raise ValueError(f"--recipe-clips must be a positive multiple of 4, got {train_clips}")
    try:
        _compose(list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        raise ValueError(f"--recipe-overrides: {e}") from None


def profile_recipe(train_clips: int = 160, overrides: Sequence[str] = (), log: Any = print) -> dict[str, Any]:
    """Run the scaled-down default recipe in a temporary folder, in a process of its own (its peak RSS is the
    run's alone); its phases, counts and the extrapolation to the full default run. ``overrides``
    (``trainer.precision=32-true``, ``trainer.max_epochs=10``, ...) apply to both the scaled run and the full
    run it extrapolates to; the scaled run's own data sizes and epoch count win over them."""
    check_recipe_arguments(train_clips, overrides)
    shown = f" with {' '.join(overrides)}" if overrides else ""
    log(f"  default recipe{shown}, scaled: 1 epoch of {train_clips} clips, {train_clips // 2} dev and eval")
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_profile, train_clips, list(overrides)).result()


def _profile(train_clips: int, user_overrides: list[str]) -> dict[str, Any]:
    from aasist_lightning.cli.train import train

    half = train_clips // 2
    default = _compose(user_overrides)
    with tempfile.TemporaryDirectory(prefix="aasist-bench-recipe-") as tmp:
        # Enough of each class for the balanced subsets: half bona fide, spoofs spread over the attacks.
        overrides = [
            *user_overrides,
            f"paths.data_dir={tmp}/data", f"paths.output_dir={tmp}/run", "logger=none",
            "callbacks=[default,phase_times]", "~callbacks.rich_progress_bar", "~callbacks.model_summary",
            "trainer.enable_progress_bar=false", "trainer.max_epochs=1",
            f"data.train_subset={train_clips}", f"data.dev_subset={half}", f"data.eval_subset={half}",
            f"data.generator.train_bonafide={half}",
            f"data.generator.train_spoof_per_attack={-(-half // len(TRAIN_ATTACKS))}",
            f"data.generator.dev_bonafide={half // 2}",
            f"data.generator.dev_spoof_per_attack={-(-half // (2 * len(TRAIN_ATTACKS)))}",
            f"data.generator.eval_bonafide={half // 2}",
            f"data.generator.eval_spoof_per_attack={-(-half // (2 * len(EVAL_ATTACKS)))}",
            "data.generator.progress=false",
        ]  # fmt: skip
        cfg = _compose(overrides)
        start = time.perf_counter()
        hydra.utils.instantiate(cfg.data.generator)(Path(cfg.data.root))
        generation = time.perf_counter() - start
        start = time.perf_counter()
        metrics = train(cfg)
        wall = time.perf_counter() - start
        results = json.loads((Path(cfg.paths.output_dir) / "results.json").read_text())
    seconds = {"generation": generation, **results["phase_seconds"]}
    seconds["set_up_and_other"] = wall - sum(v for k, v in results["phase_seconds"].items())
    counts = {"generated_clips": sum(_clips(cfg.data.generator).values()), **results["phase_counts"]}
    full_counts = _full_counts(default, counts.get("checkpoints", 0))
    full = {
        phase: seconds.get(phase, 0.0) / counts[unit] * full_counts[unit]
        for phase, unit in _UNITS.items()
        if counts.get(unit)
    }
    full.update({phase: value for phase, value in seconds.items() if phase not in _UNITS})
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
