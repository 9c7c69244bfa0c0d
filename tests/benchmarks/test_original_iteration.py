"""The comparator of the speed benchmarks (benchmarks/original_iteration.py): the original's work
order with the library's math. One iteration moves the parameters as the library's step does."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.stargan_v2.nets import Generator, he_init
from starganv2.models.stargan_v2.step import UPDATES, train_iteration
from tests.helpers import TINY
from tests.helpers.benchmarks import load_benchmark

NETS = ("generator", "mapping_network", "style_encoder", "discriminator")


def _comparator():
    return load_benchmark("original_iteration")


def _batch(n: int = 2, size: int = 32, seed: int = 0) -> tuple[dict, tuple]:
    g = torch.Generator().manual_seed(seed)
    batch = {
        "x_real": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
        "x_ref": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
        "x_ref2": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
        "y_org": torch.randint(0, 2, (n,), generator=g),
        "y_trg": torch.randint(0, 2, (n,), generator=g),
    }
    return batch, (torch.randn(n, 4, generator=g), torch.randn(n, 4, generator=g))


def _copy(batch: dict) -> dict:
    return {k: v.clone() for k, v in batch.items()}


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().flatten() for t in tensors])


def _sgd(module: StarGANv2Module) -> dict[str, torch.optim.Optimizer]:
    """Plain SGD per net: Adam's first step would turn a rounding-level gradient difference near
    zero into up to 2 lr (docs: STACK.md), so the parameters are compared under SGD; the Adam
    settings are compared separately."""
    return {n: torch.optim.SGD(module.nets[n].parameters(), lr=0.05) for n in NETS}


def _record_steps(optimizers: dict) -> list[tuple[str, torch.Tensor]]:
    """Every optimizer step, in order: the net's name and its gradients just before the step."""
    seen: list[tuple[str, torch.Tensor]] = []
    for name, opt in optimizers.items():
        params = [p for group in opt.param_groups for p in group["params"]]

        def hook(_opt, _args, _kwargs, name=name, params=params):
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
            seen.append((name, _flat(grads).clone()))

        opt.register_step_pre_hook(hook)
    return seen


def _twins(hpf: bool = False, **hp) -> tuple[StarGANv2Module, StarGANv2Module]:
    torch.manual_seed(0)
    lib = StarGANv2Module(**{**TINY, "lambda_ds": 1.5, "ema_beta": 0.9, **hp})
    if hpf:  # a high-pass generator whose masks the test supplies (no FAN weights needed)
        h = lib.hparams
        lib.nets["generator"] = Generator(h.img_size, h.style_dim, h.max_conv_dim, 1.0, h.dim_in)
        lib.nets["generator"].apply(he_init)
        lib.nets_ema["generator"] = copy.deepcopy(lib.nets["generator"]).requires_grad_(False)
    return lib, copy.deepcopy(lib)


def _mask_fn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    m = torch.sigmoid(4 * x.mean(1, keepdim=True))  # (N, 1, H, W)
    return m, m.square()


