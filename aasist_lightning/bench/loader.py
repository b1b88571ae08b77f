"""Training data-loading throughput in clips per second.

``python -m aasist_lightning.bench.loader [--files 320] [--workers 2] [--batch-size 16] [--algo 5]``
writes random FLAC clips (2-8 s, so both the repeat and the crop paths run) to a temporary folder and
times full training epochs of ``ASVspoofDataModule`` (decode, crop, RawBoost, collate). The first epoch
(worker start-up) is not timed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from aasist_lightning.data.audio import NB_SAMP, SAMPLE_RATE
from aasist_lightning.data.augment import Augmentation, RawBoost
from aasist_lightning.lit.datamodule import ASVspoofDataModule


def make_flac_corpus(folder: Path, n_files: int, seed: int = 0) -> Path:
    """Write ``n_files`` speech-like FLACs (16 kHz, 16 bit) and a manifest; returns the manifest path."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,label,attack"]
    for i in range(n_files):
        n = int(rng.uniform(2, 8) * SAMPLE_RATE)
        t = np.arange(n) / SAMPLE_RATE
        phase = 2 * np.pi * np.cumsum(rng.uniform(90, 250) + 15 * np.sin(2 * np.pi * 3 * t)) / SAMPLE_RATE
        x = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
        x = 0.3 * x / np.max(np.abs(x)) + 0.01 * rng.standard_normal(n)
        sf.write(folder / f"clip{i:05d}.flac", x.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
        rows.append(f"clip{i:05d}.flac,{'bonafide' if i % 2 else 'spoof'},{'-' if i % 2 else 'A01'}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def benchmark_loader(
    manifest: Path,
    num_workers: int = 2,
    batch_size: int = 16,
    augment: Augmentation | None = None,
    epochs: int = 2,
    nb_samp: int = NB_SAMP,
) -> dict[str, float]:
    """Time ``epochs`` training epochs after one warm-up epoch; returns clips/s and the counts."""
    dm = ASVspoofDataModule(
        train_manifest=manifest,
        train_subset=None,
        batch_size=batch_size,
        num_workers=num_workers,
        nb_samp=nb_samp,
        augment=augment,
    )
    dm.setup("fit")
    loader = dm.train_dataloader()
    clips = 0
    start = 0.0
    for epoch in range(epochs + 1):
        if epoch == 1:
            start, clips = time.perf_counter(), 0
        loader.sampler.set_epoch(epoch)
        for wave, _ in loader:
            clips += wave.shape[0]
    seconds = time.perf_counter() - start
    return {"clips_per_s": clips / seconds, "clips": clips, "seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=320, help="random FLAC clips to generate")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--algo", type=int, default=5, help="RawBoost algorithm, 0 = no augmentation")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aasist_bench_") as tmp:
        manifest = make_flac_corpus(Path(tmp), args.files)
        augment = RawBoost(algo=args.algo) if args.algo else None
        r = benchmark_loader(manifest, args.workers, args.batch_size, augment, args.epochs)
    print(
        f"{r['clips_per_s']:.1f} clips/s ({r['clips']} clips of {NB_SAMP} samples in {r['seconds']:.1f} s; "
        f"{args.workers} workers, batch {args.batch_size}, RawBoost algo {args.algo})"
    )


if __name__ == "__main__":
    main()
