"""``TranslationModule``, on a toy model of one linear "generator": the iteration counter and
its checkpoint entry, the NaN stop, logging, EMA inference, export inputs, checkpoint migration,
and Lightning's eval-mode warning hidden only for the frozen nets."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from starganv2.models.base import TranslationModule
from starganv2.models.training_checks import NonFiniteLossError
from tests.helpers import quiet_trainer, random_loader


class Toy(TranslationModule):
    MODEL_NAME = "toy"
    OPTIMIZER_ORDER = ("generator",)
    TERMS = {"g": ("loss",)}
    EMA_NETS = ("generator",)
    FROZEN_NETS = ("nets_ema",)

    def __init__(
        self,
        img_size: int = 4,
        num_domains: int = 2,
        total_iters: int = 3,
        finite_check_every: int = 1,
        nan_at: int = -1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.set_nets({"generator": nn.Linear(3, 3)})

    @property
    def has_styles(self) -> bool:
        return False

    @property
    def guidance_modes(self) -> tuple[str, ...]:
        return ("label",)

    def configure_optimizers(self):
        return [torch.optim.SGD(self.nets["generator"].parameters(), lr=0.1)]

    def training_step(self, batch, batch_idx):
        x = batch["x_real"][:, :, 0, 0]  # (N, 3)
        loss = (self.nets["generator"](x) - 1).pow(2).mean()
        if self.iteration == self.hparams.nan_at:
            loss = loss * float("nan")
        self._update(loss, ("generator",))
        self.end_iteration({"g": {"loss": loss.detach()}}, x.size(0), lr=0.1)


def _fit(module, **trainer_kw):
    trainer = quiet_trainer(**trainer_kw)
    trainer.fit(module, random_loader(n=4, img_size=4))
    return trainer


def _eval_mode_warnings(module):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        filters = list(warnings.filters)
        _fit(module)
        assert warnings.filters == filters  # the base's filter is gone again
    return [str(w.message) for w in caught if "eval mode at the start" in str(w.message)]


def test_counts_iterations_stops_at_total_iters_and_logs_them(tmp_path):
    module = Toy(total_iters=3)
    trainer = _fit(module)  # 2 batches per epoch: the stop is the counter's, not an epoch's
    assert module.iteration == 3
    metrics = trainer.logged_metrics
    assert float(metrics["train/iteration"]) == 3
    assert float(metrics["train/lr"]) == pytest.approx(0.1)
    assert math.isfinite(float(metrics["train/g/loss"]))
    trainer.save_checkpoint(tmp_path / "toy.ckpt")
    raw = torch.load(tmp_path / "toy.ckpt", weights_only=False)
    assert raw["starganv2"] == {"iteration": 3, "model": "toy", "processes": 1}
    assert Toy.load_from_checkpoint(tmp_path / "toy.ckpt").iteration == 3


def test_a_non_finite_loss_stops_training_naming_iteration_and_term():
    with pytest.raises(NonFiniteLossError, match=r"iteration 1 in term\(s\) g/loss"):
        _fit(Toy(total_iters=3, nan_at=1))


def test_inference_uses_the_ema_copy_and_the_online_net_counts():
    module = Toy()
    assert module.inference_net("generator") is module.nets_ema["generator"]
    assert not module.nets_ema["generator"].training
    assert module.param_counts() == {"generator": 12}
    module.EMA_NETS = ()  # a model without averaged copies infers with its nets
    assert module.inference_net("generator") is module.nets["generator"]


def test_graph_inputs_and_mode_check():
    module = Toy()
    x, y = module.graph_inputs("label", 5, torch.Generator().manual_seed(0))
    assert x.shape == (5, 3, 4, 4) and x.min() >= -1 and x.max() <= 1
    assert y.shape == (5,) and set(y.tolist()) <= {0, 1}
    assert module.graph_input_names("label") == ["x", "y"]
    module.check_mode("label")
    with pytest.raises(ValueError, match=r"mode='latent': expected one of \['label'\]"):
        module.check_mode("latent")


def test_migrate_checkpoint_runs_before_the_state_dict_is_loaded(tmp_path):
    class Renamed(Toy):
        def migrate_checkpoint(self, checkpoint):
            state = checkpoint["state_dict"]
            for key in [k for k in state if k.startswith("old.")]:
                state["nets." + key[4:]] = state.pop(key)

    module = Toy()
    trainer = quiet_trainer()
    trainer.strategy.connect(module)
    trainer.save_checkpoint(tmp_path / "a.ckpt")
    raw = torch.load(tmp_path / "a.ckpt", weights_only=False)
    raw["state_dict"] = {
        k.replace("nets.", "old.", 1) if k.startswith("nets.") else k: v
        for k, v in raw["state_dict"].items()
    }
    torch.save(raw, tmp_path / "old.ckpt")
    with pytest.raises(RuntimeError, match="Missing key"):
        Toy.load_from_checkpoint(tmp_path / "old.ckpt")
    loaded = Renamed.load_from_checkpoint(tmp_path / "old.ckpt")
    torch.testing.assert_close(
        loaded.nets["generator"].weight, module.nets["generator"].weight, rtol=0, atol=0
    )


def test_the_eval_mode_warning_is_hidden_only_when_the_frozen_nets_are_the_only_cause():
    assert _eval_mode_warnings(Toy(total_iters=1)) == []
    module = Toy(total_iters=1)
    module.nets["generator"].eval()  # a mistake the user can act on: still reported
    assert len(_eval_mode_warnings(module)) == 1


def test_no_warning_filter_is_installed_by_importing_the_models():
    import starganv2.models.stargan_v1.module  # noqa: F401
    import starganv2.models.stargan_v2.module  # noqa: F401

    patterns = [f[1].pattern for f in warnings.filters if f[1] is not None]
    assert not any("eval mode" in p for p in patterns)
