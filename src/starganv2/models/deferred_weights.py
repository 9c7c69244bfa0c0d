"""A frozen net whose weights are read from a file when first needed, unless a state dict
loaded into it already brought them.

StarGAN v2's FAN (the landmark net of the high-pass skip) is frozen, saved inside the module's
checkpoints, and read from ``fan_weights`` for a new model. ``__init__`` cannot tell a new model
from one that ``load_from_checkpoint`` is building (whose weights file may be gone), so it reads
nothing: the net is built empty and :class:`DeferredWeights` reads the file before the net's
first forward or ``state_dict()``, or when :meth:`DeferredWeights.ensure` is called (the module's
``setup``), unless a ``load_state_dict`` carrying the net's weights came first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

__all__ = ["DeferredWeights"]


class DeferredWeights:
    """Defers reading ``net``'s weights until they are needed (see the module docstring).

    Args:
        net: the frozen net, built with placeholder weights.
        read: ``read(net)`` loads the weights into ``net``; it raises (naming the setting) when
            they cannot be read. Called at most once successfully.
    """

    def __init__(self, net: nn.Module, read: Callable[[nn.Module], None]) -> None:
        self.net = net
        self.read = read
        self.pending = True
        net.register_forward_pre_hook(self._before_forward)
        net.register_state_dict_pre_hook(self._before_state_dict)
        net.register_load_state_dict_pre_hook(self._before_load_state_dict)

    def ensure(self) -> None:
        """Read the weights now if nothing has provided them yet."""
        if not self.pending:
            return
        self.pending = False  # reading calls state_dict()/load_state_dict(): no recursion
        try:
            self.read(self.net)
        except BaseException:
            self.pending = True
            raise

    def _before_forward(self, net: nn.Module, args: Any) -> None:
        self.ensure()

    def _before_state_dict(self, net: nn.Module, prefix: str, keep_vars: bool) -> None:
        self.ensure()

    def _before_load_state_dict(
        self, net: nn.Module, state_dict: Mapping[str, Any], prefix: str, *args: Any
    ) -> None:
        if any(k.startswith(prefix) for k in state_dict):
            self.pending = False
