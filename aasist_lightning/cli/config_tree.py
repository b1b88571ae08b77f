"""Printing the composed config as a rich tree, and saving it next to the run's outputs."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import rich.syntax
import rich.tree
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from aasist_lightning.files import atomic_write_text

# Printed first, in this order; the remaining top-level keys follow.
PRINT_ORDER = ("data", "model", "augment", "trainer", "callbacks", "logger", "paths", "seed")


def config_tree(cfg: DictConfig, order: Sequence[str] = PRINT_ORDER, resolve: bool = True) -> rich.tree.Tree:
    """A rich tree with one branch per top-level config group."""
    tree = rich.tree.Tree("CONFIG", style="dim", guide_style="dim")
    keys = [k for k in order if k in cfg] + [k for k in cfg if k not in order]
    for key in keys:
        branch = tree.add(str(key), style="bold", guide_style="dim")
        node = cfg.get(key)
        text = OmegaConf.to_yaml(node, resolve=resolve) if isinstance(node, DictConfig) else str(node)
        branch.add(rich.syntax.Syntax(text, "yaml", theme="ansi_dark", background_color="default"))
    return tree


def print_config_tree(cfg: DictConfig, output_dir: str | Path | None = None, resolve: bool = True) -> None:
    """Print the config tree; with `output_dir`, also save it (config_tree.log) and the resolved config
    (config.yaml)."""
    tree = config_tree(cfg, resolve=resolve)
    rich.print(tree)
    if output_dir is None:
        return
    output_dir = Path(output_dir)
    recorder = Console(record=True, width=120, file=io.StringIO())
    recorder.print(tree)
    atomic_write_text(output_dir / "config_tree.log", recorder.export_text())
    atomic_write_text(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=resolve))
