"""Bad-input cases of aasist-predict, -score, -export and -synth, for tests/test_bad_input.py.

Every case must end with its status (2 unless said), a message naming the file / option / value, no
traceback, and every file that was in the workspace before byte- and mode-identical afterwards. Earlier
outputs are written with mode 0o640, so a replaced file would show in its bits too.
"""

from __future__ import annotations

import errno
import fractions
import os
from pathlib import Path

from bad_input import Case, Workspace
from inference_fixtures import TINY_ARCH, random_checkpoint

SCORES = "".join(
    f"LA_{i:04d} LA_E_{i} - {'-' if i % 2 else 'A07'} {'bonafide' if i % 2 else 'spoof'} {i / 10}\n"
    for i in range(20)
)
PROTOCOL = "".join(
    f"LA_{i:04d} LA_E_{i} - {'-' if i % 2 else 'A07'} {'bonafide' if i % 2 else 'spoof'}\n" for i in range(20)
)
EARLIER = 0o640


def _p(ws: Workspace, name: str) -> str:
    return str(ws.path(name))


def _earlier(ws: Workspace, name: str, content: str | bytes = "earlier output\n") -> Path:
    return ws.write(name, content, mode=EARLIER)


# ------------------------------------------------------------------------------------------ setups
def score_file(ws: Workspace) -> None:
    ws.write("scores.txt", SCORES, mode=0o644)


def score_and_protocol(ws: Workspace) -> None:
    score_file(ws)
    ws.write("protocol.txt", PROTOCOL, mode=0o644)


def score_file_and_links(ws: Workspace) -> None:
    score_file(ws)
    ws.path("link.txt").symlink_to(ws.path("scores.txt"))
    os.link(ws.path("scores.txt"), ws.path("hard.txt"))


def earlier_score_outputs(ws: Workspace) -> None:
    score_file(ws)
    for name in ("results.json", "det.png", "hist.png"):
        _earlier(ws, name)


def full_disk_at_the_histogram(ws: Workspace) -> None:
    """The earlier outputs, and a histogram writer that half-writes its file and finds the disk full (once:
    the patch undoes itself when called, as the harness has no monkeypatch hook)."""
    from aasist_lightning.metrics import plots

    earlier_score_outputs(ws)
    original = plots.plot_score_histogram

    def full_disk(bonafide, spoof, path, title=None):
        plots.plot_score_histogram = original
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    plots.plot_score_histogram = full_disk


def audio_and_checkpoint(ws: Workspace) -> None:
    ws.wav("clip.wav", seconds=1.0)
    random_checkpoint(ws.path("model.ckpt"))
    ws.path("model.ckpt").chmod(0o644)


def audio_checkpoint_and_earlier_csv(ws: Workspace) -> None:
    audio_and_checkpoint(ws)
    _earlier(ws, "old.csv", "path,score,prob_bonafide,decision,duration_s\nold.wav,1,0.7,bonafide,1\n")


def audio_folders_and_checkpoint(ws: Workspace) -> None:
    """clips/{a,b}/clip.wav, the checkpoint, and an earlier picture clips/clip.png that attention maps
    written into clips/ would replace."""
    audio_and_checkpoint(ws)
    ws.wav("clips/a/clip.wav")
    ws.wav("clips/b/clip.wav", seed=1)
    _earlier(ws, "clips/clip.png", b"\x89PNG earlier")


def audio_and_links(ws: Workspace) -> None:
    audio_and_checkpoint(ws)
    ws.path("link.wav").symlink_to(ws.path("clip.wav"))
    os.link(ws.path("clip.wav"), ws.path("hard.wav"))


def unreadable_audio_and_earlier_csv(ws: Workspace) -> None:
    audio_checkpoint_and_earlier_csv(ws)
    ws.write("bad1.wav", b"RIFF not really a wave file")
    ws.write("bad2.wav", os.urandom(64))


def random_bytes_checkpoint(ws: Workspace) -> None:
    ws.wav("clip.wav")
    ws.write("model.ckpt", os.urandom(4096))


