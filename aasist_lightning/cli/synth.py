"""Synthetic corpus writer: ``aasist-synth --out DIR [--seed N] [sizes]``.

Writes (or reuses) the embedded ASVspoof 2019 LA-style corpus of :mod:`aasist_lightning.data.synthetic` and
prints its counts, size and the time it took. Bad settings (checked before any work), an --out that is a
file, a link, a folder holding other files or one in a read-only folder, and a damaged corpus end with a
one-line message and exit status 2, and nothing is written. Ctrl-C ends with one line (exit status 130): the
audio written so far stays in the hidden ``.<name>.partial`` folder beside --out; the same command resumes it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

from aasist_lightning.cli.arguments import ToolParser, number, run_tool
from aasist_lightning.cli.errors import EXIT_INTERRUPTED, full_tracebacks
from aasist_lightning.data.synthetic import SyntheticCorpus
from aasist_lightning.data.synthetic.corpus import MANIFEST, PARTIAL_MARKER, check_target, partial_folder
from aasist_lightning.files import OutputPathError

PROG = "aasist-synth"
#: Accepted ranges (as SyntheticCorpus checks them): utterance counts, speakers per split, seconds.
MIN_SIZE, SPEAKERS, DURATIONS = 1, (2, 99), (0.5, 20.0)


def build_parser(defaults: SyntheticCorpus) -> argparse.ArgumentParser:
    """The flags: --out, --seed, one per size and speaker count, durations, workers, --no-progress."""
    parser = ToolParser(
        prog=PROG,
        description="Write a synthetic ASVspoof 2019 LA-style corpus (bona fide source-filter speech and 19 "
        "vocoder-style attacks) in the official LA layout. Re-running with the same settings reuses it.",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=lambda text: Path(text).expanduser(),  # --out=~/LA: the shell leaves that ~ alone
        help="corpus root (the folder that will hold ASVspoof2019_LA_*): a new or empty folder, or a corpus "
        "written by this tool (reused); use it as data.root",
    )
    parser.add_argument(
        "--seed", type=number(int, 0), default=defaults.seed, help="at least 0 (default %(default)s)"
    )
    counts: list[tuple[dict[str, int], tuple[int | None, int | None], str]] = [
        (defaults.sizes, (MIN_SIZE, None), f"utterances, at least {MIN_SIZE}"),
        (defaults.speakers, SPEAKERS, f"speakers, {SPEAKERS[0]} to {SPEAKERS[1]}"),
    ]
    for group, bounds, accepted in counts:
        for key, value in group.items():
            flag = f"--{key.replace('_', '-')}"
            parser.add_argument(
                flag, type=number(int, *bounds), default=value, help=f"{accepted} (default %(default)s)"
            )
    for end, seconds in (("min", defaults.min_duration), ("max", defaults.max_duration)):
        parser.add_argument(
            f"--{end}-duration",
            type=number(float, *DURATIONS),
            default=seconds,
            help=f"seconds, {DURATIONS[0]:g} to {DURATIONS[1]:g} (default %(default)s)",
        )
    parser.add_argument(
        "--workers",
        type=number(int, 1),
        default=None,
        help="processes, at least 1 (default: every available CPU)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _check_out(out: Path) -> None:
    """Before any work: --out is a corpus this tool wrote (reused, or refused by the generator if its settings
    differ), or a new or empty folder (that the finished corpus replaces) in a folder that can be written."""
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == out else f"is under {existing}, a file"
        raise OutputPathError(f"--out {out} {where}: give a new folder for the corpus")
    if (out / MANIFEST).is_file():
        return
    if out.is_dir() and any(out.iterdir()):
        raise OutputPathError(
            f"--out {out} holds other files and is not a corpus written by {PROG} (no {MANIFEST}): give a "
            "new or empty folder"
        )
    check_target(out.expanduser().absolute(), f"--out {out}")


def run(args: argparse.Namespace) -> int:
    """Write (or reuse) the corpus the parsed arguments describe; returns the exit status."""
    if args.min_duration >= args.max_duration:
        raise ValueError(
            f"--min-duration {args.min_duration:g} must be less than --max-duration {args.max_duration:g}"
        )
    _check_out(args.out)
    defaults = SyntheticCorpus()
    sizes = {key: getattr(args, key) for key in {**defaults.sizes, **defaults.speakers}}
    corpus = SyntheticCorpus(
        args.seed,
        **sizes,
        min_duration=args.min_duration,
        max_duration=args.max_duration,
        num_workers=args.workers,
        progress=not args.no_progress,
    )
    start_wall, start_cpu = time.perf_counter(), _cpu_seconds()
    corpus(args.out)
    manifest = json.loads((args.out / MANIFEST).read_text(encoding="utf-8"))
    print(f"corpus: {args.out.absolute()}  (fingerprint {manifest['fingerprint']})")
    for split, counts in manifest["counts"].items():
        print(f"  {split:5s} " + " ".join(f"{k}={v}" for k, v in counts.items()))
    print(
        f"  audio {manifest['flac_bytes'] / 1e6:.1f} MB; this call took "
        f"{time.perf_counter() - start_wall:.1f} s wall, {_cpu_seconds() - start_cpu:.1f} s CPU"
    )
    root = shlex.quote(f"data.root={args.out.absolute()}")  # pasteable with spaces in the path
    print(f"train on it: python train.py data=asvspoof2019_la {root}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser(SyntheticCorpus()).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        # The generator reports settings that differ from those of an existing corpus as a ValueError.
        return run_tool(PROG, args, run, also=(ValueError,))
    except KeyboardInterrupt:
        if args.debug or full_tracebacks():
            raise
        print(_interrupted(args.out), file=sys.stderr)
        return EXIT_INTERRUPTED


def _interrupted(out: Path) -> str:
    """The one line after Ctrl-C: where the audio written so far is kept, and that running again resumes."""
    partial = partial_folder(out.expanduser().absolute())
    if not (partial / PARTIAL_MARKER).is_file():
        return f"{PROG}: interrupted (Ctrl-C)"
    return (
        f"{PROG}: interrupted (Ctrl-C); the audio written so far is kept in {partial}: run the same command "
        "again to resume (or delete that folder)"
    )


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the worker pool)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


if __name__ == "__main__":
    raise SystemExit(main())
