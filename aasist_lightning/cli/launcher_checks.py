"""The submitit launchers' settings (``hydra/launcher=slurm``, ``submitit_local``), checked before any job is
submitted: a nonsense value would otherwise reach ``sbatch`` (``#SBATCH --nodes=-2``) or fail in a job with a
traceback, and SLURM's tools (sbatch, srun) must be there to submit at all."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from aasist_lightning.cli.checker import Checker, config_error
from aasist_lightning.cli.errors import report

#: The launchers' counts and the least value each may take (null leaves it to the cluster; a time limit of 0
#: is SLURM's "none").
_LEAST = {
    "timeout_min": 0,
    "nodes": 1,
    "tasks_per_node": 1,
    "cpus_per_task": 1,
    "gpus_per_node": 0,
    "mem_gb": 1,
    "array_parallelism": 1,
}


def launcher_problems(launcher: DictConfig) -> list[str]:
    """What is wrong with the launcher's settings (``hydra.launcher.<key>=<value>: why. Fix: ...``)."""
    checker = Checker()
    for key, least in _LEAST.items():
        value = launcher.get(key)
        fix = f"e.g. {max(least, 1)}, or null"
        if key == "tasks_per_node":  # hydra/launcher=slurm: one task per GPU, so 0 for a CPU-only job
            fix = "hydra.launcher.tasks_per_node=1 for a job without GPUs (it follows gpus_per_node)"
        if value is not None:
            checker.int_at_least(f"hydra.launcher.{key}", value, least, fix)
    target = str(launcher.get("_target_", ""))
    missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
    if target.endswith("SlurmLauncher") and missing:
        checker.add(
            "hydra/launcher", "slurm", f"needs SLURM's {' and '.join(missing)}, not on this machine's PATH",
            "submit from the cluster's login node, or hydra/launcher=submitit_local to try it here",
        )  # fmt: skip
    return checker.problems


class LauncherCheck(Callback):
    """Hydra callback (``conf/hydra/default.yaml``): a multirun's launcher settings, before any job."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        launcher = OmegaConf.select(config, "hydra.launcher")
        if not isinstance(launcher, DictConfig) or "submitit" not in str(launcher.get("_target_", "")):
            return
        problems = launcher_problems(launcher)
        if problems:
            raise SystemExit(
                report(Path(sys.argv[0]).stem, config_error("invalid launcher settings", problems))
            )


__all__ = ["LauncherCheck", "launcher_problems"]
