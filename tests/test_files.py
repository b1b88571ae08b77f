"""The one atomic writer: nothing half-written, nothing lost, permissions kept, inputs never replaced."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from aasist_lightning.files import (
    InputPathError,
    OutputPathError,
    OutputWriteError,
    atomic_copy,
    atomic_outputs,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    check_input,
    check_output,
    check_outputs,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_text_bytes_and_json_creating_the_folder(tmp_path: Path) -> None:
    assert atomic_write_text(tmp_path / "a" / "x.txt", "hé\n").read_text(encoding="utf-8") == "hé\n"
    assert atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert atomic_write_json(tmp_path / "c.json", {"eer": 1.5}).read_text() == '{\n  "eer": 1.5\n}\n'
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.bin", "c.json", "x.txt"]


def test_a_new_file_follows_the_umask_and_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        new = atomic_write_text(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert _mode(new) == 0o640  # not the 0o600 of a temporary file
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    os.chmod(kept, 0o604)
    atomic_write_text(kept, "new")
    assert kept.read_text() == "new" and _mode(kept) == 0o604


def test_a_failure_leaves_the_earlier_file_and_no_temporary(tmp_path: Path) -> None:
    good = tmp_path / "results.json"
    good.write_text("good")
    with pytest.raises(RuntimeError), atomic_path(good) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the work failed")
    assert good.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_an_output_that_is_an_input_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    source = tmp_path / "scores.txt"
    source.write_text("LA_1 A07 spoof 1.0\n")
    with pytest.raises(OutputPathError, match="is also an input"):
        atomic_write_text(source, "{}", inputs=[source])
    link = tmp_path / "link.txt"
    link.symlink_to(source)
    with pytest.raises(OutputPathError, match="is also an input"):
        check_output(link, inputs=[source])
    with pytest.raises(OutputPathError, match="is also an input"):
        atomic_copy(source, source)
    assert source.read_text() == "LA_1 A07 spoof 1.0\n"


def test_destinations_that_cannot_be_written_are_named(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="is a folder"):
        check_output(tmp_path)
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_output(a_file / "child.csv")
    # Marked read-only: kept even by root, who may write anyway (an ASV score file of ../shared was replaced
    # by a DET plot that way).
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputPathError, match=r"permission denied|a read-only folder, mode 500"):
        check_output(locked / "sub" / "out.csv")
    kept = tmp_path / "scores.txt"
    kept.write_text("LA_1 A07 spoof 1.0\n")
    kept.chmod(0o444)
    with pytest.raises(OutputPathError, match="is read-only \\(mode 444\\): it is never replaced"):
        atomic_write_text(kept, "a plot")
    assert kept.read_text() == "LA_1 A07 spoof 1.0\n"


def test_copy_is_atomic_and_byte_exact(tmp_path: Path) -> None:
    source = tmp_path / "best.ckpt"
    source.write_bytes(os.urandom(4096))
    copy = atomic_copy(source, tmp_path / "sub" / "copy.ckpt")
    assert copy.read_bytes() == source.read_bytes()


def test_outputs_of_one_run_replace_earlier_files_together_or_not_at_all(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.png"
    for path in (a, b):
        path.write_text("earlier")
    with pytest.raises(KeyboardInterrupt), atomic_outputs([a, b]) as outputs:
        with outputs.write(a) as tmp:
            tmp.write_text("new a")
        with outputs.write(b) as tmp:
            raise KeyboardInterrupt  # Ctrl-C while writing the second one
    assert a.read_text() == b.read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.png"]
    with atomic_outputs([a, None, b]) as outputs:
        for path in (a, b):
            with outputs.write(path) as tmp:
                tmp.write_text(f"new {path.name}")
        assert a.read_text() == "earlier"  # nothing replaced before the end of the block
    assert (a.read_text(), b.read_text()) == ("new a.json", "new b.png")


def test_a_failed_write_names_the_destination_not_the_temporary(tmp_path: Path) -> None:
    out = tmp_path / "hist.png"
    with pytest.raises(OutputWriteError) as caught, atomic_path(out) as tmp:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
    assert caught.value.filename == str(out) and caught.value.errno == errno.ENOSPC
    assert caught.value.strerror == "No space left on device; no earlier output was replaced"
    with pytest.raises(FileNotFoundError) as other, atomic_path(out):
        (tmp_path / "an-input").read_bytes()  # about another file: raised as it is
    assert other.value.filename == str(tmp_path / "an-input")
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_checked_before_the_work(tmp_path: Path) -> None:
    source = tmp_path / "scores.txt"
    source.write_text("x")
    with pytest.raises(OutputPathError, match="given twice"):
        check_outputs([tmp_path / "x", None, tmp_path / "." / "x"])
    work = []
    with (
        pytest.raises(OutputPathError, match="is also an input"),
        atomic_outputs([tmp_path / "o", source], [source]),
    ):
        work.append("done")
    assert work == [] and sorted(p.name for p in tmp_path.iterdir()) == ["scores.txt"]


def test_inputs_that_are_not_regular_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert check_input(tmp_path / "file", "score file") == tmp_path / "file"
    with pytest.raises(FileNotFoundError, match=f"score file {tmp_path / 'nope'} not found"):
        check_input(tmp_path / "nope", "score file")
    with pytest.raises(InputPathError, match="is a folder"):
        check_input(tmp_path, "protocol")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InputPathError, match="is not a regular file"):
        check_input(tmp_path / "fifo")
