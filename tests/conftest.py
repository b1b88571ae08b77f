"""Shared fixtures. Tests read the reference material in ../shared and never download anything."""

import hashlib
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


#: The organisers' eval ASV scores (LA.zip's ASVspoof2019_LA_asv_scores/), whose official t-DCF numbers the
#: tests reproduce: a copy that is not byte-identical cannot give them.
ASV_EVAL_SCORES = ("asvspoof2019/asv_scores/ASVspoof2019.LA.asv.eval.gi.trl.scores.txt", "e049f322fef221a7")


@pytest.fixture(scope="session")
def asv_eval_scores(shared_dir: Path) -> Path:
    """../shared's eval ASV score file, checked against its sha256 first: a damaged copy skips the tests that
    reproduce the official numbers, saying so, instead of failing them for a reason not in the code."""
    rel, sha256 = ASV_EVAL_SCORES
    path = shared_dir / rel
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    if not digest.startswith(sha256):
        pytest.skip(f"{path} is not the official file (sha256 {digest[:16]}, expected {sha256}…): restore it")
    return path


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