def truncated_checkpoint(ws: Workspace) -> None:
    audio_and_checkpoint(ws)
    data = ws.path("model.ckpt").read_bytes()
    ws.write("model.ckpt", data[: len(data) // 2])


def foreign_object_checkpoint(ws: Workspace) -> None:
    """A pickle holding an object of a class other than tensors and containers (never unpickled)."""
    import torch

    ws.wav("clip.wav")
    torch.save({"state_dict": {}, "note": fractions.Fraction(1, 3)}, ws.path("model.ckpt"))


def folder_checkpoint(ws: Workspace) -> None:
    ws.wav("clip.wav")
    ws.path("model.ckpt").mkdir()


def other_size_checkpoint(ws: Workspace) -> None:
    """A checkpoint whose hyper-parameters describe another model size than its weights."""
    import torch

    audio_and_checkpoint(ws)
    ckpt = torch.load(ws.path("model.ckpt"), weights_only=True)
    ckpt["hyper_parameters"]["gat_dims"] = [8, 8]
    torch.save(ckpt, ws.path("model.ckpt"))


def tiny_state_dict(ws: Workspace) -> None:
    """Weights of a tiny model under a .pth name, read as official weights (AASIST-L's shapes)."""
    import torch

    from aasist_lightning.models import AASIST

    ws.wav("clip.wav")
    torch.save(AASIST(**TINY_ARCH).state_dict(), ws.path("tiny.pth"))


def garbage_model_files(ws: Workspace) -> None:
    ws.wav("clip.wav")
    ws.write("model.onnx", os.urandom(512))
    ws.write("model.pt2", os.urandom(512))


def checkpoint_and_earlier_onnx(ws: Workspace) -> None:
    random_checkpoint(ws.path("model.ckpt"))
    _earlier(ws, "model.onnx", b"earlier onnx model")


def checkpoint_and_folder(ws: Workspace) -> None:
    random_checkpoint(ws.path("model.ckpt"))
    ws.path("exports").mkdir()


def foreign_folder(ws: Workspace) -> None:
    ws.write("mine/notes.txt", "my own notes\n", mode=0o644)


def tiny_corpus(ws: Workspace) -> None:
    ws.data_dir()


def tiny_corpus_root(ws: Workspace) -> str:
    return str(ws.tiny_root(ws.path("data")))


def pipe(name: str, setup=None):
    def make(ws: Workspace) -> None:
        if setup is not None:
            setup(ws)
        os.mkfifo(ws.path(name))

    return make


def hard_decisions(ws: Workspace) -> None:
    ws.write(
        "hard.txt",
        "".join(
            f"u{i} {'-' if i % 2 else 'A07'} {'bonafide' if i % 2 else 'spoof'} {i % 2}\n" for i in range(10)
        ),
    )


def two_trials(ws: Workspace) -> None:
    ws.write("two.txt", "LA_E_1 - bonafide 0.8\nLA_E_2 A07 spoof -1.5\n", mode=0o644)


def a00_scores(ws: Workspace) -> None:
    """A score file writing bona fide trials with attack A00 (as published AASIST files do)."""
    ws.write("protocol.txt", PROTOCOL, mode=0o644)
    ws.write(
        "scores.txt",
        "".join(
            f"LA_E_{i} {'A00' if i % 2 else 'A07'} {'bonafide' if i % 2 else 'spoof'} {i / 10}\n"
            for i in range(20)
        ),
    )


def key_mismatch(ws: Workspace) -> None:
    a00_scores(ws)
    lines = ws.path("scores.txt").read_text().splitlines()
    lines[3] = "LA_E_3 A00 spoof 0.3"
    ws.write("scores.txt", "\n".join(lines) + "\n")


PREDICT_CKPT = ["--ckpt", "model.ckpt", "--no-progress", "--device", "cpu"]


def predict(*args: str) -> list[str]:
    return [*args, *PREDICT_CKPT]


# ------------------------------------------------------------------------------------------ the cases
PREDICT: list[Case] = [
    Case(
        "output-is-the-audio-input",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "-o", _p(ws, "clip.wav")),
        ("output {ws}/clip.wav is also an input",),
        setup=audio_and_checkpoint,
    ),
    Case(
        "output-is-a-symlink-to-the-audio-input",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "-o", _p(ws, "link.wav")),
        ("output {ws}/link.wav is also an input",),
        setup=audio_and_links,
    ),
    Case(
        "output-is-a-hard-link-of-the-audio-input",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "-o", _p(ws, "hard.wav")),
        ("output {ws}/hard.wav is also an input",),
        setup=audio_and_links,
    ),
    Case(
        "output-is-the-checkpoint",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "-o", "model.ckpt"),
        ("output model.ckpt is also an input",),
        setup=audio_and_checkpoint,
    ),
    Case(
        "nothing-readable-keeps-the-earlier-output",
        "predict",
        lambda ws: predict(_p(ws, "bad1.wav"), _p(ws, "bad2.wav"), "-o", _p(ws, "old.csv")),
        ("none of the 2 file(s) could be read", "{ws}/old.csv was not written", "{ws}/bad1.wav"),
        setup=unreadable_audio_and_earlier_csv,
    ),
    Case(
        "output-is-a-folder",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "-o", str(ws.root)),
        ("output {ws} is a folder",),
        setup=audio_and_checkpoint,
    ),
    Case(
        "output-under-a-file",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "-o", _p(ws, "old.csv/scores.csv")),
        ("{ws}/old.csv is a file, not a folder",),
        setup=audio_checkpoint_and_earlier_csv,
    ),
    Case(
        "threshold-nan",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "--threshold", "nan", "-o", _p(ws, "old.csv")),
        ("--threshold", "'nan' must be a finite number"),
        setup=audio_checkpoint_and_earlier_csv,
    ),
    Case(
        "threshold-inf",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "--threshold", "inf"),
        ("--threshold", "'inf' must be a finite number"),
        setup=audio_and_checkpoint,
    ),
    Case(
        "zero-windows-per-batch",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "--batch-size", "0"),
        ("--batch-size", "0 is out of range (accepted: >= 1)"),
        setup=audio_and_checkpoint,
    ),
    Case(
        "hop-longer-than-the-model-input",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "--hop", "99999", "-o", _p(ws, "old.csv")),
        ("--hop 99999 is out of range (accepted: 1 to 16000",),
        setup=audio_checkpoint_and_earlier_csv,
    ),
    Case(
        "checkpoint-of-random-bytes",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav")),
        ("cannot read checkpoint model.ckpt", "truncated, corrupt or not a PyTorch file"),
        setup=random_bytes_checkpoint,
    ),
    Case(
        "checkpoint-truncated",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav")),
        ("cannot read checkpoint model.ckpt", "truncated"),
        setup=truncated_checkpoint,
    ),
    Case(
        "checkpoint-with-a-foreign-class",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav")),
        ("cannot read checkpoint model.ckpt", "never unpickled"),
        setup=foreign_object_checkpoint,
    ),
    Case(
        "checkpoint-is-a-folder",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav")),
        ("checkpoint model.ckpt is a folder",),
        setup=folder_checkpoint,
    ),
    Case(
        "checkpoint-of-another-model-size",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav")),
        ("checkpoint model.ckpt",),
        setup=other_size_checkpoint,
    ),
    Case(
        "weights-of-another-model-size",
        "predict",
        lambda ws: [_p(ws, "clip.wav"), "--pretrained", _p(ws, "tiny.pth"), "--device", "cpu"],
        ("{ws}/tiny.pth",),
        setup=tiny_state_dict,
    ),
    Case(
        "onnx-model-of-random-bytes",
        "predict",
        lambda ws: [_p(ws, "clip.wav"), "--onnx", _p(ws, "model.onnx")],
        ("{ws}/model.onnx",),
        setup=garbage_model_files,
    ),
    Case(
        "program-of-random-bytes",
        "predict",
        lambda ws: [_p(ws, "clip.wav"), "--program", _p(ws, "model.pt2"), "--device", "cpu"],
        ("{ws}/model.pt2",),
        setup=garbage_model_files,
    ),
    Case(
        "explain-folder-is-a-file",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "--explain", _p(ws, "old.csv")),
        ("--explain {ws}/old.csv is a file",),
        setup=audio_checkpoint_and_earlier_csv,
    ),
    Case(  # the pictures went into a folder out.csv/, then -o failed: "Is a directory" after the work
        "explain-folder-is-the-output",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "-o", _p(ws, "out.csv"), "--explain", _p(ws, "out.csv")),
        ("--explain {ws}/out.csv is also the -o output {ws}/out.csv", "a folder of their own"),
        setup=audio_and_checkpoint,
    ),
    Case(
        "explain-folder-inside-the-output",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "-o", _p(ws, "out.csv"), "--explain", _p(ws, "out.csv/maps")),
        ("--explain {ws}/out.csv/maps lies inside the -o output {ws}/out.csv",),
        setup=audio_and_checkpoint,
    ),
    Case(  # the -o file and a picture had one destination: the CSV replaced the picture without a word
        "output-named-like-an-explain-png",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "-o", _p(ws, "maps/clip.png"), "--explain", _p(ws, "maps")),
        ("-o {ws}/maps/clip.png is in --explain {ws}/maps", "name it otherwise"),
        setup=audio_and_checkpoint,
    ),
    Case(  # the pictures went into the input folder (exit 0), over the earlier clips/clip.png
        "explain-folder-is-the-input-folder",
        "predict",
        lambda ws: predict(_p(ws, "clips"), "--explain", _p(ws, "clips")),
        ("--explain {ws}/clips is also the input {ws}/clips", "a folder outside the inputs"),
        setup=audio_folders_and_checkpoint,
    ),
    Case(
        "explain-folder-holds-the-input",
        "predict",
        lambda ws: predict(_p(ws, "clips/a/clip.wav"), "--explain", _p(ws, "clips")),
        ("--explain {ws}/clips holds the input {ws}/clips/a/clip.wav",),
        setup=audio_folders_and_checkpoint,
    ),
    Case(
        "explain-folder-holds-audio-of-an-input-folder",
        "predict",
        lambda ws: predict(_p(ws, "clips"), "--explain", _p(ws, "clips/b")),
        ("--explain {ws}/clips/b holds the input {ws}/clips/b/clip.wav",),
        setup=audio_folders_and_checkpoint,
    ),
    Case(  # the pictures went into a new folder inside the input folder (exit 0)
        "explain-folder-inside-an-input-folder",
        "predict",
        lambda ws: predict(_p(ws, "clips"), "--explain", _p(ws, "clips/new/maps")),
        ("--explain {ws}/clips/new/maps lies inside the input folder {ws}/clips", "outside it"),
        setup=audio_folders_and_checkpoint,
    ),
    Case(  # the scores went among the audio
        "output-inside-an-input-folder",
        "predict",
        lambda ws: predict(_p(ws, "clips"), "-o", _p(ws, "clips/scores.csv")),
        ("-o {ws}/clips/scores.csv lies inside the input folder {ws}/clips",),
        setup=audio_folders_and_checkpoint,
    ),
    Case(  # the CSV replaced an audio file of that name (exit 0)
        "output-with-an-audio-name",
        "predict",
        lambda ws: predict(_p(ws, "clip.wav"), "-o", _p(ws, "other.wav")),
        ("-o {ws}/other.wav: an audio file name", "-o scores.csv"),
        setup=audio_and_checkpoint,
    ),
    Case(
        "dev-zero-as-audio",
        "predict",
        lambda ws: predict("/dev/zero", "-o", _p(ws, "old.csv")),
        ("/dev/zero is a device", "none of the 1 file(s) could be read", "{ws}/old.csv was not written"),
        setup=audio_checkpoint_and_earlier_csv,
    ),
    Case(
        "missing-input",
        "predict",
        lambda ws: predict(_p(ws, "nowhere.wav"), "-o", _p(ws, "old.csv")),
        ("{ws}/nowhere.wav does not exist",),
        setup=audio_checkpoint_and_earlier_csv,
    ),
]

