"""One iteration without Lightning: the face masks of the sources are computed once."""

from __future__ import annotations

import torch

from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.stargan_v2.step import MasksOnce, train_iteration
from tests.helpers import TINY


def test_masks_of_the_sources_are_computed_once_per_iteration():
    module = StarGANv2Module(**{**TINY, "img_size": 64, "w_hpf": 1.0})
    calls: list[torch.Tensor] = []

    def mask_fn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(x)
        m = torch.sigmoid(x.mean(1, keepdim=True))  # (N, 1, H, W)
        return m, m

    g = torch.Generator().manual_seed(0)
    batch = {
        "x_real": torch.rand(2, 3, 64, 64, generator=g) * 2 - 1,
        "x_ref": torch.rand(2, 3, 64, 64, generator=g) * 2 - 1,
        "x_ref2": torch.rand(2, 3, 64, 64, generator=g) * 2 - 1,
        "y_org": torch.tensor([0, 1]),
        "y_trg": torch.tensor([1, 0]),
    }
    z = (torch.randn(2, 4, generator=g), torch.randn(2, 4, generator=g))
    opts = dict(
        zip(
            ("generator", "mapping_network", "style_encoder", "discriminator"),
            module.configure_optimizers(),
        )
    )

    def update(loss, names):
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        loss.backward()
        for n in names:
            opts[n].step()

    train_iteration(module.online_nets(), batch, z, module.loss_weights(), update, mask_fn=mask_fn)
    sources = [x for x in calls if x.data_ptr() == batch["x_real"].data_ptr()]
    assert len(sources) == 1  # once, for the two D and the two G updates
    assert len(calls) == 1 + 2  # + the fake of the cycle term in each G update


def test_masks_once_returns_the_cached_masks_for_a_detached_source():
    x = torch.rand(2, 3, 8, 8)
    once = MasksOnce(lambda t: (t[:, :1] * 2, t[:, :1] * 3), x)
    a = once(x)
    b = once(x.detach().requires_grad_(True))
    assert a is b and once.computed == 1
    once(torch.rand(2, 3, 8, 8))
    assert once.computed == 2
