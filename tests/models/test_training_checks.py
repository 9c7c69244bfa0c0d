"""Trainer settings that count optimizer steps are refused, naming the iteration key; so are a
strategy that cannot train several nets with several backward passes, gradient accumulation and
bad clipping arguments, each in one line naming the fix."""

from __future__ import annotations

import pytest
import torch

from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.training_checks import (
    FIND_UNUSED_STRATEGY,
    NonFiniteTracker,
    check_manual_optimization,
    check_strategy,
    check_trainer_counts,
    domain_labels,
    strategy_problem,
)
from tests.helpers import TINY, quiet_trainer, random_loader


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"max_steps": 12}, "trainer.max_steps=12"), ({"min_steps": 6}, "trainer.min_steps=6")],
)
def test_step_counts_are_refused_with_the_iteration_key(kwargs, key):
    model = StarGANv2Module(**TINY, total_iters=2)
    with pytest.raises(ValueError, match=rf"{key} counts optimizer steps.*model.total_iters"):
        quiet_trainer(**kwargs).fit(model, random_loader(n=4))
    assert model.iteration == 0


def test_integer_val_check_interval_counts_iterations_and_is_accepted():
    """Lightning counts ``val_check_interval`` in training batches, one per iteration here: it
    is the validation interval in iterations (``val_every_n_iters`` sets it)."""
    trainer = quiet_trainer(val_check_interval=100, check_val_every_n_epoch=None)
    check_trainer_counts(trainer, "model.total_iters")  # no error


@pytest.mark.parametrize("strategy", ["ddp", "ddp_spawn", "ddp_find_unused_parameters_false"])
def test_ddp_without_find_unused_parameters_is_refused_naming_the_fix(strategy):
    trainer = quiet_trainer(devices=2, strategy=strategy)
    with pytest.raises(ValueError) as err:
        check_strategy(trainer, strategy)
    assert str(err.value) == (
        f"trainer.strategy={strategy} cannot train this model: DDP without "
        "find_unused_parameters=True stops at the second backward pass of an iteration (each "
        "update leaves the other nets' parameters without gradients); use "
        "trainer.strategy=ddp_find_unused_parameters_true or trainer=ddp "
        '(in Python: Trainer(strategy="ddp_find_unused_parameters_true"))'
    )


def test_strategies_that_train_these_models_pass():
    check_strategy(quiet_trainer())  # one process
    check_strategy(quiet_trainer(devices=2, strategy=FIND_UNUSED_STRATEGY))
    check_strategy(quiet_trainer(devices=2, strategy="ddp_spawn_find_unused_parameters_true"))


def test_static_graph_and_other_strategies_are_refused():
    from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy

    static = DDPStrategy(find_unused_parameters=True, static_graph=True)
    with pytest.raises(ValueError, match=r"=DDPStrategy cannot train.*static_graph=True fails"):
        check_strategy(quiet_trainer(devices=2, strategy=static))
    # FSDP needs a GPU to build a Trainer with; the strategy alone is enough here
    assert strategy_problem(FSDPStrategy()).startswith("FSDPStrategy is not supported")


def test_accumulate_grad_batches_is_refused_with_the_batch_size_to_use():
    with pytest.raises(ValueError) as err:
        check_manual_optimization(quiet_trainer(accumulate_grad_batches=2), batch_size=8)
    assert str(err.value) == (
        "trainer.accumulate_grad_batches=2 cannot apply to this model: one iteration is several "
        "updates of different nets (manual optimization), with no single optimizer step to "
        "accumulate gradients for; use a larger data.batch_size instead "
        "(data.batch_size=16 for 2 x 8)"
    )
    check_manual_optimization(quiet_trainer(), batch_size=8)  # the default passes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gradient_clip_val": 0}, r"model\.gradient_clip_val=0 is invalid: expected a number > 0"),
        ({"gradient_clip_val": "1"}, r"model\.gradient_clip_val='1' is invalid"),
        ({"gradient_clip_val": float("nan")}, r"model\.gradient_clip_val=nan is invalid"),
        (
            {"gradient_clip_val": 1.0, "gradient_clip_algorithm": "l2"},
            r"model\.gradient_clip_algorithm='l2' is invalid: expected one of \['norm', 'value'\]",
        ),
    ],
)
def test_gradient_clipping_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StarGANv2Module(**TINY, **kwargs)
    with pytest.raises(ValueError, match=message):
        StarGANv1Module(img_size=32, num_domains=2, g_conv_dim=8, d_conv_dim=8, **kwargs)


def test_tracker_names_the_first_bad_iteration_and_terms():
    tracker = NonFiniteTracker(["d/real", "d/fake"])
    tracker.track({"d": {"real": torch.tensor(1.0), "fake": torch.tensor(2.0)}}, 0)
    tracker.check()
    tracker.track({"d": {"real": torch.tensor(1.0), "fake": torch.tensor(float("inf"))}}, 1)
    tracker.track({"d": {"real": torch.tensor(float("nan")), "fake": torch.tensor(1.0)}}, 2)
    with pytest.raises(RuntimeError, match=r"iteration 1 in term\(s\) d/fake;"):
        tracker.check()


def test_domain_labels():
    assert domain_labels(1, 3, 2, torch.device("cpu")).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match=r"\[0, 2\), got \[2\]"):
        domain_labels(torch.tensor([2]), 1, 2, torch.device("cpu"))


def test_tracker_takes_the_updates_an_iteration_ran_and_refuses_unknown_terms():
    tracker = NonFiniteTracker(["d/real", "g/rec"])
    nan = torch.tensor(float("nan"))
    tracker.track({"d": {"real": torch.tensor(1.0)}}, 0)  # an iteration without a G update
    tracker.track({"d": {"real": torch.tensor(1.0)}, "g": {"rec": nan}}, 1)
    tracker.track({"d": {"real": nan}}, 2)
    with pytest.raises(RuntimeError, match=r"iteration 1 in term\(s\) g/rec;"):
        tracker.check()
    with pytest.raises(ValueError, match=r"\['g/cls'\] are not tracked"):
        tracker.track({"g": {"cls": torch.tensor(1.0)}}, 3)