SCORE: list[Case] = [
    Case(
        "json-output-is-the-score-file",
        "score",
        lambda ws: [_p(ws, "scores.txt"), "--json", _p(ws, "scores.txt")],
        ("output {ws}/scores.txt is also an input",),
        setup=score_file,
    ),
    Case(
        "hist-plot-is-the-score-file",
        "score",
        lambda ws: [_p(ws, "scores.txt"), "--hist-plot", _p(ws, "scores.txt")],
        ("output {ws}/scores.txt is also an input",),
        setup=score_file,
    ),
    Case(
        "det-plot-is-a-symlink-to-the-score-file",
        "score",
        lambda ws: [_p(ws, "scores.txt"), "--det-plot", _p(ws, "link.txt")],
        ("output {ws}/link.txt is also an input",),
        setup=score_file_and_links,
    ),
    Case(
        "json-is-a-hard-link-of-the-score-file",
        "score",
        lambda ws: [_p(ws, "scores.txt"), "--json", _p(ws, "hard.txt")],
        ("output {ws}/hard.txt is also an input",),
        setup=score_file_and_links,
    ),
    Case(
        "json-is-the-protocol",
        "score",
        lambda ws: [
            _p(ws, "scores.txt"),
            "--protocol",
            _p(ws, "protocol.txt"),
            "--json",
            _p(ws, "protocol.txt"),
        ],
        ("output {ws}/protocol.txt is also an input",),
        setup=score_and_protocol,
    ),
    Case(
        "one-path-for-two-outputs",
        "score",
        lambda ws: [_p(ws, "scores.txt"), "--json", _p(ws, "out"), "--det-plot", _p(ws, "out")],
        ("output {ws}/out is given twice",),
        setup=score_file,
    ),
    Case(
        "json-into-a-folder",
        "score",
        lambda ws: [_p(ws, "scores.txt"), "--json", str(ws.root)],
        ("output {ws} is a folder",),
        setup=score_file,
    ),
    Case(
        "json-under-a-file",
        "score",
        lambda ws: [_p(ws, "scores.txt"), "--json", _p(ws, "scores.txt/results.json")],
        ("{ws}/scores.txt is a file, not a folder",),
        setup=score_file,
    ),
    Case(
        "score-file-is-a-folder",
        "score",
        lambda ws: [str(ws.root)],
        ("score file {ws} is a folder",),
    ),
    Case(
        "score-file-is-a-pipe",
        "score",
        lambda ws: [_p(ws, "fifo")],
        ("score file {ws}/fifo is not a regular file",),
        setup=pipe("fifo"),
    ),
    Case(
        "protocol-is-a-folder",
        "score",
        lambda ws: [_p(ws, "scores.txt"), "--protocol", str(ws.root)],
        ("protocol {ws} is a folder",),
        setup=score_file,
    ),
    Case(
        "score-file-missing",
        "score",
        lambda ws: [_p(ws, "nothing.txt")],
        ("score file {ws}/nothing.txt not found",),
    ),
    Case(
        "full-disk-while-writing-the-plots",
        "score",
        lambda ws: [
            _p(ws, "scores.txt"),
            *("--json", _p(ws, "results.json"), "--det-plot", _p(ws, "det.png")),
            *("--hist-plot", _p(ws, "hist.png")),
        ],
        ("{ws}/hist.png", "No space left on device", "no earlier output was replaced"),
        setup=full_disk_at_the_histogram,
    ),
    Case(
        "hard-decisions",
        "score",
        lambda ws: [_p(ws, "hard.txt")],
        ("{ws}/hard.txt: only 2 distinct score value(s) (0, 1) in 10 trials", "hard decisions"),
        setup=hard_decisions,
    ),
    Case(
        "two-trials-are-scores-not-hard-decisions",
        "score",
        lambda ws: [_p(ws, "two.txt")],
        ("1 bona fide, 1 spoof trials", "EER"),
        setup=two_trials,
        status=0,
    ),
    Case(
        "a00-and-dash-are-the-same-bona-fide-attack",
        "score",
        lambda ws: [_p(ws, "scores.txt"), "--protocol", _p(ws, "protocol.txt")],
        ("10 bona fide, 10 spoof trials",),
        setup=a00_scores,
        status=0,
    ),
    Case(
        "protocol-key-mismatch-names-field-and-values",
        "score",
        lambda ws: [_p(ws, "scores.txt"), "--protocol", _p(ws, "protocol.txt")],
        ("LA_E_3 has key 'spoof' in the score file and 'bonafide' in the protocol",),
        setup=key_mismatch,
    ),
    Case(
        "two-columns-without-protocol",
        "score",
        lambda ws: [_p(ws, "two.txt")],
        ("{ws}/two.txt has two columns", "--protocol"),
        setup=lambda ws: ws.write("two.txt", "LA_E_1 0.8\nLA_E_2 -1.5\n"),
    ),
]