@pytest.mark.parametrize("layers", ["library", "torch"])
@pytest.mark.parametrize("hpf", [False, True])
def test_one_iteration_moves_the_parameters_as_the_librarys_step(hpf, layers):
    """The gradients of every optimizer step, then the online and EMA parameters after the
    iteration, equal those of the library's step for the same nets, batch and latent codes.

    ``layers="torch"``: the comparator as ``train_speed.py`` runs it, with torch's instance norm
    and pooling kernels (``original_layers``), in float64: the two norm kernels round
    differently, and the 64 px high-pass generator's low-variance features amplify that to
    1e-4 of the last G step's gradient in float32; in float64 the math alone is compared."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if layers == "torch" else torch.float32)
    try:
        _one_iteration_equals_the_librarys(hpf, layers)
    finally:
        torch.set_default_dtype(default)


def _one_iteration_equals_the_librarys(hpf: bool, layers: str) -> None:
    comparator = _comparator()
    size = 64 if hpf else 32
    lib, orig = _twins(hpf, img_size=size)
    if layers == "torch":
        for net in orig.online_nets():
            comparator.original_layers(net)
    start = copy.deepcopy(orig)
    batch, z = _batch(size=size)
    mask_fn = _mask_fn if hpf else None
    weights = lib.loss_weights()

    lib_opts = _sgd(lib)
    lib_steps = _record_steps(lib_opts)

    def update(loss, names):
        for o in lib_opts.values():
            o.zero_grad(set_to_none=True)
        loss.backward()
        for n in names:
            lib_opts[n].step()

    train_iteration(
        lib.online_nets(), _copy(batch), z, weights, update,
        ema=lib.nets_ema, ema_beta=lib.hparams.ema_beta, mask_fn=mask_fn,
    )  # fmt: skip
    orig_opts = _sgd(orig)
    orig_steps = _record_steps(orig_opts)
    stats = comparator.original_iteration(
        orig.online_nets(), orig_opts, _copy(batch), z, weights,
        ema=orig.nets_ema, ema_beta=orig.hparams.ema_beta, mask_fn=mask_fn,
    )  # fmt: skip

    assert list(stats) == [name for name, _ in UPDATES]
    assert all(isinstance(v, float) for terms in stats.values() for v in terms.values())
    assert [n for n, _ in orig_steps] == [n for n, _ in lib_steps]
    assert [n for n, _ in lib_steps] == [n for _, names in UPDATES for n in names]
    for k, ((name, a), (_, b)) in enumerate(zip(lib_steps, orig_steps)):
        rel = float((a - b).norm() / b.norm().clamp_min(1e-30))
        print("REL", k, name, f"{rel:.2e}")
        assert rel <= 1e-5, f"step {k} ({name}): relative gradient difference {rel:.2e}"
    for group in ("nets", "nets_ema"):
        for name, net in getattr(lib, group).items():
            got = _flat(getattr(orig, group)[name].parameters())
            want = _flat(net.parameters())
            before = _flat(getattr(start, group)[name].parameters())
            assert (want - before).abs().max() > 1e-5, f"{group}.{name} did not move"
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=f"{group}.{name}")


def test_the_optimizers_are_the_librarys_adam_settings():
    """Same learning rates (``f_lr`` for F), betas and weight decay as the module's optimizers;
    plain Adam: neither fused nor chosen to be foreach (torch's default)."""
    comparator = _comparator()
    lib, _ = _twins(lr=3e-4, f_lr=2e-6, beta1=0.1, beta2=0.9, weight_decay=1e-3)
    h = lib.hparams
    orig = comparator.original_optimizers(
        lib.online_nets(), h.lr, h.f_lr, (h.beta1, h.beta2), h.weight_decay
    )
    assert list(orig) == list(NETS)
    for name, want in zip(NETS, lib.build_optimizers()):
        got = orig[name]
        assert type(got) is torch.optim.Adam
        assert got.param_groups[0]["params"] == list(lib.nets[name].parameters())
        for key in ("lr", "betas", "weight_decay"):
            assert tuple(np.atleast_1d(got.defaults[key])) == tuple(
                np.atleast_1d(want.defaults[key])
            ), (name, key)
        assert not got.defaults["fused"] and got.defaults["foreach"] is None


def test_it_does_the_originals_extra_work():
    """What makes it the comparator: the batch is a leaf that collects input gradients, and the
    last update (references; it steps G only) still fills E's and D's weight gradients."""
    comparator = _comparator()
    orig, _ = _twins()
    batch, z = _batch()
    comparator.original_iteration(orig.online_nets(), _sgd(orig), batch, z, orig.loss_weights())
    assert batch["x_real"].requires_grad and batch["x_real"].grad is not None
    for name in ("generator", "style_encoder", "discriminator"):
        assert all(p.grad is not None for p in orig.nets[name].parameters()), name


def test_lazy_r1_is_refused():
    comparator = _comparator()
    orig, _ = _twins()
    batch, z = _batch()
    with pytest.raises(ValueError, match="r1_every"):
        comparator.original_iteration(
            orig.online_nets(), _sgd(orig), batch, z, replace(orig.loss_weights(), r1_every=2)
        )


def test_original_layers_swap_the_kernels_and_keep_the_parameters():
    """The comparator's nets get torch's ``nn.InstanceNorm2d`` and ``F.avg_pool2d``; the
    parameter objects and their order stay, so optimizers see the same tensors."""
    from starganv2.models.stargan_v2.downsample import Downsample
    from starganv2.models.stargan_v2.fast_layers import InstanceNorm2d

    comparator = _comparator()
    lib, _ = _twins()
    for net in lib.online_nets():
        params = list(net.parameters())
        x = torch.rand(2, 3, 32, 32) * 2 - 1
        comparator.original_layers(net)
        assert [id(p) for p in net.parameters()] == [id(p) for p in params]
        assert not any(isinstance(m, InstanceNorm2d) for m in net.modules())
    g = lib.nets["generator"]
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in g.modules()) > 0
    pools = [m for m in lib.nets["discriminator"].modules() if isinstance(m, Downsample)]
    assert pools and all(torch.equal(p(x), torch.nn.functional.avg_pool2d(x, 2)) for p in pools)
