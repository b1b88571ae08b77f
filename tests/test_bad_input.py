"""Nothing lost on bad input, table-driven: every case of tests/bad_input_cases_*.py runs one of the six
entry points (aasist-predict, -score, -export, -synth, train.py, eval.py) on a bad input and must end with the
expected exit status, a message naming the file / key / value, no traceback, and every file that was there
before (inputs and earlier outputs) byte- and mode-identical. The harness is tests/bad_input.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_input import Case, Workspace, run_entry
from bad_input_cases_cli import CASES as CLI_CASES
from bad_input_cases_runs import CASES as RUN_CASES
from inference_fixtures import tiny_data_dir

CASES: list[Case] = [*CLI_CASES, *RUN_CASES]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_data_dir(tmp_path_factory)


def test_the_table_is_large_and_its_names_are_unique() -> None:
    names = [(case.entry, case.name) for case in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    assert len(CASES) >= 60
    assert {case.entry for case in CASES} == {"predict", "score", "export", "synth", "train", "eval"}


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.entry}-{case.name}")
def test_bad_input(
    case: Case, tmp_path: Path, tiny_data: Path, capfd: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    ws = Workspace(tmp_path / "ws", tiny_data)
    ws.root.mkdir()
    monkeypatch.chdir(ws.root)
    if case.setup is not None:
        case.setup(ws)
    argv = case.args(ws)
    before = ws.snapshot()
    capfd.readouterr()

    status = run_entry(case.entry, argv, tmp_path / "hydra_run")

    out, err = capfd.readouterr()
    output = out + err
    assert status == case.status, f"exit status {status}, expected {case.status}\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    for fragment in case.fragments:
        assert fragment.format(ws=ws.root) in output, f"{fragment!r} not in\n{output[-3000:]}"
    after = ws.snapshot()
    changed = sorted(name for name, state in before.items() if after.get(name) != state)
    assert not changed, f"changed or removed by the run: {changed}"
