"""The one atomic writer: nothing half-written, nothing lost, permissions kept, inputs never replaced."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from aasist_lightning.files import (
    OutputPathError,
    atomic_copy,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    check_output,
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
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(OutputPathError, match="permission denied"):
            check_output(locked / "out.csv")


def test_copy_is_atomic_and_byte_exact(tmp_path: Path) -> None:
    source = tmp_path / "best.ckpt"
    source.write_bytes(os.urandom(4096))
    copy = atomic_copy(source, tmp_path / "sub" / "copy.ckpt")
    assert copy.read_bytes() == source.read_bytes()
