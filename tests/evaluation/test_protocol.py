"""The protocol: task enumeration, per-image seeds, results independent of batches and ranks."""

from __future__ import annotations

import pytest
import torch

from starganv2.data.folders import list_domain_files
from starganv2.evaluation import protocol as P
from tests.evaluation.conftest import write_domain_data


def test_tasks_two_domains():
    assert P.tasks(2) == [(1, 0), (0, 1)]
    assert [P.task_name(["cat", "dog"], s, t) for s, t in P.tasks(2)] == ["dog2cat", "cat2dog"]


def test_tasks_three_domains():
    names = [P.task_name(["a", "b", "c"], s, t) for s, t in P.tasks(3)]
    assert names == ["b2a", "c2a", "a2b", "c2b", "a2c", "b2c"]


def test_latent_codes_depend_on_image_not_on_call_order():
    a = P.latent_codes(0, 1, 0, 5, 10, 4)
    assert a.shape == (10, 4) and a.dtype == torch.float32
    torch.manual_seed(123)  # global RNG state does not matter
    assert torch.equal(a, P.latent_codes(0, 1, 0, 5, 10, 4))
    assert not torch.equal(a, P.latent_codes(0, 1, 0, 6, 10, 4))
    assert not torch.equal(a, P.latent_codes(0, 0, 1, 5, 10, 4))
    assert not torch.equal(a, P.latent_codes(1, 1, 0, 5, 10, 4))


def test_reference_indices_distinct_when_enough_references():
    idx = P.reference_indices(0, 0, 1, 3, 10, 12)
    assert idx.shape == (10,) and len(set(idx.tolist())) == 10 and int(idx.max()) < 12
    few = P.reference_indices(0, 0, 1, 3, 10, 3)
    assert set(few.tolist()) <= {0, 1, 2}


def test_protocol_independent_of_batch_size_and_rank_split(tmp_path, offline_hub, tiny_module):
    """Per-image seeding: batch size 1 vs 3 and a 2-way image split give the same outputs."""
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=4, n_val=3)
    files = list_domain_files(root / "val")

    def outs(batch_size, indices, mode, ref_styles=None):
        return {
            int(i): o
            for b in P.translate_task(
                tiny_module,
                files["a"],
                0,
                1,
                mode,
                num_outs=4,
                batch_size=batch_size,
                indices=indices,
                ref_styles=ref_styles,
            )
            for i, o in zip(b.index, b.outputs)
        }

    styles = P.reference_styles(tiny_module, files["b"], 1, 32)
    for mode, rs in (("latent", None), ("reference", styles)):
        full = outs(3, None, mode, rs)
        split = {**outs(1, [0, 2], mode, rs), **outs(1, [1], mode, rs)}
        assert sorted(full) == [0, 1, 2]
        for i in full:
            torch.testing.assert_close(full[i], split[i], rtol=1e-5, atol=1e-5)


def test_protocol_feeds_a_converted_model_its_own_dtype(tmp_path, tiny_module):
    """A model converted to float64 or bfloat16 (``trainer.precision=64-true`` / ``bf16-true``)
    refuses float32 inputs: the protocol hands it images, latent codes and reference styles in
    its dtype and returns float32 outputs, the float32 model's up to the dtype's rounding."""
    import copy

    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=2, n_val=2)
    files = list_domain_files(root / "val")

    def outs(model, mode):
        styles = P.reference_styles(model, files["b"], 1, 2)
        assert styles.dtype == model.dtype
        batches = P.translate_task(
            model, files["a"], 0, 1, mode, num_outs=2, batch_size=2, ref_styles=styles
        )
        return torch.cat([b.outputs for b in batches])

    for mode in ("latent", "reference"):
        ref = outs(tiny_module, mode)
        for dtype, tol in ((torch.float64, 1e-5), (torch.bfloat16, 0.25)):
            got = outs(copy.deepcopy(tiny_module).to(dtype), mode)
            assert got.dtype == torch.float32
            torch.testing.assert_close(got, ref, rtol=0, atol=tol)


def test_a_data_module_without_image_files_is_one_line_naming_it():
    """A data module of one's own that only yields batches failed the evaluation (the callback,
    ``Trainer.validate``) with ``AttributeError: ... has no attribute 'val_files'``, after its
    ``setup``."""
    import lightning as L

    from starganv2.evaluation.protocol import EvalData

    class BatchesOnly(L.LightningDataModule):
        pass

    with pytest.raises(ValueError) as err:
        EvalData.from_datamodule(BatchesOnly())
    assert str(err.value).startswith(
        "data module BatchesOnly has no domains, train_files, val_files, root: evaluation reads"
    )
