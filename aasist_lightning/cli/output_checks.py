"""The output folders of train.py / eval.py, checked before any work: the run's or sweep's folder (a Hydra
callback, before Hydra makes it) and ``paths.output_dir`` (inside the task). A folder in the corpus, or one
that holds an earlier run, is refused: a run there would replace or mix files."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from aasist_lightning.cli.errors import ConfigError, report
from aasist_lightning.files import OutputPathError, check_output, folder_problem


def _data_root_holding(cfg: DictConfig, folder: Path) -> str | None:
    """``data.root`` when ``folder`` is that corpus folder or lies inside it (never written), else None."""
    data = cfg.get("data")
    if not isinstance(data, DictConfig) or OmegaConf.is_missing(data, "root") or data.get("root") is None:
        return None
    root = str(data.get("root"))
    resolved = folder.expanduser().resolve()
    root_path = Path(root).expanduser().resolve()
    return root if root_path == resolved or root_path in resolved.parents else None


def check_output_dir(cfg: DictConfig) -> Path:
    """``paths.output_dir``, checked before any work: results.json can be written there, and it is not in the
    corpus folder (``data.root`` is never written)."""
    value = cfg.paths.get("output_dir")
    if not value:
        raise ConfigError(
            "paths.output_dir is not set. Fix: run through train.py / eval.py (Hydra sets it) or pass one."
        )
    output_dir = Path(str(value)).expanduser()
    root = _data_root_holding(cfg, output_dir)
    if root is not None:
        raise ConfigError(
            f"paths.output_dir={output_dir} is inside data.root={root}: the corpus folder is never "
            "written. Fix: pass another paths.output_dir (or hydra.run.dir)"
        )
    try:
        check_output(output_dir / "results.json")
    except OutputPathError as err:
        raise ConfigError(
            f"paths.output_dir={output_dir}: {err}. Fix: pass another paths.output_dir"
        ) from None
    return output_dir


class OutputFolderCheck(Callback):
    """Hydra callback (``conf/hydra/default.yaml``): the run's or sweep's folder must be creatable before
    Hydra makes it, else one line and exit 2 (Hydra's own failure there is a traceback)."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir")

    @staticmethod
    def _check(config: Any, key: str) -> None:
        # The folders interpolate ${hydra:...} (paths.root_dir is ${hydra:runtime.cwd}), which resolves only
        # once HydraConfig holds the config: set it now, as Hydra does right after this callback.
        HydraConfig.instance().set_config(config)
        folder = OmegaConf.select(config, key)
        prog = Path(sys.argv[0]).stem
        root = _data_root_holding(config, Path(folder))
        if root is not None:  # before Hydra writes its .hydra/ and log there
            message = f"{key}={folder} is inside data.root={root}: the corpus folder is never written"
            raise SystemExit(report(prog, OutputPathError(f"{message}. Fix: pass another {key}")))
        if os.path.realpath(folder) != os.path.realpath(os.path.normpath(folder)):  # a link, then ..
            problem = "its '..' follows a link, so it names two folders. Fix: write it without '..'"
        else:
            problem = folder_problem(folder)
        if problem:
            raise SystemExit(report(prog, OutputPathError(f"{key}={folder} cannot be made: {problem}")))
        training = OmegaConf.select(config, "hydra.job.config_name") == "train"
        earlier = _earlier_run(config, Path(folder), sweep=key == "hydra.sweep.dir", training=training)
        if earlier is not None:  # before Hydra replaces its .hydra/ and log, and the run its files
            message = (
                f"{key}={folder} holds an earlier run ({earlier}): a new run there would replace its files. "
                f"Fix: leave {key} out (each run gets a new folder) or pass an empty folder"
            )
            if training:
                message += "; to resume that run add ckpt_path=last"
            raise SystemExit(report(prog, OutputPathError(message)))


def _earlier_run(config: Any, folder: Path, sweep: bool, training: bool) -> str | None:
    """What marks ``folder`` as holding an earlier run or sweep (its results.json or checkpoints), unless
    this is a training resumed from there (``ckpt_path=last``, or a checkpoint inside ``folder``); else
    None."""
    if training:
        ckpt = OmegaConf.select(config, "ckpt_path")
        if ckpt == "last" or (ckpt and folder.resolve() in Path(str(ckpt)).expanduser().resolve().parents):
            return None
    jobs = "*/" if sweep else ""
    for pattern in (f"{jobs}results.json", f"{jobs}checkpoints/*.ckpt"):
        found = sorted(folder.glob(pattern))
        if found:
            return str(found[0].relative_to(folder))
    return None


__all__ = ["OutputFolderCheck", "check_output_dir"]
