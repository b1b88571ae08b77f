"""``python -m aasist_lightning.bench`` (``make bench``): speed, memory and accuracy of every fast path.

For each model (AASIST-L, AASIST) it measures, in one run and on the same inputs:

- inference utterances / s at each batch size for every inference path (``eager`` = plain fp32 eager, the
  reference; ``channels_last``; ``compile``; ``onnx``; ``bf16`` / ``compile+bf16`` where asked or where the
  hardware makes bf16 fast), the max abs logit error of each against ``eager``, the process's peak RSS
  during the call, and the one-off setup time (export / compile);
- training utterances / s at the training batch size (forward + backward + Adam step, frequency masking on)
  for ``eager`` fp32, ``channels_last``, ``compile`` and ``bf16`` (autocast, as Lightning's ``bf16-mixed``);
- optionally (``--loss-curve N``) the losses of a seeded N-step run of each training path next to fp32's,
  and (``--memory-epochs N``) the RSS after each of N epochs of the real Lightning training loop
  (``AASISTLitModule`` + ``Trainer``, validation included) on an in-memory batch set: flat means no leak;
- (``--recipe-clips N``, 160 by default) the default training recipe end to end, scaled down to one epoch of
  N clips (N/2 dev and eval) of a freshly generated corpus in a temporary folder, split into generation,
  set-up, warm-up, loading, training steps, validation, test, their per-run overheads and checkpointing, and
  extrapolated to the full run (:mod:`aasist_lightning.bench.recipe`); ``--recipe-overrides`` profiles
  another configuration of it.

Every figure is a median over ``--repeats`` timed calls after a warm-up; the paths are interleaved (the order
rotates every repeat), so load from other processes hits them alike, and each is reported as a ratio to
``eager`` measured in the same run. The machine's load average before and after is recorded: on a shared
machine the absolute numbers move, the ratios much less.

    python -m aasist_lightning.bench --quick                  # AASIST-L, batch 1 and 16, a few repeats
    python -m aasist_lightning.bench --json bench.json        # the full table
    python -m aasist_lightning.bench --archs AASIST-L --batch-sizes 16 --paths eager onnx --no-train
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from aasist_lightning.bench.accuracy import EER_PATHS, check_eer_paths, eer_check, eer_trials, loss_curves
from aasist_lightning.bench.flops import work_per_utt
from aasist_lightning.bench.inference import bench_inference
from aasist_lightning.bench.measure import load_average
from aasist_lightning.bench.report import print_table, write_json
from aasist_lightning.bench.training import bench_training, memory_across_epochs
from aasist_lightning.bench.workload import (
    ALLOCATOR_SUFFIXES,
    INFERENCE_PATHS,
    TINY,
    TRAINING_PATHS,
    build_model,
    default_paths,
    min_length,
    split_path,
)
from aasist_lightning.cli.arguments import ToolParser, number, run_tool
from aasist_lightning.cli.errors import ConfigError
from aasist_lightning.files import check_output
from aasist_lightning.runtime.allocator import allocator
from aasist_lightning.runtime.hardware import detect_hardware, resolve, resolve_device

if TYPE_CHECKING:
    from aasist_lightning.data.protocols import Trial

PROG = "python -m aasist_lightning.bench"
#: Batches of this size or more get half the repeats (a call takes a minute on a small CPU).
BIG_BATCH = 64
#: What a run measures by default, and with ``--quick``; an option given on the command line wins over both.
PRESETS = {
    "archs": (["AASIST-L", "AASIST"], ["AASIST-L"]),
    "batch_sizes": ([1, 16, 64], [1, 16]),
    "repeats": (5, 3),
    "train_repeats": (3, 2),
    "memory_epochs": (3, 0),
    "recipe_clips": (160, 0),
}


def run(
    args: argparse.Namespace, log: Callable[[str], None] = print, trials: Sequence[Trial] | None = None
) -> dict[str, Any]:
    """Every measurement ``args`` (of :func:`parser`) asks for, as the dict the table and the JSON show;
    ``trials``: the EER check's, when :func:`check_arguments` has read them."""
    device = check_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    inference_paths = args.paths or default_paths(device, "inference")
    training_paths = args.train_paths or default_paths(device, "training")
    auto = resolve("auto", "auto", device)
    result: dict[str, Any] = {
        "hardware": detect_hardware(device).as_dict(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "default_inference": {"backend": auto[0], "precision": auto[1]},
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "load_avg_start": load_average(),
        "inference": [],
        "training": [],
    }
    started = time.perf_counter()
    if args.eer_root:
        with allocator("pool"):  # speed only: the scores do not depend on it
            result["eer_check"] = eer_check(
                args.eer_root, args.eer_model, args.eer_paths, args.eer_limit, log=log, trials=trials
            )
    else:
        _measure_speed(args, device, inference_paths, training_paths, result, log)
    result["load_avg_end"] = load_average()
    result["wall_s"] = time.perf_counter() - started
    return result


def _measure_speed(
    args: argparse.Namespace,
    device: str,
    inference_paths: Sequence[str],
    training_paths: Sequence[str],
    result: dict[str, Any],
    log: Callable[[str], None],
) -> None:
    """The speed table's rows, loss curves and memory across epochs, into ``result``."""
    for arch in args.archs:
        model, weights = build_model(arch)
        model.to(device)
        result.setdefault("weights", {})[arch] = weights
        result.setdefault("gflop_per_utt", {})[arch] = work_per_utt(model, args.length)
        growth_seen: dict[str, list[tuple[int, float]]] = {}
        eager_seen: dict[int, float] = {}
        for batch in sorted(args.batch_sizes):
            repeats = max(1, args.repeats // 2) if batch >= BIG_BATCH else args.repeats
            result["inference"] += bench_inference(
                model, arch, batch, args.length, inference_paths, repeats, log, growth_seen, eager_seen
            )
        if args.train_batch:
            result["training"] += bench_training(
                model, arch, args.train_batch, args.length, training_paths, args.train_repeats, log
            )
        if args.loss_curve and arch == args.archs[0]:
            log(f"  {arch}: loss curves over {args.loss_curve} steps")
            result["loss_curve"] = loss_curves(
                model, training_paths, args.loss_curve, args.loss_curve_batch, args.length
            )
    if args.recipe_clips:
        from aasist_lightning.bench.recipe import profile_recipe

        result["recipe"] = profile_recipe(args.recipe_clips, args.recipe_overrides, log)
    if args.memory_epochs:
        log(f"  memory across {args.memory_epochs} training epochs")
        tiny = args.archs == ["tiny"]
        result["memory_epochs"] = memory_across_epochs(
            args.memory_epochs,
            steps=2 if tiny else 6,
            batch=4 if tiny else 8,
            length=args.length if tiny else 16000,
            arch_kwargs=TINY if tiny else None,
        )
    for row in result["inference"] + result["training"]:
        if "utt_per_s" in row:
            row["gflop_per_s"] = row["utt_per_s"] * result["gflop_per_utt"][row["model"]][row["mode"]]


@contextlib.contextmanager
def _for_option(option: str) -> Iterator[None]:
    """A ValueError of the block (an unknown name) raised again with its message after ``option``."""
    try:
        yield
    except ValueError as error:
        raise ValueError(f"{option}: {error}") from None


def check_device(name: str) -> str:
    """The torch device ``--device`` names (``auto``: the GPU when there is one); ValueError naming the
    option when it is not one this machine has."""
    with _for_option("--device"):
        device = resolve_device(name)
    count, index = torch.cuda.device_count(), device.removeprefix("cuda:")
    if device.startswith("cuda") and device != "cuda" and not (index.isdigit() and int(index) < count):
        last = f" to cuda:{count - 1}" if count > 1 else ""
        raise ValueError(
            f"--device {name}: this machine has {count} GPU(s): use cuda (the first) or cuda:0{last}"
        )
    return device


def check_arguments(args: argparse.Namespace) -> tuple[list[Path], list[Trial] | None]:
    """Refuse what the run cannot do before any of its work (an error naming the option, the value and the
    fix); returns the run's input files, which ``--json`` may not replace, and the EER check's trials."""
    from aasist_lightning.models import weights_locations

    check_device(args.device)
    with _for_option("--paths"):
        for name in args.paths or ():
            split_path(name, "inference")
    with _for_option("--train-paths"):
        for name in args.train_paths or ():
            split_path(name, "training")
    with _for_option("--eer-paths"):
        check_eer_paths(args.eer_paths)
    inputs: list[Path] = []
    trials = None
    for arch in args.archs:
        with _for_option("--archs"):
            shortest = min_length(arch)  # ValueError: an unknown model
        if args.length < shortest:
            raise ValueError(
                f"--length {args.length} is shorter than {arch} takes: use --length {shortest} or more"
            )
        inputs += weights_locations(arch) if arch != "tiny" else []
    if args.eer_root:  # the EER check replaces the speed benchmark: its files are the inputs
        from aasist_lightning.data.protocols import protocol_path

        trials = eer_trials(args.eer_root, args.eer_limit)
        inputs = [protocol_path(args.eer_root, "eval"), *weights_locations(args.eer_model)]
        inputs += [t.path for t in trials]
    elif args.recipe_clips:
        from aasist_lightning.bench.recipe import check_recipe_arguments

        check_recipe_arguments(args.recipe_clips, args.recipe_overrides)
    if args.json:
        with _for_option("--json"):
            check_output(args.json, inputs)
    return inputs, trials


def parser() -> ToolParser:
    """The command's options (``--help``); those of :data:`PRESETS` default to None (see :func:`main`)."""
    p = ToolParser(prog=PROG, description=__doc__.split("\n\n")[0] if __doc__ else None)

    def preset(key: str) -> str:
        full, quick = (" ".join(map(str, v)) if isinstance(v, list) else v for v in PRESETS[key])
        return f"(default: {full}; {quick} with --quick)"

    count, count_or_0 = number(int, 1), number(int, 0)  # >= 1; >= 0 where 0 skips the measurement
    p.add_argument("--archs", nargs="+", help=f"AASIST-L, AASIST and/or tiny {preset('archs')}")
    p.add_argument(
        "--batch-sizes", nargs="+", type=count, help=f"inference batch sizes, >= 1 {preset('batch_sizes')}"
    )
    p.add_argument(
        "--paths",
        nargs="+",
        help=f"inference paths (default: all the machine runs): {list(INFERENCE_PATHS)}, each also with "
        f"{' or '.join(ALLOCATOR_SUFFIXES)} (that allocator mode)",
    )
    p.add_argument(
        "--train-paths",
        nargs="+",
        help=f"training paths (default: all): {list(TRAINING_PATHS)}, each also with "
        f"{' or '.join(ALLOCATOR_SUFFIXES)}",
    )
    p.add_argument("--train-batch", type=count_or_0, default=16, help="training batch size; 0 skips training")
    p.add_argument("--no-train", dest="train_batch", action="store_const", const=0, help="skip training")
    p.add_argument(
        "--repeats",
        type=count,
        help=f"timed calls per path (half at batch >= {BIG_BATCH}) {preset('repeats')}",
    )
    p.add_argument(
        "--train-repeats", type=count, help=f"timed training steps per path {preset('train_repeats')}"
    )
    p.add_argument("--length", type=count, default=64600, help="input length in samples (default: 64600)")
    p.add_argument(
        "--loss-curve",
        type=count_or_0,
        default=0,
        metavar="STEPS",
        help="seeded loss curves of each training path",
    )
    p.add_argument(
        "--loss-curve-batch", type=count, default=8, metavar="N", help="batch size of the loss-curve runs"
    )
    p.add_argument(
        "--memory-epochs",
        type=count_or_0,
        help=f"epochs of the RSS flatness check; 0 skips it {preset('memory_epochs')}",
    )
    p.add_argument(
        "--recipe-clips",
        type=count_or_0,
        metavar="N",
        help="profile the default recipe on 1 epoch of N clips (a multiple of 4); 0 skips it "
        + preset("recipe_clips"),
    )
    p.add_argument(
        "--recipe-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="train.py overrides for the recipe profile and the full run it extrapolates to "
        "(e.g. trainer.precision=32-true trainer.max_epochs=10)",
    )
    p.add_argument("--device", default="auto", help="auto (the GPU when there is one), cpu, cuda, cuda:<i>")
    p.add_argument(
        "--threads",
        type=count_or_0,
        default=0,
        help="torch / ONNX Runtime threads (default: 0, one per core)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="AASIST-L, batch 1 and 16, 3 repeats, 2 training steps, no memory check or recipe profile "
        "(options given explicitly win)",
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    eer = p.add_argument_group(
        "EER check (replaces the speed benchmark): fp32 vs bf16 on a corpus's eval split"
    )
    eer.add_argument(
        "--eer-root", metavar="DIR", help="corpus root (LA folder), e.g. the embedded synthetic one"
    )
    eer.add_argument("--eer-model", default="AASIST-L", help="AASIST-L / AASIST / a .pth / a training .ckpt")
    eer.add_argument(
        "--eer-paths",
        nargs="+",
        default=["eager", "bf16-emulated"],
        help=f"some of {list(EER_PATHS)}, reference path first",
    )
    eer.add_argument(
        "--eer-limit", type=number(int, 2), help="score a seeded random subset of this many trials, >= 2"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The command: check every option, run the benchmark, print its table, write the JSON; 2 on bad input
    (one line)."""
    args = parser().parse_args(argv)
    for key, (full, quick) in PRESETS.items():  # --quick's presets for the options not given
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    return run_tool(PROG, args, _bench)


def _bench(args: argparse.Namespace) -> int:
    try:
        inputs, trials = check_arguments(args)  # before any work
    except ValueError as error:  # bad input here; a ValueError of the benchmark itself is a bug
        raise ConfigError(str(error)) from None
    result = run(args, log=lambda msg: print(msg, file=sys.stderr, flush=True), trials=trials)
    print_table(result)
    if args.json:
        print(f"wrote {write_json(result, args.json, inputs)}")
    return 0
