"""The notebooks: committed without outputs (fast check), and run top to bottom on the CPU (slow)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_notebooks_are_committed_without_outputs() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_evaluate.ipynb",
        "03_attention_maps.ipynb",
    ]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"


@pytest.mark.slow
def test_notebooks_run_top_to_bottom(
    shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In order (02 compares against 01's checkpoint), sharing one corpus, in a scratch folder. The kernel
    inherits this environment: official weights from ../shared, no downloads, one thread per process."""
    from nbclient import NotebookClient

    monkeypatch.setenv("AASIST_NOTEBOOK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert os.environ["AASIST_OFFLINE"] == "1"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        )
        client.execute()  # raises CellExecutionError naming the failing cell
    assert (tmp_path / "work" / "quickstart_run" / "results.json").is_file()
    assert (tmp_path / "work" / "eval_aasist_l" / "per_attack_eer.csv").is_file()
    assert len(list((tmp_path / "work" / "attention").glob("*.png"))) == 2
