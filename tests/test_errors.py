"""The entry points' error boundary in a DDP run (aasist_lightning.cli.errors): a process that stops on bad
input reports it, and rank 0, whose collective then fails on the closed connection, ends with one line and
the peer's exit status instead of the backend's traceback. A fake process group stands in for torch's."""

from __future__ import annotations

import sys
import types

import pytest

from aasist_lightning.cli import app, errors
from aasist_lightning.cli.errors import EXIT_BAD_INPUT, ConfigError, bad_input_exits

PEER_GONE = RuntimeError("[gloo/transport/tcp/pair.cc:553] Connection closed by peer [127.0.0.1]:63203")


class FakeStore:
    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    def set(self, key: str, value: str) -> None:
        self.values[key] = value.encode()

    def get(self, key: str) -> bytes:
        return self.values[key]

    def wait(self, keys: list[str], timeout: object) -> None:
        if not all(key in self.values for key in keys):
            raise RuntimeError("Wait timeout")  # torch's store, after the timeout


@pytest.fixture
def process_group(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A 2-process group shared by both 'processes' of a test: set ``.rank`` to play one of them."""
    group = types.SimpleNamespace(rank=0, store=FakeStore())
    fake = types.SimpleNamespace(
        is_available=lambda: True,
        is_initialized=lambda: True,
        get_world_size=lambda: 2,
        get_rank=lambda: group.rank,
    )
    monkeypatch.setitem(sys.modules, "torch.distributed", fake)
    monkeypatch.setattr(errors, "_peer_store", lambda: group.store)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    return group


def stop(error: BaseException) -> int:
    with pytest.raises(SystemExit) as exit_, bad_input_exits("aasist-train"):
        raise error
    return exit_.value.code


def test_a_peer_stopped_by_bad_input_ends_rank_zero_with_one_line_and_status_2(
    process_group: types.SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    process_group.rank = 1
    assert stop(ConfigError("clip.wav is bad. Fix: replace it")) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith("aasist-train: error (DDP process 1): clip.wav is bad.")
    process_group.rank = 0
    assert stop(PEER_GONE) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        "aasist-train: error: DDP process 1 stopped the run on bad input: clip.wav is bad. Fix: replace it\n"
    )


def test_a_peer_that_failed_otherwise_ends_rank_zero_with_status_1(
    process_group: types.SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stop(PEER_GONE) == 1  # the peer printed its own traceback
    assert capsys.readouterr().err == (
        "aasist-train: error: another DDP process of this run failed; its error is above\n"
    )


def test_other_ranks_leave_the_report_to_rank_zero_and_keep_bugs_traceback(
    process_group: types.SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    process_group.rank = 1
    assert stop(PEER_GONE) == 1  # rank 0 stopped first and reported why
    assert capsys.readouterr().err == ""
    with pytest.raises(RuntimeError, match="a bug"), bad_input_exits("aasist-train"):
        raise RuntimeError("a bug")  # not a lost peer: the traceback stays


def test_a_ddp_job_of_a_sweep_is_recorded_once_with_the_peers_error(
    process_group: types.SimpleNamespace, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a multirun each DDP process runs the job: only rank 0 writes its error.txt, with the bad input a
    peer stopped on rather than the closed connection."""
    from hydra.core.hydra_config import HydraConfig

    monkeypatch.setattr(
        HydraConfig,
        "get",
        lambda: types.SimpleNamespace(runtime=types.SimpleNamespace(output_dir=str(tmp_path))),
    )
    failures = app._Failures()

    def fails(error: BaseException):
        def task(cfg: object) -> float:
            raise error

        return task

    process_group.rank = 1
    assert app._multirun_job("aasist-train", fails(ConfigError("clip.wav is bad")), None, failures) is None
    assert not (tmp_path / errors.JOB_ERROR_FILE).exists() and failures.jobs == []
    process_group.rank = 0
    app._multirun_job("aasist-train", fails(PEER_GONE), None, failures)
    assert errors.read_job_error(tmp_path) == (
        "failed",
        "ConfigError: DDP process 1 stopped the run on bad input: clip.wav is bad",
    )
    assert failures.jobs == [(str(tmp_path), True)] and failures.exit_status() == EXIT_BAD_INPUT


def test_a_process_group_terminated_ends_in_one_line_with_status_143(capsys: pytest.CaptureFixture) -> None:
    """SIGTERM to the whole group (timeout, a scheduler) kills the DataLoader workers too: the training then
    fails on them, not on Lightning's SIGTERM check; another worker death stays a bug with its traceback."""
    from aasist_lightning.cli.errors import EXIT_TERMINATED, interrupt_exits

    killed = RuntimeError("DataLoader worker (pid 26643) is killed by signal: Terminated. ")
    with pytest.raises(SystemExit) as end, interrupt_exits("aasist-train"):
        raise killed
    assert end.value.code == EXIT_TERMINATED
    assert capsys.readouterr().err == "aasist-train: terminated (SIGTERM)\n"
    crashed = RuntimeError("DataLoader worker (pid 26643) is killed by signal: Segmentation fault. ")
    with pytest.raises(RuntimeError, match="Segmentation fault"), interrupt_exits("aasist-train"):
        raise crashed
