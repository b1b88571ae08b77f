"""The retained-heap allocator mode (freed tensor memory stays in the process, not returned to the OS), under
glibc and under mimalloc, and the console scripts' relaunch under mimalloc."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aasist_lightning.runtime.allocator import (
    MIMALLOC_ENV,
    RELAUNCHED_ENV,
    allocator,
    allocator_mode,
    configure_allocator,
    malloc_name,
    mimalloc_library,
    relaunch_under_mimalloc,
)

glibc = pytest.mark.skipif(malloc_name() != "glibc", reason="mallopt modes need glibc's malloc")


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _rss_drop_after_free(mib: int = 256) -> float:
    block = torch.ones(mib * 2**18)  # touched, so resident
    before = _rss_mib()
    del block
    return before - _rss_mib()


@glibc
def test_retain_keeps_freed_memory_and_system_gives_it_back() -> None:
    assert allocator_mode() == "system"
    assert _rss_drop_after_free() > 200  # glibc's default: a large block is unmapped on free
    with allocator("retain") as applied:
        assert applied and allocator_mode() == "retain"
        assert _rss_drop_after_free() < 50  # kept in the heap for the next batch
        assert torch.ones(256 * 2**18).sum() == 256 * 2**18  # and reused
    assert allocator_mode() == "system"
    assert _rss_drop_after_free() > 200


def test_unknown_mode_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match=r"allocator='jemalloc': use one of retain, system"):
        configure_allocator("jemalloc")


needs_mimalloc = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or mimalloc_library() is None,
    reason="needs glibc and the cmeel-mimalloc wheel",
)

# Prints its allocator and arguments; the first line comes before the relaunch, so it appears twice.
PROGRAM = """\
import sys
from aasist_lightning.runtime.allocator import malloc_name, relaunch_under_mimalloc
print("started", flush=True)
relaunch_under_mimalloc()
print(malloc_name(), sys.argv[1:])
"""

# The retain / system modes under mimalloc, measured in RSS as in the test above.
MODES_UNDER_MIMALLOC = """\
import os, time, torch
from aasist_lightning.runtime.allocator import allocator, malloc_name

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def drop_after_free():
    block = torch.ones(256 * 2**18)
    before = rss()
    del block
    deadline = time.monotonic() + 2
    while before - rss() < 200 and time.monotonic() < deadline:  # mimalloc gives back after a delay
        _ = [torch.ones(1000) for _ in range(100)]
        time.sleep(0.01)
    return before - rss()

with allocator("retain"):
    retained = drop_after_free()
    start = rss()
    reused = torch.ones(256 * 2**18).sum() == 256 * 2**18 and rss() - start < 50
with allocator("system"):
    given_back = drop_after_free()
print(malloc_name(), retained < 50, reused, given_back > 200)
"""


def _run(tmp_path: Path, source: str, *args: str, **env: str) -> list[str]:
    script = tmp_path / "program.py"
    script.write_text(source)
    clean = {k: v for k, v in os.environ.items() if k not in (MIMALLOC_ENV, RELAUNCHED_ENV, "LD_PRELOAD")}
    done = subprocess.run(
        [sys.executable, str(script), *args], env=clean | env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@needs_mimalloc
def test_a_console_script_starts_again_under_mimalloc_once_with_its_arguments(tmp_path: Path) -> None:
    assert _run(tmp_path, PROGRAM, "model.first_conv=64", "a b") == [
        "started",
        "started",
        "mimalloc ['model.first_conv=64', 'a b']",
    ]
    assert _run(tmp_path, PROGRAM, "x", **{MIMALLOC_ENV: "0"}) == ["started", "glibc ['x']"]
    # A malloc the user preloads stands: no relaunch (this one is absent, so ld.so only warns).
    jemalloc = str(tmp_path / "libjemalloc.so.2")
    assert _run(tmp_path, PROGRAM, "y", LD_PRELOAD=jemalloc) == ["started", "glibc ['y']"]


@needs_mimalloc
def test_retain_and_system_modes_under_mimalloc(tmp_path: Path) -> None:
    library = str(mimalloc_library())
    assert _run(tmp_path, MODES_UNDER_MIMALLOC, LD_PRELOAD=library) == ["mimalloc True True True"]


def test_a_script_run_in_process_does_not_relaunch(monkeypatch: pytest.MonkeyPatch) -> None:
    """runpy (as the tests run train.py) leaves sys.argv unlike the command line: no exec of pytest."""
    monkeypatch.setattr(sys, "argv", ["train.py", "trainer.max_epochs=1"])
    monkeypatch.delenv(RELAUNCHED_ENV, raising=False)
    monkeypatch.delenv(MIMALLOC_ENV, raising=False)
    started = []
    monkeypatch.setattr(os, "execve", lambda *args: started.append(args))
    relaunch_under_mimalloc()
    assert started == []
    if mimalloc_library() is not None and malloc_name() == "glibc":  # the command line itself would relaunch
        monkeypatch.setattr(sys, "argv", sys.orig_argv[1:])
        relaunch_under_mimalloc()
        assert len(started) == 1 and started[0][2]["LD_PRELOAD"].startswith(str(mimalloc_library()))
