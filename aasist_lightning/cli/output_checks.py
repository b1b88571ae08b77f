"""The output folders of train.py / eval.py, checked before any work: the run's or sweep's folder (a Hydra
callback, before Hydra makes it) and ``paths.output_dir`` (inside the task). A folder in the corpus, one that
holds a manifest or an earlier run, is refused: a run there would replace or mix files; and the callbacks and
loggers write inside the run folder, or outside it only where they replace nothing."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from aasist_lightning.cli.errors import ConfigError, report
from aasist_lightning.files import OutputPathError, check_output, folder_problem, is_within


def _input_in(cfg: DictConfig, folder: Path) -> str | None:
    """Why ``folder`` cannot take a run's outputs: it is (or lies inside) the corpus folder ``data.root``,
    or it holds a manifest the run reads (its train_subset.txt could replace it); else None."""
    data = cfg.get("data")
    if not isinstance(data, DictConfig):
        return None
    root = None if OmegaConf.is_missing(data, "root") else data.get("root")
    if root is not None and is_within(folder, str(root)):
        return f"is inside data.root={root}: the corpus folder is never written"
    for key in ("train_manifest", "dev_manifest", "eval_manifest"):
        manifest = None if OmegaConf.is_missing(data, key) else data.get(key)
        if manifest is not None and is_within(Path(str(manifest)).expanduser().parent, folder):
            return f"holds data.{key}={manifest}: input folders are never written"
    return None


#: Loggers that write in a new subfolder of ``save_dir`` for every run (a CSV or TensorBoard logger does so
#: with ``version: null``, as ``version_<n>``).
_FRESH_FOLDER_PER_RUN = ("wandb_logger", "WandbLogger")


def _writer_problems(cfg: DictConfig, output_dir: Path) -> list[str]:
    """The callbacks' and loggers' output folders (``dirpath``; a logger's ``save_dir``, for a CSV or
    TensorBoard logger ``save_dir/name/version``) that could lose files, as ``key=value: why``. Inside the run
    folder (checked itself) they are fine; outside it one must be new or empty, unless the writer makes a
    fresh subfolder per run, and never a data folder."""
    problems = []
    for group, key in (("callbacks", "dirpath"), ("logger", "save_dir")):
        nodes = cfg.get(group)
        for name, node in nodes.items() if isinstance(nodes, DictConfig) else ():
            if not isinstance(node, DictConfig) or node.get(key) is None:
                continue
            target = str(node.get("_target_", ""))
            versioned = target.endswith(("CSVLogger", "TensorBoardLogger"))
            folder, culprit = Path(), ""  # culprit: the first key that leads out (logger.csv.name=../..)
            for part in [key, *(k for k in ("name", "version") if versioned and node.get(k))]:
                folder = folder / str(node.get(part))
                culprit = culprit or ("" if is_within(folder, output_dir) else part)
            folder = folder.expanduser()
            if is_within(folder, output_dir):
                continue
            where = f"{group}.{name}.{culprit}={node.get(culprit)}"
            why = _input_in(cfg, folder)
            fresh = target.endswith(_FRESH_FOLDER_PER_RUN) or (versioned and node.get("version") is None)
            if why is None and not fresh and folder.is_dir() and any(folder.iterdir()):
                why = f"leads out of the run folder into {folder}, which holds files a run would replace"
            if why is not None:
                problems.append(f"{where}: {why}")
    return problems


def check_output_dir(cfg: DictConfig) -> Path:
    """``paths.output_dir``, checked before any work: results.json can be written there, it is not in the
    corpus folder (``data.root`` is never written) nor a manifest's, and the callbacks and loggers write
    inside it or where they lose nothing (:func:`_writer_problems`)."""
    value = cfg.paths.get("output_dir")
    if not value:
        raise ConfigError(
            "paths.output_dir is not set. Fix: run through train.py / eval.py (Hydra sets it) or pass one."
        )
    output_dir = Path(str(value)).expanduser()
    problem = _input_in(cfg, output_dir)
    if problem is not None:
        raise ConfigError(
            f"paths.output_dir={output_dir} {problem}. Fix: pass another paths.output_dir (or hydra.run.dir)"
        )
    problems = _writer_problems(cfg, output_dir)
    if problems:
        raise ConfigError(
            "; ".join(problems)
            + ". Fix: leave it at its default (inside the run folder), give a new or empty"
            " folder, or move the whole run: hydra.run.dir=<folder>"
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
        problem = _input_in(config, Path(folder))
        if problem is not None:  # before Hydra writes its .hydra/ and log there
            raise SystemExit(
                report(prog, OutputPathError(f"{key}={folder} {problem}. Fix: pass another {key}"))
            )
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
        if ckpt == "last" or (ckpt and is_within(Path(str(ckpt)).parent, folder)):
            return None
    jobs = "*/" if sweep else ""
    for pattern in (f"{jobs}results.json", f"{jobs}checkpoints/*.ckpt"):
        found = sorted(folder.glob(pattern))
        if found:
            return str(found[0].relative_to(folder))
    return None


__all__ = ["OutputFolderCheck", "check_output_dir"]
