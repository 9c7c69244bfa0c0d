"""Gradient clipping of manually optimized modules (``gradient_clip_val``).

Lightning refuses ``Trainer(gradient_clip_val=...)`` for manually optimized modules, so these
modules clip each net's gradients themselves before its optimizer steps. The tests read the
gradients at the last moment before each step (after the module's
``on_before_optimizer_step``), under full precision and under ``16-mixed``, whose GradScaler
multiplies the gradients by 2**16 until it unscales them: clipping before the unscale would leave
them 65536 times smaller than the clip value.
"""

from __future__ import annotations

import torch
from lightning.pytorch.plugins.precision import MixedPrecision

from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, TINY_V1, quiet_trainer, random_loader

CLIP = 1e-3  # far below these nets' gradient norms at initialisation: every step is clipped


def steps_seen(
    cls: type, precision: str = "32-true", plugins: list | None = None, **kw
) -> list[tuple[str, float, float]]:
    """Train a ``cls(**kw)`` that records, for each optimizer step once its hooks have run, the
    net's name, the norm of its gradients and their largest absolute element."""
    seen: list[tuple[str, float, float]] = []

    class Watched(cls):
        def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
            super().on_before_optimizer_step(optimizer)  # clips
            name = dict(zip(map(id, self.trainer.optimizers), self.OPTIMIZER_ORDER))[id(optimizer)]
            grads = [p.grad for g in optimizer.param_groups for p in g["params"]]
            grads = [g.detach().float() for g in grads if g is not None]
            norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))
            seen.append((name, float(norm), max(float(g.abs().max()) for g in grads)))

    trainer = (
        quiet_trainer(precision=precision) if plugins is None else quiet_trainer(plugins=plugins)
    )
    trainer.fit(Watched(**kw), random_loader(n=4))
    return seen


def test_unclipped_gradients_are_above_the_clip_value():
    """The premise of the tests below: without clipping, every step's gradients exceed CLIP."""
    seen = steps_seen(StarGANv2Module, **TINY, total_iters=1)
    assert len(seen) == 6 and min(norm for _, norm, _ in seen) > 10 * CLIP


def test_every_step_uses_gradients_clipped_to_the_norm():
    seen = steps_seen(StarGANv2Module, **TINY, total_iters=2, gradient_clip_val=CLIP)
    # six steps per iteration: D (latent), D (reference), G, F, E (latent), G (reference)
    assert [name for name, _, _ in seen[:6]] == [
        "discriminator",
        "discriminator",
        "generator",
        "mapping_network",
        "style_encoder",
        "generator",
    ]
    assert len(seen) == 12
    for name, norm, _ in seen:
        assert 0.99 * CLIP <= norm <= CLIP * (1 + 1e-5), (name, norm)


def test_clipping_by_value_bounds_each_element():
    seen = steps_seen(
        StarGANv2Module,
        **TINY,
        total_iters=1,
        gradient_clip_val=CLIP,
        gradient_clip_algorithm="value",
    )
    assert len(seen) == 6
    for name, _, largest in seen:
        assert 0.99 * CLIP <= largest <= CLIP * (1 + 1e-6), (name, largest)  # float32 CLIP


def test_stargan_v1_clips_both_nets():
    seen = steps_seen(StarGANv1Module, **TINY_V1, n_critic=1, total_iters=2, gradient_clip_val=CLIP)
    assert [name for name, _, _ in seen] == ["discriminator", "generator"] * 2
    for name, norm, _ in seen:
        assert 0.99 * CLIP <= norm <= CLIP * (1 + 1e-5), (name, norm)


def fp16_with_scaler() -> MixedPrecision:
    """``16-mixed`` with its GradScaler on the CPU (``precision="16-mixed"`` alone falls back to
    ``bf16-mixed`` there, which has no scaler)."""
    return MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))


def test_clipping_under_16_mixed_is_in_unscaled_units():
    """Lightning unscales inside ``optimizer.step()``, then calls ``on_before_optimizer_step``,
    where the module clips: the gradients are CLIP in norm, not CLIP / 65536."""
    seen = steps_seen(
        StarGANv2Module,
        plugins=[fp16_with_scaler()],
        **TINY,
        total_iters=2,
        gradient_clip_val=CLIP,
        fused_adam=False,
    )
    finite = [(name, norm) for name, norm, _ in seen if torch.isfinite(torch.tensor(norm))]
    assert len(seen) == 12 and finite, "every step was skipped for non-finite gradients"
    for name, norm in finite:
        assert 0.99 * CLIP <= norm <= CLIP * (1 + 1e-5), (name, norm)


def _update_of_one_iteration(fused: bool) -> torch.Tensor:
    """The change of all online weights in one StarGAN v2 iteration under ``16-mixed``."""
    torch.manual_seed(0)
    module = StarGANv2Module(**TINY, total_iters=1, gradient_clip_val=CLIP, fused_adam=fused)
    before = torch.nn.utils.parameters_to_vector(module.nets.parameters()).detach().clone()
    quiet_trainer(plugins=[fp16_with_scaler()]).fit(module, random_loader(n=2))
    return torch.nn.utils.parameters_to_vector(module.nets.parameters()).detach() - before


def test_fused_adam_under_16_mixed_takes_the_steps_of_the_multi_tensor_adam():
    """A fused Adam unscales inside its step, after the hook: the module unscales its gradients
    before clipping them, so it steps as the multi-tensor Adam does (measured: 0.5% apart, the
    two kernels' rounding where gradients are near Adam's eps). Clipping the still scaled
    gradients leaves them 65536 times too small, below Adam's eps: 52% apart (Lightning's own
    ``clip_gradients`` refuses fused optimizers under mixed precision instead)."""
    fused, multi_tensor = _update_of_one_iteration(True), _update_of_one_iteration(False)
    assert float((fused - multi_tensor).norm() / multi_tensor.norm()) < 0.05


def test_fused_adam_under_bf16_mixed_clips():
    """Lightning's ``clip_gradients`` refuses this combination although nothing is scaled."""
    seen = steps_seen(
        StarGANv2Module,
        precision="bf16-mixed",
        **TINY,
        total_iters=1,
        gradient_clip_val=CLIP,
        fused_adam=True,
    )
    assert len(seen) == 6
    for name, norm, _ in seen:
        assert 0.99 * CLIP <= norm <= CLIP * (1 + 1e-5), (name, norm)
