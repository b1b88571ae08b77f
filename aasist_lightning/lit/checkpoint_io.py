"""Checkpoints written through the package's one atomic writer (:mod:`aasist_lightning.files`)."""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from aasist_lightning.files import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O, saving local files with :func:`aasist_lightning.files.atomic_path`: a
    temporary file beside the checkpoint renamed over it, the replaced file's permissions kept, a read-only
    checkpoint never replaced. (Lightning's own save moves a file from the system's temporary folder, a
    non-atomic copy when that folder is on another file system.) URLs (``s3://``) keep Lightning's."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike[str], storage_options: Any = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


__all__ = ["AtomicCheckpointIO"]