EXPORT: list[Case] = [
    Case(  # the ONNX model replaced a weights file of that name (the official ones, when writable: exit 0)
        "export-over-a-weights-file",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--onnx", _p(ws, "AASIST-L.pth")],
        ("--onnx {ws}/AASIST-L.pth: the file name of the exported model ends in .onnx",),
        setup=lambda ws: (audio_and_checkpoint(ws), _earlier(ws, "AASIST-L.pth", "weights")),
    ),
    Case(
        "torchscript-is-the-checkpoint",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--torchscript", _p(ws, "model.ckpt")],
        ("output {ws}/model.ckpt is also an input",),
        setup=checkpoint_and_earlier_onnx,
    ),
    Case(
        "program-is-a-symlink-to-the-checkpoint",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--program", _p(ws, "link.pt2")],
        ("output {ws}/link.pt2 is also an input",),
        setup=lambda ws: (
            checkpoint_and_earlier_onnx(ws),
            ws.path("link.pt2").symlink_to(ws.path("model.ckpt")),
        ),
    ),
    Case(
        "one-path-for-two-formats",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--onnx", _p(ws, "x"), "--torchscript", _p(ws, "x")],
        ("output {ws}/x is given twice",),
        setup=checkpoint_and_earlier_onnx,
    ),
    Case(
        "opset-5",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--onnx", _p(ws, "model.onnx"), "--opset", "5"],
        ("--opset", "5 is out of range (accepted: >= 18)"),
        setup=checkpoint_and_earlier_onnx,
    ),
    Case(
        "negative-tolerance",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--onnx", _p(ws, "model.onnx"), "--tolerance", "-1"],
        ("--tolerance", "-1 is out of range (accepted: >= 0)"),
        setup=checkpoint_and_earlier_onnx,
    ),
    Case(
        "nan-tolerance",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--onnx", _p(ws, "model.onnx"), "--tolerance", "nan"],
        ("--tolerance", "nan is out of range"),
        setup=checkpoint_and_earlier_onnx,
    ),
    Case(
        "failed-parity-check-keeps-the-earlier-file",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--onnx", _p(ws, "model.onnx"), "--tolerance", "0"],
        ("the onnx export differs from the PyTorch model", "nothing was written"),
        setup=checkpoint_and_earlier_onnx,
    ),
    Case(
        "exported-checkpoint-of-random-bytes",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--onnx", _p(ws, "out.onnx")],
        ("cannot read checkpoint {ws}/model.ckpt", "truncated, corrupt or not a PyTorch file"),
        setup=random_bytes_checkpoint,
    ),
    Case(
        "exported-checkpoint-truncated",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--onnx", _p(ws, "out.onnx")],
        ("cannot read checkpoint {ws}/model.ckpt", "truncated"),
        setup=truncated_checkpoint,
    ),
    Case(
        "exported-checkpoint-with-a-foreign-class",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--onnx", _p(ws, "out.onnx")],
        ("cannot read checkpoint {ws}/model.ckpt", "never unpickled"),
        setup=foreign_object_checkpoint,
    ),
    Case(
        "exported-checkpoint-is-a-folder",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--onnx", _p(ws, "out.onnx")],
        ("checkpoint {ws}/model.ckpt is a folder",),
        setup=folder_checkpoint,
    ),
    Case(
        "exported-checkpoint-of-another-model-size",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--onnx", _p(ws, "out.onnx")],
        ("checkpoint {ws}/model.ckpt",),
        setup=other_size_checkpoint,
    ),
    Case(
        "onnx-into-a-folder",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--onnx", _p(ws, "exports")],
        ("output {ws}/exports is a folder",),
        setup=checkpoint_and_folder,
    ),
    Case(
        "program-under-a-file",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt"), "--program", _p(ws, "model.onnx/model.pt2")],
        ("{ws}/model.onnx is a file, not a folder",),
        setup=checkpoint_and_earlier_onnx,
    ),
    Case(
        "nothing-to-export",
        "export",
        lambda ws: ["--ckpt", _p(ws, "model.ckpt")],
        ("nothing to export", "--onnx PATH"),
        setup=checkpoint_and_earlier_onnx,
    ),
]

