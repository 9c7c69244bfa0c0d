"""One iteration without Lightning: the same math as the straightforward step with less work,
lazy R1, and the face masks of the sources computed once."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.stargan_v2.nets import Generator, he_init
from starganv2.models.stargan_v2.step import UPDATES, MasksOnce, train_iteration
from tests.helpers import TINY


def test_masks_of_the_sources_are_computed_once_per_iteration():
    module = _with_hpf_generator(StarGANv2Module(**{**TINY, "img_size": 64}))
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
            module.build_optimizers(),
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


# ---------------------------------------------------------------- the same math with less work
NETS = ("generator", "mapping_network", "style_encoder", "discriminator")


def _batch(n: int = 3, size: int = 32, seed: int = 0) -> tuple[dict, tuple]:
    g = torch.Generator().manual_seed(seed)
    batch = {
        "x_real": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
        "x_ref": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
        "x_ref2": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
        "y_org": torch.randint(0, 2, (n,), generator=g),
        "y_trg": torch.randint(0, 2, (n,), generator=g),
    }
    return batch, (torch.randn(n, 4, generator=g), torch.randn(n, 4, generator=g))


def _flat_grad(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat(
        [
            (p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
            for p in net.parameters()
        ]
    )


def _with_hpf_generator(module: StarGANv2Module) -> StarGANv2Module:
    """The module with a high-pass generator (``w_hpf=1``) whose masks the test supplies (the
    module itself would want the FAN's weights)."""
    hp = module.hparams
    module.nets["generator"] = Generator(hp.img_size, hp.style_dim, hp.max_conv_dim, 1.0, hp.dim_in)
    module.nets["generator"].apply(he_init)
    return module


def _twins(hpf: bool = False, **hp) -> tuple[StarGANv2Module, StarGANv2Module]:
    torch.manual_seed(0)
    pair = [StarGANv2Module(**{**TINY, "lambda_ds": 1.5, **hp}) for _ in range(2)]
    if hpf:
        pair = [_with_hpf_generator(m) for m in pair]
    pair[1].nets.load_state_dict(pair[0].nets.state_dict())
    return pair[0], pair[1]


def _run_fast(module, batch, z, **kw) -> list[dict[str, torch.Tensor]]:
    """One iteration of ``train_iteration``; the gradients of the stepped nets per update."""
    return _run_fast_with_stats(module, batch, z, **kw)[0]


def _run_fast_with_stats(module, batch, z, **kw) -> tuple[list[dict[str, torch.Tensor]], dict]:
    """:func:`_run_fast`, and the iteration's logged terms."""
    opts = dict(zip(NETS, module.build_optimizers()))
    recorded: list[dict[str, torch.Tensor]] = []

    def update(loss, names):
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        loss.backward()
        recorded.append({n: _flat_grad(module.nets[n]) for n in names})
        for n in names:
            opts[n].step()

    stats = train_iteration(module.online_nets(), batch, z, module.loss_weights(), update, **kw)
    return recorded, stats


def _run_reference(module, batch, z, weights_per_update, mask_fn=None):
    """The same iteration with the straightforward reference; gradients of the stepped nets."""
    from tests.helpers.reference_step import reference_gradients

    opts = dict(zip(NETS, module.build_optimizers()))
    recorded = []
    for (name, stepped), weights in zip(UPDATES, weights_per_update):
        grads = reference_gradients(module.online_nets(), batch, z, weights, name, mask_fn=mask_fn)
        recorded.append({n: grads[n] for n in stepped})
        for n in stepped:  # the gradients are still on the parameters
            opts[n].step()
    return recorded


def _compare(fast, ref, tol=1e-6) -> float:
    worst = 0.0
    for k, (name, _) in enumerate(UPDATES):
        assert fast[k].keys() == ref[k].keys()
        for net in fast[k]:
            a, b = fast[k][net], ref[k][net]
            rel = float((a - b).norm() / b.norm().clamp_min(1e-30))
            worst = max(worst, rel)
            assert rel <= tol, f"{name}, {net}: relative gradient difference {rel:.2e} > {tol}"
    return worst


@pytest.mark.parametrize("reuse", [True, False])
@pytest.mark.parametrize("hpf", [False, True])
def test_step_equals_the_straightforward_reference(reuse, hpf):
    """Every stepped net's gradient in each of the four updates, then every parameter after the
    iteration, equal a plain step that computes everything (tests/helpers/reference_step.py)."""
    fast, ref = _twins(hpf=hpf, **({"img_size": 64} if hpf else {}))
    batch, z = _batch(size=64 if hpf else 32)

    def mask_fn(x):
        m = torch.sigmoid(4 * x.mean(1, keepdim=True))
        return m, m.square()

    masks = mask_fn if hpf else None
    got = _run_fast(fast, batch, z, mask_fn=masks, reuse_latent_fake=reuse)
    want = _run_reference(ref, batch, z, [fast.loss_weights()] * 4, mask_fn=masks)
    worst = _compare(got, want)
    for net in NETS:
        for p, q in zip(fast.nets[net].parameters(), ref.nets[net].parameters()):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    print(f"worst relative gradient difference, fast vs reference step: {worst:.2e}")


@pytest.mark.parametrize(
    "zero", [("lambda_cyc",), ("lambda_sty",), ("lambda_ds",), ("lambda_sty", "lambda_cyc")]
)
def test_terms_of_weight_zero_are_logged_but_not_back_propagated(zero):
    """An ablation's zero-weight term is still computed for its logged value, but without a
    graph: the same gradients as the straightforward step, and a zero-weight cycle term runs
    its G forward without one (it had cost that forward's backward in both G updates)."""
    hp = dict.fromkeys(zero, 0.0)
    fast, ref = _twins(**hp)
    batch, z = _batch()
    graphs: list[bool] = []  # per generator forward: whether it records a graph
    hook = fast.nets["generator"].register_forward_hook(
        lambda *_: graphs.append(torch.is_grad_enabled())
    )
    got, stats = _run_fast_with_stats(fast, batch, z)
    hook.remove()
    _compare(got, _run_reference(ref, batch, z, [fast.loss_weights()] * 4))
    for update_name in ("g_latent", "g_ref"):
        for term in ("sty", "ds", "cyc"):
            assert torch.isfinite(stats[update_name][term]) and stats[update_name][term] > 0
    # G forwards with a graph: the latent fake, the reference update's first fake and, with a
    # weighted cycle term, the two reconstructions; with the style term at 0 too, the latent
    # update keeps its cycle graph, E's only other source of gradient (Adam would skip E)
    skipped = 1 if zero == ("lambda_sty", "lambda_cyc") else 2 if "lambda_cyc" in zero else 0
    assert sum(graphs) == 4 - skipped, graphs


def test_nets_that_do_not_step_get_no_weight_gradient():
    fast, _ = _twins()
    batch, z = _batch()
    opts = dict(zip(NETS, fast.build_optimizers()))
    seen: list[set[str]] = []

    def update(loss, names):
        for o in opts.values():
            o.zero_grad(set_to_none=True)
        loss.backward()
        seen.append({n for n in NETS if any(p.grad is not None for p in fast.nets[n].parameters())})
        for n in names:
            opts[n].step()

    train_iteration(fast.online_nets(), batch, z, fast.loss_weights(), update)
    assert seen == [set(stepped) for _, stepped in UPDATES]
    assert all(p.requires_grad for n in NETS for p in fast.nets[n].parameters())  # restored


def test_lazy_r1_on_every_kth_d_update_weighted_by_k():
    fast, ref = _twins(r1_every=2)
    batch, z = _batch()
    weights = fast.loss_weights()
    assert [weights.r1_on(d) for d in range(4)] == [True, False, True, False]
    got = _run_fast(fast, batch, z, iteration=0)
    plain = replace(weights, r1_every=1)
    per_update = [
        replace(plain, lambda_reg=2 * plain.lambda_reg),  # D update 0: R1, weighted by 2
        replace(plain, lambda_reg=0.0),  # D update 1: none
        plain,
        plain,
    ]
    _compare(got, _run_reference(ref, batch, z, per_update))


@pytest.mark.parametrize("reuse, encodings", [(True, 4), (False, 5)])
def test_the_sources_are_encoded_once_per_generator_version(reuse, encodings):
    """G's encoder does not see the style, so every fake of ``x_real`` made before G steps
    decodes one encoding of the sources, and so do the two of the reference G update: 4
    encoder passes per iteration (two of the sources, two of the cycle terms' fakes) instead of
    7 (without the reuse 5 instead of 8: the D updates share one encoding without a graph)."""
    fast, _ = _twins()
    batch, z = _batch()
    sources: list[bool] = []
    hook = fast.nets["generator"].from_rgb.register_forward_hook(
        lambda mod, args, out: sources.append(args[0].data_ptr() == batch["x_real"].data_ptr())
    )
    _run_fast(fast, batch, z, reuse_latent_fake=reuse)
    hook.remove()
    assert len(sources) == encodings
    assert sources.count(False) == 2  # the fakes of the two cycle terms
