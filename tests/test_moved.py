"""The module paths of 0.1 still work, as the modules at their new homes, with a deprecation notice."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from aasist_lightning._moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_is_the_new_module_with_a_warning(old: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED[old]}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])


def test_an_old_command_path_still_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aasist_lightning.score", "/nonexistent/scores.txt"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "python -m aasist_lightning.score is now python -m aasist_lightning.cli.score" in done.stderr
    assert "aasist-score: error: score file /nonexistent/scores.txt not found" in done.stderr


def test_an_old_package_attribute_is_the_new_one_with_a_warning() -> None:
    import aasist_lightning.data as data
    from aasist_lightning.lit.datamodule import ASVspoofDataModule

    data.__dict__.pop("ASVspoofDataModule", None)
    with pytest.warns(DeprecationWarning, match="data.ASVspoofDataModule moved to aasist_lightning.lit"):
        assert data.ASVspoofDataModule is ASVspoofDataModule
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        _ = data.Nothing
