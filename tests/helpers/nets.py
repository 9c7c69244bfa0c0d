"""The shared net tester: every net of the library gets these checks by mixing it in.

A test class sets ``make()`` (a fresh net at ``self.img_size``), ``inputs(n)`` and
``expected_shape(n)``; the mixin checks the output shape at two sizes, determinism in eval mode,
a state-dict round trip (two fresh nets differ; loading one's state makes them equal) and that
nothing leaves the CPU.
"""

from __future__ import annotations

import io

import torch
from torch import nn


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


class NetTesterMixin:
    """Shape, determinism, state-dict round trip and CPU-only checks for one net."""

    img_size = 32
    sizes = (32, 64)

    def make(self) -> nn.Module:
        raise NotImplementedError

    def inputs(self, n: int = 2) -> tuple:
        raise NotImplementedError

    def expected_shape(self, n: int) -> tuple:
        raise NotImplementedError

    def outputs(self, net: nn.Module, inputs: tuple) -> torch.Tensor:
        """The tensor to compare (override for nets that return several)."""
        return net(*inputs)

    def test_output_shape(self):
        for size in self.sizes:
            self.img_size = size
            net = self.make().eval()
            with torch.no_grad():
                out = self.outputs(net, self.inputs(3))
            assert tuple(out.shape) == self.expected_shape(3), f"img_size {size}"
            assert torch.isfinite(out).all()

    def test_deterministic(self):
        net = self.make().eval()
        inp = self.inputs()
        with torch.no_grad():
            torch.testing.assert_close(
                self.outputs(net, inp), self.outputs(net, inp), rtol=0, atol=0
            )

    def test_state_dict_round_trip(self):
        net = self.make().eval()
        other = self.make().eval()
        with torch.no_grad():
            for p in net.parameters():  # make sure the two differ before loading
                p.add_(torch.randn_like(p) * 0.01)
        inp = self.inputs()
        with torch.no_grad():
            assert not torch.equal(self.outputs(net, inp), self.outputs(other, inp))
        buf = io.BytesIO()
        torch.save(net.state_dict(), buf)
        buf.seek(0)
        other.load_state_dict(torch.load(buf, weights_only=True), strict=True)
        with torch.no_grad():
            torch.testing.assert_close(
                self.outputs(net, inp), self.outputs(other, inp), rtol=0, atol=0
            )

    def test_stays_on_cpu(self):
        net = self.make()
        devices = {t.device.type for t in [*net.parameters(), *net.buffers()]}
        assert devices <= {"cpu"}