SYNTH: list[Case] = [
    Case(
        "out-is-a-file",
        "synth",
        lambda ws: ["--out", _p(ws, "notes.txt"), "--no-progress"],
        ("--out {ws}/notes.txt is a file",),
        setup=lambda ws: _earlier(ws, "notes.txt"),
    ),
    Case(
        "out-under-a-file",
        "synth",
        lambda ws: ["--out", _p(ws, "notes.txt/corpus"), "--no-progress"],
        ("--out {ws}/notes.txt/corpus is under {ws}/notes.txt, a file",),
        setup=lambda ws: _earlier(ws, "notes.txt"),
    ),
    Case(
        "out-is-a-foreign-folder",
        "synth",
        lambda ws: ["--out", _p(ws, "mine"), "--no-progress"],
        ("--out {ws}/mine holds other files", "not a corpus written by aasist-synth"),
        setup=foreign_folder,
    ),
    Case(
        "out-holds-a-corpus-of-other-settings",
        "synth",
        lambda ws: ["--out", tiny_corpus_root(ws), "--seed", "7", "--no-progress"],
        ("holds a synthetic corpus generated with other settings",),
        setup=tiny_corpus,
    ),
    Case(
        "negative-size",
        "synth",
        lambda ws: ["--out", _p(ws, "corpus"), "--train-bonafide", "-4"],
        ("--train-bonafide", "-4 is out of range (accepted: >= 1)"),
    ),
    Case(
        "size-not-an-integer",
        "synth",
        lambda ws: ["--out", _p(ws, "corpus"), "--eval-spoof-per-attack", "2.5"],
        ("--eval-spoof-per-attack", "'2.5' is not an integer"),
    ),
    Case(
        "one-speaker",
        "synth",
        lambda ws: ["--out", _p(ws, "corpus"), "--dev-speakers", "1"],
        ("--dev-speakers", "1 is out of range (accepted: 2 to 99)"),
    ),
    Case(
        "nan-duration",
        "synth",
        lambda ws: ["--out", _p(ws, "corpus"), "--max-duration", "nan"],
        ("--max-duration", "nan is out of range (accepted: 0.5 to 20)"),
    ),
    Case(
        "min-duration-above-max",
        "synth",
        lambda ws: ["--out", _p(ws, "corpus"), "--min-duration", "4", "--max-duration", "2"],
        ("--min-duration 4 must be less than --max-duration 2",),
    ),
    Case(
        "zero-workers",
        "synth",
        lambda ws: ["--out", _p(ws, "corpus"), "--workers", "0"],
        ("--workers", "0 is out of range (accepted: >= 1)"),
    ),
]

if os.geteuid() != 0:  # root writes into a read-only folder
    PREDICT.append(
        Case(
            "output-in-a-read-only-folder",
            "predict",
            lambda ws: predict(_p(ws, "clip.wav"), "-o", _p(ws, "locked/scores.csv")),
            ("cannot write in {ws}/locked (permission denied)",),
            setup=lambda ws: (audio_and_checkpoint(ws), ws.path("locked").mkdir(mode=0o500)),
        )
    )

CASES: list[Case] = [*PREDICT, *SCORE, *EXPORT, *SYNTH]
