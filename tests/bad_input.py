"""The harness of tests/test_bad_input.py: a bad-input case, the workspace it runs in, and how each of the six
entry points is called (in-process, as its console script would be).

A case writes its inputs (and any earlier outputs) into the workspace, runs one entry point, and the test
asserts the exit status, message fragments naming the file / key / value, no traceback, and that every file
that was in the workspace before the run is byte- and mode-identical afterwards (new files may appear).
"""

from __future__ import annotations

import importlib
import shutil
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from logging_guard import root_logging_restored

ENTRIES = ("predict", "score", "export", "synth", "train", "eval")


@dataclass
class Workspace:
    """A fresh folder per case (the current folder while the case runs). ``tiny_data`` is the session's
    ``paths.data_dir`` holding the debug=tiny corpus (shared, read-only: :meth:`data_dir` copies it into the
    workspace, where the run's effect on it is checked)."""

    root: Path
    tiny_data: Path

    def path(self, name: str) -> Path:
        return self.root / name

    def write(self, name: str, content: str | bytes, mode: int | None = None) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        if mode is not None:
            path.chmod(mode)
        return path

    def wav(self, name: str, seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        wave = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sample_rate))
        sf.write(path, wave.astype(np.float32), sample_rate, subtype="PCM_16")
        return path

    def data_dir(self, name: str = "data") -> Path:
        """A copy of the debug=tiny ``paths.data_dir`` in the workspace (use ``paths.data_dir=<it>``)."""
        dest = self.root / name
        shutil.copytree(self.tiny_data, dest)
        return dest

    def tiny_root(self, data_dir: Path) -> Path:
        """The debug=tiny corpus root (``data.root``) inside a :meth:`data_dir` copy."""
        return next(p for p in data_dir.rglob("LA") if (p / "ASVspoof2019_LA_cm_protocols").is_dir())

    def snapshot(self) -> dict[str, tuple[bytes | None, int]]:
        """Every file and folder under the workspace: content (None for a folder) and permission bits."""
        state: dict[str, tuple[bytes | None, int]] = {}
        for path in sorted(self.root.rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue  # links and fifos: their targets are checked where they lie in the workspace
            mode = stat.S_IMODE(path.stat().st_mode)
            state[str(path.relative_to(self.root))] = (path.read_bytes() if path.is_file() else None, mode)
        return state


@dataclass(frozen=True)
class Case:
    """One bad input. ``args`` builds the command line in a workspace (after ``setup``); every one of
    ``fragments`` must appear in the output (``{ws}`` is replaced by the workspace folder)."""

    name: str
    entry: str
    args: Callable[[Workspace], list[str]]
    fragments: tuple[str, ...]
    setup: Callable[[Workspace], None] | None = None
    status: int = 2
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.entry in ENTRIES, self.entry


def run_entry(entry: str, argv: list[str], run_dir: Path) -> int:
    """Call an entry point in-process as its console script would; returns the exit status. Logging set up by
    the run (Hydra's job logging, aasist-synth's basicConfig) is undone afterwards."""
    module = {"eval": "evaluate"}.get(entry, entry)
    main = importlib.import_module(f"aasist_lightning.cli.{module}").main
    saved = sys.argv
    try:
        with root_logging_restored():
            if entry not in ("train", "eval"):
                return int(main(argv) or 0)
            own_dir = any(a.startswith(("hydra.run.dir=", "hydra.sweep.dir=")) for a in argv)
            sys.argv = [f"{entry}.py", *argv, *([] if own_dir else [f"hydra.run.dir={run_dir}"])]
            main()
            return 0
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = saved
