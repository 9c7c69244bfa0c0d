"""Trainer settings that count optimizer steps are refused, naming the iteration key."""

from __future__ import annotations

import pytest
import torch

from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.training_checks import NonFiniteTracker, domain_labels
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


def test_integer_val_check_interval_is_refused():
    model = StarGANv2Module(**TINY, total_iters=2)
    with pytest.raises(ValueError, match="val_check_interval=100.*every_n_iters"):
        quiet_trainer(val_check_interval=100).fit(model, random_loader(n=4))


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
