"""Synthetic corpus writer: ``aasist-synth --out DIR [--seed N] [sizes]``.

Writes (or reuses) the embedded ASVspoof 2019 LA-style corpus of :mod:`aasist_lightning.data.synthetic` and
prints its counts, size and the time it took. Bad settings, a foreign or damaged folder end with a one-line
message and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from aasist_lightning.data.synthetic import SyntheticCorpus
from aasist_lightning.data.synthetic.corpus import MANIFEST

PROG = "aasist-synth"


def build_parser(defaults: SyntheticCorpus) -> argparse.ArgumentParser:
    """The flags: --out, --seed, one per size and speaker count, durations, workers, --no-progress."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write a synthetic ASVspoof 2019 LA-style corpus (bona fide source-filter speech and 19 "
        "vocoder-style attacks) in the official LA layout. Re-running with the same settings reuses it.",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="corpus root (the folder that will hold ASVspoof2019_LA_*); use it as data.root",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="default %(default)s")
    for key, value in {**defaults.sizes, **defaults.speakers}.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=value, help="default %(default)s")
    parser.add_argument(
        "--min-duration", type=float, default=defaults.min_duration, help="seconds, default %(default)s"
    )
    parser.add_argument(
        "--max-duration", type=float, default=defaults.max_duration, help="seconds, default %(default)s"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (default: every available CPU)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    defaults = SyntheticCorpus()
    args = build_parser(defaults).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sizes = {key: getattr(args, key) for key in {**defaults.sizes, **defaults.speakers}}
    try:
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
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    manifest = json.loads((args.out / MANIFEST).read_text(encoding="utf-8"))
    print(f"corpus: {args.out.absolute()}  (fingerprint {manifest['fingerprint']})")
    for split, counts in manifest["counts"].items():
        print(f"  {split:5s} " + " ".join(f"{k}={v}" for k, v in counts.items()))
    print(
        f"  audio {manifest['flac_bytes'] / 1e6:.1f} MB; this call took "
        f"{time.perf_counter() - start_wall:.1f} s wall, {_cpu_seconds() - start_cpu:.1f} s CPU"
    )
    print(f"train on it: python train.py data=asvspoof2019_la data.root={args.out.absolute()}")
    return 0


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the worker pool)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


if __name__ == "__main__":
    raise SystemExit(main())
