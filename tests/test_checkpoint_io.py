"""Checkpoints go through the package's atomic writer (aasist_lightning.lit.checkpoint_io)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from aasist_lightning.files import OutputPathError
from aasist_lightning.lit.checkpoint_io import AtomicCheckpointIO


def test_a_checkpoint_replaces_its_file_atomically_keeping_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"epoch": 0}, path)  # the folder is made
    os.chmod(path, 0o640)
    io.save_checkpoint({"epoch": 1}, path)
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]  # no temporary file left


def test_a_failed_save_keeps_the_earlier_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "best.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"epoch": 0}, path)
    with pytest.raises(AttributeError, match="pickle"):  # torch cannot pickle a lambda: the save fails midway
        io.save_checkpoint({"epoch": 1, "hook": lambda: None}, path)
    assert torch.load(path, weights_only=True) == {"epoch": 0}
    os.chmod(path, 0o444)
    with pytest.raises(OutputPathError, match="read-only"):
        io.save_checkpoint({"epoch": 2}, path)
    assert torch.load(path, weights_only=True) == {"epoch": 0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt"]
