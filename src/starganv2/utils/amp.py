"""Mixed precision with several optimizers per backward: one ``GradScaler.update()`` for all.

Lightning's ``16-mixed`` precision plugin calls ``scaler.update()`` after every optimizer step.
When several optimizers step after one scaled backward (StarGAN v2's latent G update steps G, F
and E), an update between them (a back-off after an inf, or the periodic growth) would unscale
the later optimizers' gradients by a different scale than the loss was multiplied by.
:func:`one_scaler_update` defers those updates and runs one at the end, the pattern ``torch.amp``
documents for several optimizers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["one_scaler_update"]


@contextlib.contextmanager
def one_scaler_update(scaler: torch.amp.GradScaler | None) -> Iterator[None]:
    """Inside the context, ``scaler.update()`` is recorded instead of run; on exit it runs once if
    it was called at all. A no-op without a scaler or with a disabled one.

    ``update(new_scale)`` inside the context is an error: a deferred update cannot honour it.
    """
    if scaler is None or not scaler.is_enabled():
        yield
        return
    called = False

    def deferred_update(new_scale: Any = None) -> None:
        nonlocal called
        if new_scale is not None:
            raise RuntimeError(
                f"GradScaler.update(new_scale={new_scale!r}) inside one_scaler_update: a deferred "
                "update cannot set the scale; call it after the context"
            )
        called = True

    scaler.update = deferred_update  # the instance attribute shadows the method
    try:
        yield
    finally:
        del scaler.update
    if called:
        scaler.update()
