"""Checkpoints written straight into their folder, not staged in the system's temporary folder.

Lightning's ``TorchCheckpointIO`` serializes a checkpoint into memory, then copies the bytes
(``getvalue``) into a file that fsspec's transaction makes in the system's temporary folder
(``$TMPDIR``, often a small ``/tmp`` on cluster nodes) and moves into place: at paper size
(256 px) a checkpoint of about 1.2 GB (nets, EMA nets, Adam moments) needed that much free
space in ``$TMPDIR`` besides the run folder's disk, and twice its size in host memory.
:class:`FileCheckpointIO` writes it with ``torch.save`` to a temporary file in the destination
folder, renamed into place (:func:`~starganv2.utils.files.save_torch`): as atomic, no staging,
no copy in memory, and a full disk is an error naming the checkpoint. Remote paths (``s3://``...) keep Lightning's way.
"""

from __future__ import annotations

import os
from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from starganv2.utils.files import save_torch

__all__ = ["FileCheckpointIO", "use_file_checkpoint_io", "writes_whole"]


class FileCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves to local paths go straight to their folder (see the
    module docstring); loading and removing are Lightning's."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        """Write ``checkpoint`` to ``path`` whole (temporary file in its folder, then rename);
        a remote ``path`` (a URL) is Lightning's save."""
        remote = "://" in str(path) and not str(path).startswith("file://")
        if remote or storage_options is not None:  # Lightning's refuses storage_options too
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        local = str(path).removeprefix("file://")
        save_torch(checkpoint, local)


def use_file_checkpoint_io(trainer: Any) -> None:
    """Give ``trainer``'s strategy a :class:`FileCheckpointIO` when it has Lightning's default
    ``TorchCheckpointIO`` (a checkpoint IO of the user's own, or a strategy's own kind, is
    kept)."""
    strategy = trainer.strategy
    if type(getattr(strategy, "checkpoint_io", None)) is TorchCheckpointIO:
        strategy.checkpoint_io = FileCheckpointIO()


def writes_whole(trainer: Any) -> bool:
    """Whether ``trainer``'s checkpoint IO is a :class:`FileCheckpointIO` (it writes each
    checkpoint whole by itself, through its own temporary file)."""
    return isinstance(getattr(trainer.strategy, "checkpoint_io", None), FileCheckpointIO)
