"""Shared fixtures. Tests read the reference material in ../shared and never download anything."""

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AASIST_SHARED_DIR", ROOT.parent / "shared"))

# Official weights come from ../shared; downloads are disabled for the whole test session.
os.environ["AASIST_WEIGHTS_DIR"] = str(SHARED / "weights")
os.environ["AASIST_OFFLINE"] = "1"
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"reference folder {SHARED} not found (set AASIST_SHARED_DIR)")
    return SHARED


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest single-threaded; on a shared CPU extra threads only wait on each other. Module
    scope, so that module-scoped fixtures (a fitted tiny model) run under it too; use it with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
