"""``one_scaler_update``: several optimizer steps after one scaled backward share one
``GradScaler.update()``."""

from __future__ import annotations

import pytest
import torch

from starganv2.utils.amp import one_scaler_update


def _two_params_after_backward(scaler):
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opts = [torch.optim.SGD([a], lr=1.0), torch.optim.SGD([b], lr=1.0)]
    scaler.scale((a * 2 + b * 3).sum()).backward()
    return a, b, opts


def test_one_scaler_update_unscales_every_optimizer_with_the_same_scale():
    scaler = torch.amp.GradScaler("cpu", init_scale=4.0, growth_interval=1)
    a, b, opts = _two_params_after_backward(scaler)
    with one_scaler_update(scaler):
        for opt in opts:  # what Lightning's plugin does per optimizer step
            scaler.unscale_(opt)
            scaler.step(opt)
            scaler.update()
    torch.testing.assert_close(a.detach(), torch.full((3,), -1.0))  # 1 - lr * 2
    torch.testing.assert_close(b.detach(), torch.full((3,), -2.0))  # 1 - lr * 3
    assert scaler.get_scale() == 8.0  # one growth
    assert "update" not in vars(scaler)  # the method is the class's again


def test_without_a_call_to_update_nothing_is_updated():
    scaler = torch.amp.GradScaler("cpu", init_scale=4.0, growth_interval=1)
    _, _, opts = _two_params_after_backward(scaler)
    with one_scaler_update(scaler):
        scaler.step(opts[0])
    assert scaler.get_scale() == 4.0


def test_no_scaler_or_a_disabled_one_is_left_alone():
    with one_scaler_update(None):
        pass
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    with one_scaler_update(scaler):
        assert "update" not in vars(scaler)


def test_update_with_a_new_scale_inside_is_an_error_and_the_method_is_restored():
    scaler = torch.amp.GradScaler("cpu", init_scale=4.0)
    with pytest.raises(RuntimeError, match=r"update\(new_scale=2.0\)"):
        with one_scaler_update(scaler):
            scaler.update(2.0)
    assert "update" not in vars(scaler)
    scaler.scale(torch.ones(()))
    scaler.update(2.0)  # the real method again
    assert scaler.get_scale() == 2.0
