"""aasist-synth's output folder and the generator's lock: what is refused before any work (a read-only
folder, a link), what is accepted (an empty folder), Ctrl-C, --help, and that no lock file is left behind
while two generations of one corpus still never run at once."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from logging_guard import root_logging_restored

from aasist_lightning.cli.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED
from aasist_lightning.cli.synth import build_parser, main
from aasist_lightning.data.synthetic import SyntheticCorpus, corpus
from aasist_lightning.data.synthetic.corpus import MANIFEST
from aasist_lightning.data.synthetic.parallel import locked
from aasist_lightning.files import OutputPathError

#: The smallest corpus: 28 utterances of at most 1.2 s, in this process.
SMALL = [
    *("--train-bonafide", "1", "--train-spoof-per-attack", "1", "--dev-bonafide", "1"),
    *("--dev-spoof-per-attack", "1", "--eval-bonafide", "1", "--eval-spoof-per-attack", "1"),
    *("--train-speakers", "2", "--dev-speakers", "2", "--eval-speakers", "2"),
    *("--min-duration", "0.5", "--max-duration", "1.2", "--workers", "1", "--no-progress"),
]


def synth(out: Path, *extra: str) -> int:
    with root_logging_restored():
        return main(["--out", str(out), *SMALL, *extra])


def small() -> SyntheticCorpus:
    """The generator of :data:`SMALL`, as training calls it."""
    sizes = dict.fromkeys(SyntheticCorpus().sizes, 1) | dict.fromkeys(SyntheticCorpus().speakers, 2)
    return SyntheticCorpus(**sizes, min_duration=0.5, max_duration=1.2, num_workers=1, progress=False)


def one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("aasist-synth:")]
    assert len(lines) == 1, err
    return lines[0]


def test_a_read_only_folder_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like aasist-predict -o rodir/x.csv: nothing is made in a folder marked read-only (even by root)."""
    rodir = tmp_path / "rodir"
    (rodir / "empty").mkdir(parents=True)
    (rodir / "empty").chmod(0o555)
    rodir.chmod(0o555)
    try:
        for out in (rodir / "new", rodir / "new" / "LA", rodir / "empty"):
            capsys.readouterr()
            assert synth(out) == EXIT_BAD_INPUT
            line = one_error_line(capsys.readouterr().err)
            assert f"--out {out}" in line and "read-only folder, mode 555" in line, line
            assert "make it writable" in line
            with pytest.raises(OutputPathError, match="read-only folder"):
                small()(out)  # training's generation too
        assert sorted(p.name for p in rodir.rglob("*")) == ["empty"]
    finally:
        rodir.chmod(0o755)


def test_an_empty_folder_is_accepted_and_no_lock_file_is_left(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    syn = tmp_path / "syn"
    (syn / "emp").mkdir(parents=True)
    assert synth(syn / "emp") == 0
    assert (syn / "emp" / MANIFEST).is_file()
    assert synth(syn / "emp") == 0  # reused
    assert "reusing synthetic corpus" in caplog.text
    (syn / "lnk").symlink_to(tmp_path / "nowhere")
    (syn / "mine").mkdir()
    (syn / "mine" / "notes.txt").write_text("my notes\n")
    (syn / "here").mkdir()
    monkeypatch.chdir(syn / "here")
    for out, message in (
        (syn / "lnk", "is a symbolic link"),
        (syn / "mine", "holds other files"),
        (Path("."), "is the current folder"),  # replacing it would leave the shell in a deleted folder
    ):
        capsys.readouterr()
        assert synth(out) == EXIT_BAD_INPUT
        assert message in one_error_line(capsys.readouterr().err)
    with pytest.raises(FileExistsError, match="is a symbolic link"):
        small()(syn / "lnk")  # before any work: no partial folder
    assert sorted(p.name for p in syn.iterdir()) == ["emp", "here", "lnk", "mine"]  # no .lock, no .partial


def test_ctrl_c_is_one_line_saying_where_the_partial_folder_is_and_a_rerun_resumes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    out = tmp_path / "syn" / "LA"
    real = corpus.run_tasks

    def interrupted(work, tasks, num_workers):
        yield from real(work, tasks[:1], num_workers)
        raise KeyboardInterrupt

    monkeypatch.setattr(corpus, "run_tasks", interrupted)
    try:
        assert synth(out) == EXIT_INTERRUPTED
    except KeyboardInterrupt:  # would stop the whole test session
        pytest.fail("Ctrl-C ended in a KeyboardInterrupt traceback")
    partial = out.parent / ".LA.partial"
    line = one_error_line(capsys.readouterr().err)
    assert "interrupted (Ctrl-C)" in line and str(partial) in line and "again to resume" in line, line
    written = len(list(partial.glob("*/flac/*.flac")))
    assert 0 < written < 28 and not out.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == [".LA.partial"]  # no lock file
    with pytest.raises(KeyboardInterrupt):
        synth(out, "--debug")  # the traceback when asked for; resumes, and stops after 8 more
    monkeypatch.setattr(corpus, "run_tasks", real)
    caplog.clear()
    assert synth(out) == 0
    assert f"28 utterances, {28 - written - 8} to do" in caplog.text
    assert sorted(p.name for p in out.parent.iterdir()) == ["LA"]


def test_help_shows_the_accepted_ranges() -> None:
    text = " ".join(build_parser(SyntheticCorpus()).format_help().split())
    for flag in ("train", "dev", "eval"):
        assert f"--{flag}-speakers {flag.upper()}_SPEAKERS speakers, 2 to 99 (default" in text
        assert f"--{flag}-bonafide {flag.upper()}_BONAFIDE utterances, at least 1 (default" in text
        assert f"--{flag}-spoof-per-attack {flag.upper()}_SPOOF_PER_ATTACK utterances, at least 1" in text
    assert "seconds, 0.5 to 20" in text and "new or empty folder" in text


def test_the_lock_excludes_and_leaves_no_file(tmp_path: Path) -> None:
    """Threads stand for processes (each opens the file itself, and flock locks an open file): however the
    holder's deletion of the lock file falls between the others' opening and locking it, one holds it."""
    path = tmp_path / ".LA.lock"
    inside, most, errors = [0], [0], []
    guard = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(40):
                with locked(path):
                    with guard:
                        inside[0] += 1
                        most[0] = max(most[0], inside[0])
                    time.sleep(0.0005)
                    with guard:
                        inside[0] -= 1
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and most[0] == 1
    assert not path.exists()
