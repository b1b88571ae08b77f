"""Accuracy of the fast paths: seeded loss curves of each training path next to fp32 eager's, and the EER of
each inference path on a corpus's eval split."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from aasist_lightning.bench.training import train_step, training_copy
from aasist_lightning.bench.workload import INFERENCE_PATHS, eager_first
from aasist_lightning.runtime.fast import Fp32Head, emulated_bf16, prepare_inference

if TYPE_CHECKING:
    from aasist_lightning.data.protocols import Trial


def loss_curves(
    model: nn.Module, paths: Sequence[str], steps: int, batch: int, length: int, seed: int = 0
) -> dict[str, Any]:
    """Losses of a seeded ``steps``-step run of each training path from the same initial weights on the same
    batches (a learnable task: bona fide = noise with a 1 kHz tone, spoof = plain noise), and each path's max
    abs difference to fp32 eager's curve. Frequency masks follow the global seed, so exact paths draw the same
    bands as eager; dropout inside a compiled graph uses inductor's own generator."""
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    t = torch.arange(length) / 16000
    batches = []
    for _ in range(steps):
        y = torch.randint(0, 2, (batch,), generator=g)
        x = 0.05 * torch.randn(batch, length, generator=g) + 0.05 * y[:, None] * torch.sin(
            2 * math.pi * 1000 * t
        )
        batches.append((x.to(device), y.to(device)))
    curves: dict[str, list[float]] = {}
    for name in eager_first(paths):
        run = training_copy(model, name)
        torch.manual_seed(seed)
        curves[name] = [train_step(*run, x, y) for x, y in batches]
    return {
        "steps": steps,
        "batch": batch,
        "curves": curves,
        "max_abs_diff": {
            n: max(abs(a - b) for a, b in zip(c, curves["eager"], strict=True)) for n, c in curves.items()
        },
    }


#: The EER check's paths: the inference paths, and ``bf16-emulated`` (``runtime.fast.emulated_bf16``).
EER_PATHS = (*INFERENCE_PATHS, "bf16-emulated")


def check_eer_paths(paths: Sequence[str]) -> None:
    """ValueError naming the first of ``paths`` that is not an EER-check path."""
    for name in paths:
        if name not in EER_PATHS:
            raise ValueError(f"unknown EER-check path {name!r}: use some of {list(EER_PATHS)}")


def eer_trials(root: str | os.PathLike[str], limit: int | None = None) -> list[Trial]:
    """The trials the EER check scores: the eval split of the corpus at ``root`` (official LA layout), or a
    seeded random subset of ``limit`` of them. Reads the protocol only, never the audio: FileNotFoundError
    when ``root`` has no eval protocol, ProtocolError when it does not parse or the trials lack a class (an
    EER needs both)."""
    import numpy as np

    from aasist_lightning.data import read_protocol
    from aasist_lightning.data.protocols import BONAFIDE, ProtocolError, audio_dir, protocol_path

    protocol = protocol_path(root, "eval")
    if not protocol.is_file():
        folder = Path(root)
        what = "is not a folder" if folder.exists() else "does not exist"
        what = f"has no eval protocol {protocol}" if folder.is_dir() else what
        guess = next((c for c in (folder / "LA", folder.parent) if protocol_path(c, "eval").is_file()), None)
        hint = f"; did you mean --eer-root {guess}?" if guess else ""
        raise FileNotFoundError(
            f"--eer-root {root} {what}: give a corpus root in the official LA layout (the folder of "
            f"{protocol.parent.name}/ and {audio_dir(root, 'eval').parent.name}/flac/){hint}"
        )
    trials = read_protocol(protocol, audio_dir(root, "eval"))
    subset = limit is not None and limit < len(trials)
    if subset:
        pick = np.random.default_rng(0).choice(len(trials), size=limit, replace=False)
        trials = [trials[i] for i in sorted(pick)]
    bonafide = sum(t.label == BONAFIDE for t in trials)
    if bonafide in (0, len(trials)):
        fix = "score more of them (a larger --eer-limit)" if subset else "list trials of both classes"
        raise ProtocolError(
            f"{protocol}: the {len(trials)} trials scored are all {'bona fide' if bonafide else 'spoof'}, "
            f"and an EER needs both classes: {fix}"
        )
    return trials


def eer_check(
    root: str | os.PathLike[str],
    model: str | nn.Module = "AASIST-L",
    paths: Sequence[str] = ("eager", "bf16-emulated"),
    limit: int | None = None,
    batch: int = 16,
    log: Callable[[str], None] = print,
    trials: Sequence[Trial] | None = None,
) -> dict[str, Any]:
    """EER (percent) of each inference path on the eval split of the corpus at ``root`` (official layout,
    e.g. the embedded synthetic corpus), head-cropped as the official evaluation. ``model``: an AASIST, or
    what ``aasist_lightning.runtime.scorer.load_detector`` loads (official name, .pth, training .ckpt).
    ``paths``: names of ``INFERENCE_PATHS`` plus ``bf16-emulated`` (``runtime.fast.emulated_bf16``).
    ``limit``: score a seeded random subset of that many trials; ``trials``: those of :func:`eer_trials`
    when the caller has read them already. Reports each path's EER, its difference to
    the first path's, the max abs score difference and how many trials change side of the first path's EER
    threshold."""
    import numpy as np

    from aasist_lightning.data import load_audio, pad_or_crop
    from aasist_lightning.metrics import compute_eer
    from aasist_lightning.runtime.scorer import load_detector

    check_eer_paths(paths)
    if trials is None:
        trials = eer_trials(root, limit)  # before the model: a wrong root is reported first
    if isinstance(model, nn.Module):
        net, nb_samp, origin = model.eval(), int(model.nb_samp), type(model).__name__
    else:
        is_file = Path(model).is_file()
        detector = load_detector(ckpt_path=model) if is_file else load_detector(pretrained=model)
        net, nb_samp, origin = detector.model, detector.nb_samp, detector.source
    labels = np.array([t.label for t in trials])
    log(f"  EER check: {len(trials)} trials from {root}")
    waves = torch.from_numpy(np.stack([pad_or_crop(load_audio(t.path), nb_samp) for t in trials]))
    scores: dict[str, np.ndarray] = {}
    for name in paths:
        backend, precision = INFERENCE_PATHS.get(name, ("eager", "fp32"))  # bf16-emulated: rounded fp32 eager
        runner = prepare_inference(net, backend, precision)
        if name == "bf16-emulated":  # the real bf16 path's fp32 output layer
            runner.model.out_layer = Fp32Head(runner.model.out_layer)
        out = []
        for i in range(0, len(trials), batch):
            mode = emulated_bf16() if name == "bf16-emulated" else contextlib.nullcontext()
            with mode:
                out.append(runner(waves[i : i + batch])[:, 1].numpy())
            log(f"  EER check {name}: {min(i + batch, len(trials))}/{len(trials)}")
        scores[name] = np.concatenate(out).astype(np.float64)
    first = paths[0]
    eer0, threshold = compute_eer(scores[first][labels == 1], scores[first][labels == 0])
    rows = {}
    for name, sc in scores.items():
        eer = compute_eer(sc[labels == 1], sc[labels == 0])[0] * 100
        rows[name] = {
            "eer": eer,
            "eer_diff_pp": eer - eer0 * 100,
            "max_abs_score_diff": float(np.abs(sc - scores[first]).max()),
            "decisions_changed": int(((sc >= threshold) != (scores[first] >= threshold)).sum()),
        }
    return {
        "root": str(root),
        "model": origin,
        "trials": len(trials),
        "reference": first,
        "paths": rows,
    }
