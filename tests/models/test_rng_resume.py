"""A GPU resume puts back the random state of the device each rank draws its latent codes on.

Every DDP rank is seeded alike and makes the same draws, so rank 0's saved state is every rank's.
Restoring rank 0's per-device list (``set_rng_state_all``) gave rank ``r`` the state rank 0's
process held for device ``r``, which it never drew from: after a resume ranks other than 0
drew from the seeded start of the stream, not where the uninterrupted run was. CUDA's random
functions are stood in for here (no GPU on the test machines)."""

from __future__ import annotations

import torch

from starganv2.models.base import RNG_KEY
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY


class FakeCuda:
    """CUDA's random-state functions for two devices, recording what is set."""

    def __init__(self, monkeypatch) -> None:
        self.states = {
            0: torch.tensor([10], dtype=torch.uint8),
            1: torch.tensor([11], dtype=torch.uint8),
        }
        self.set_one: list[tuple[torch.Tensor, torch.device]] = []
        self.set_all: list[list[torch.Tensor]] = []
        for name, value in {
            "is_available": lambda: True,
            "is_initialized": lambda: True,
            "device_count": lambda: 2,
            "get_rng_state": lambda device="cuda": self.states[torch.device(device).index or 0],
            "get_rng_state_all": lambda: [self.states[0], self.states[1]],
            "set_rng_state": lambda state, device="cuda": self.set_one.append((state, device)),
            "set_rng_state_all": lambda states: self.set_all.append(list(states)),
        }.items():
            monkeypatch.setattr(torch.cuda, name, value)


def _module_on(device: torch.device) -> StarGANv2Module:
    module = StarGANv2Module(**TINY)
    module._device = device  # where Lightning would have moved it (no tensors moved here)
    return module


def test_a_checkpoint_keeps_the_state_of_the_device_it_trained_on(monkeypatch) -> None:
    cuda = FakeCuda(monkeypatch)
    checkpoint: dict = {}
    _module_on(torch.device("cuda", 1)).on_save_checkpoint(checkpoint)
    saved = checkpoint[RNG_KEY]
    assert torch.equal(saved["device"], cuda.states[1])
    assert [int(s) for s in saved["cuda"]] == [10, 11]


def test_every_rank_resumes_its_own_device_from_the_saved_device_state(monkeypatch) -> None:
    cuda = FakeCuda(monkeypatch)
    rank0_device = torch.tensor([42], dtype=torch.uint8)
    for index in (0, 1):  # rank 0 on cuda:0, rank 1 on cuda:1
        module = _module_on(torch.device("cuda", index))
        module._resumed_rng = {
            "cpu": torch.get_rng_state(),
            "cuda": [torch.tensor([42], dtype=torch.uint8), torch.tensor([1], dtype=torch.uint8)],
            "device": rank0_device,
        }
        module._restore_rng()
        state, device = cuda.set_one[-1]
        assert torch.equal(state, rank0_device) and device == torch.device("cuda", index)
    assert cuda.set_all == []  # not rank 0's state of device 1 (never drawn from) on rank 1


def test_older_checkpoints_and_cpu_runs_restore_as_before(monkeypatch) -> None:
    cuda = FakeCuda(monkeypatch)
    listed = [torch.tensor([1], dtype=torch.uint8), torch.tensor([2], dtype=torch.uint8)]
    module = _module_on(torch.device("cuda", 0))
    module._resumed_rng = {"cpu": torch.get_rng_state(), "cuda": listed}  # no "device"
    module._restore_rng()
    assert cuda.set_all == [listed] and cuda.set_one == []
    module = _module_on(torch.device("cpu"))
    module._resumed_rng = {
        "cpu": torch.get_rng_state(),
        "cuda": [],
        "device": torch.tensor([42], dtype=torch.uint8),
    }
    module._restore_rng()
    assert cuda.set_one == []
