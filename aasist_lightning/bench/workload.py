"""What the benchmark runs: the models, their inputs and the names of the inference / training paths."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from aasist_lightning.runtime.hardware import (
    Hardware,
    detect_hardware,
    training_memory_format,
    training_precision,
)

#: A narrow encoder with the full graph: for smoke tests (``--archs tiny --length 4000``).
TINY = {"filts": [70, [1, 8], [8, 8], [8, 8], [8, 8]], "gat_dims": [8, 8]}
#: Inference paths: name -> (backend, precision).
INFERENCE_PATHS: dict[str, tuple[str, str]] = {
    "eager": ("eager", "fp32"),
    "channels_last": ("channels_last", "fp32"),
    "compile": ("compile", "fp32"),
    "onnx": ("onnx", "fp32"),
    "bf16": ("eager", "bf16"),
    "compile+bf16": ("compile", "bf16"),
}
#: Training paths: name -> (channels_last, compile, bf16 autocast).
TRAINING_PATHS: dict[str, tuple[bool, bool, bool]] = {
    "eager": (False, False, False),
    "channels_last": (True, False, False),
    "compile": (False, True, False),
    "bf16": (False, False, True),
    "channels_last+bf16": (True, False, True),
    "compile+bf16": (False, True, True),
}
#: A path name ending in ``+pool`` or ``+retain`` runs with that allocator mode (``runtime.allocator``;
#: ``pool`` is the setting of train.py / eval.py / aasist-predict); every other path runs with glibc's
#: default, like plain PyTorch (and the official code).
ALLOCATOR_SUFFIXES = {"+pool": "pool", "+retain": "retain"}


def arch_kwargs(arch: str) -> dict[str, Any]:
    """The hyper-parameters of the benchmark's model ``arch`` (an official name or ``tiny``); ValueError if
    unknown."""
    from aasist_lightning.models import OFFICIAL_ARCHS

    if arch == "tiny":
        return dict(TINY)
    if arch not in OFFICIAL_ARCHS:
        raise ValueError(f"unknown model {arch!r} for the benchmark: use one of {[*OFFICIAL_ARCHS, 'tiny']}")
    return dict(OFFICIAL_ARCHS[arch])


def min_length(arch: str) -> int:
    """The shortest input (samples) model ``arch`` takes; ValueError if unknown."""
    from aasist_lightning.models import AASIST

    return int(AASIST(**arch_kwargs(arch)).min_length)  # a few ms: the network without its weights


def build_model(arch: str, seed: int = 0) -> tuple[nn.Module, str]:
    """(model in eval mode, where its weights came from): official weights when they can be found, else a
    seeded random initialisation (speed does not depend on the weights)."""
    from aasist_lightning.models import AASIST

    kwargs = arch_kwargs(arch)
    if arch == "tiny":
        torch.manual_seed(seed)
        return AASIST(**kwargs).eval(), "random (tiny)"
    try:
        return AASIST.from_pretrained(arch).eval(), f"official {arch} weights"
    except FileNotFoundError:
        torch.manual_seed(seed)
        return AASIST(**kwargs).eval(), "random (official weights not found)"


def split_path(name: str, kind: str) -> tuple[str, str]:
    """``(base path, allocator mode)`` of a path name such as ``onnx+pool``; ValueError if unknown."""
    base, mode = name, "system"
    for suffix, suffix_mode in ALLOCATOR_SUFFIXES.items():
        if name.endswith(suffix):
            base, mode = name[: -len(suffix)], suffix_mode
    known = INFERENCE_PATHS if kind == "inference" else TRAINING_PATHS
    if base not in known:
        raise ValueError(
            f"unknown {kind} path {name!r}: use some of {', '.join(known)}, each optionally with "
            f"{' or '.join(ALLOCATOR_SUFFIXES)}"
        )
    return base, mode


def grouped_by_allocator(names: Sequence[str], kind: str) -> dict[str, list[str]]:
    """Path names by allocator mode (``system`` / ``pool`` / ``retain``), each group in the given order."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(split_path(name, kind)[1], []).append(name)
    return groups


def train_default_path(hardware: Hardware) -> str:
    """The training path train.py takes on ``hardware`` (``trainer.precision`` and ``model.memory_format``
    auto), without its allocator."""
    nhwc = training_memory_format("auto", hardware) == "channels_last"
    bf16 = training_precision("auto", hardware) == "bf16-mixed"
    return next(
        name for name, (cl, compiled, b) in TRAINING_PATHS.items() if (cl, compiled, b) == (nhwc, False, bf16)
    )


def default_paths(device: str, kind: str) -> list[str]:
    """Every exact path the machine can run, plus the bf16 ones where bf16 is fast, plus the page-pool and
    retained-heap variants of eager and of the paths train.py and eval.py run by default (ONNX for
    inference)."""
    hw = detect_hardware(device)
    is_cuda = device.startswith("cuda")
    can_compile = hw.triton if is_cuda else hw.cxx_compiler
    paths = ["eager", "channels_last"]
    if can_compile:
        paths.append("compile")
    if kind == "inference" and hw.onnxruntime and not is_cuda:
        paths.append("onnx")
    if hw.native_bf16:
        paths += ["bf16", "channels_last+bf16"] if kind == "training" else ["bf16"]
        paths += ["compile+bf16"] if can_compile else []
    if not is_cuda and platform.libc_ver()[0] == "glibc":
        defaults = ("eager", train_default_path(hw) if kind == "training" else "onnx")
        paths += [p + suffix for p in dict.fromkeys(defaults) if p in paths for suffix in ALLOCATOR_SUFFIXES]
    return paths


def eager_first(paths: Sequence[str]) -> list[str]:
    """``eager`` (the reference every ratio and error is against), then the other paths in their order."""
    return ["eager", *[p for p in paths if p != "eager"]]
