"""``predict_step``: what ``Trainer.predict`` calls on every batch of translation requests."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from starganv2.models.interface import GuidanceModeError
from starganv2.models.prediction import MEAN_STYLE_SEED, latent_codes
from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from starganv2.models.styles import style_means, truncate
from tests.helpers import TINY, quiet_trainer

V1 = {"img_size": 32, "num_domains": 2, "g_conv_dim": 4, "d_conv_dim": 4, "g_repeat_num": 1}


@pytest.fixture(scope="module")
def v2() -> StarGANv2Module:
    torch.manual_seed(0)
    return StarGANv2Module(**TINY).eval()


def _batch(n: int = 4, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "x": torch.rand(n, 3, 32, 32, generator=g) * 2 - 1,
        "y_trg": torch.tensor([0, 1, 1, 0][:n]),
        "seed": torch.tensor([11, 12, 13, 2**62][:n]),
    }


def test_latent_prediction_equals_translate_with_the_seeds_latent_codes(v2):
    batch = _batch()
    out = v2.predict_step(batch, 0)
    z = torch.stack([torch.randn(4, generator=torch.Generator().manual_seed(s)) for s in (11, 12)])
    assert torch.equal(latent_codes(batch["seed"][:2], 4), z)
    expected = v2.translate(batch["x"], batch["y_trg"], z=latent_codes(batch["seed"], 4))
    assert out["x_fake"].shape == (4, 3, 32, 32) and out["x_fake"].device.type == "cpu"
    torch.testing.assert_close(out["x_fake"], expected, rtol=0, atol=0)
    assert out["x_fake"].abs().max() <= 1


def test_each_output_depends_on_its_own_request_only(v2):
    """Batched together, one at a time or in another order: the same image per request."""
    batch = _batch()
    together = v2.predict_step(batch, 0)["x_fake"]
    alone = [v2.predict_step({k: v[i : i + 1] for k, v in batch.items()}, i) for i in range(4)]
    torch.testing.assert_close(torch.cat([o["x_fake"] for o in alone]), together)
    order = torch.tensor([3, 1, 0, 2])
    shuffled = v2.predict_step({k: v[order] for k, v in batch.items()}, 0)["x_fake"]
    torch.testing.assert_close(shuffled, together[order])
    other_seed = v2.predict_step({**batch, "seed": batch["seed"] + 1}, 0)["x_fake"]
    assert not torch.allclose(other_seed, together)  # the seed does choose the style


def test_psi_truncates_toward_the_target_domains_mean_style(v2):
    batch = _batch()
    psi = torch.tensor([0.0, 0.0, 0.5, 1.0])
    out = v2.predict_step({**batch, "psi": psi}, 0)["x_fake"]
    means = style_means(v2, generator=torch.Generator().manual_seed(MEAN_STYLE_SEED))
    y = batch["y_trg"]
    s = v2.style_from_latent(latent_codes(batch["seed"], 4), y)
    # psi = 0: the target domain's mean style, whatever the seed
    torch.testing.assert_close(out[:2], v2.translate(batch["x"][:2], y[:2], s=means[y[:2]]))
    # psi = 0.5: the existing scalar truncation; psi = 1: untouched
    half = truncate(s[2:3], means, 0.5, y[2:3])
    torch.testing.assert_close(out[2:3], v2.translate(batch["x"][2:3], y[2:3], s=half))
    torch.testing.assert_close(out[3:], v2.predict_step(batch, 0)["x_fake"][3:])


def test_psi_outside_zero_one_is_refused(v2):
    with pytest.raises(ValueError, match=r"psi holds \[1\.5\].*expected truncations in \[0, 1\]"):
        v2.predict_step({**_batch(), "psi": torch.tensor([0.5, 1.5, 1.0, 1.0])}, 0)


def test_reference_guided_prediction_equals_translate_with_the_references(v2):
    batch = _batch()
    x_ref = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 - 1
    out = v2.predict_step({**batch, "x_ref": x_ref}, 0)["x_fake"]
    torch.testing.assert_close(out, v2.translate(batch["x"], batch["y_trg"], x_ref=x_ref))
    no_seed = {k: v for k, v in batch.items() if k != "seed"}
    torch.testing.assert_close(v2.predict_step({**no_seed, "x_ref": x_ref}, 0)["x_fake"], out)


def test_psi_truncates_reference_styles_too(v2):
    batch = _batch()
    x_ref = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 - 1
    psi = torch.tensor([0.0, 0.5, 1.0, 0.0])
    out = v2.predict_step({**batch, "x_ref": x_ref, "psi": psi}, 0)["x_fake"]
    means = style_means(v2, generator=torch.Generator().manual_seed(MEAN_STYLE_SEED))
    y = batch["y_trg"]
    s = truncate(v2.style_from_reference(x_ref, y), means, psi, y)
    torch.testing.assert_close(out, v2.translate(batch["x"], y, s=s))
    latent_mean = v2.predict_step({**batch, "psi": torch.zeros(4)}, 0)["x_fake"]
    torch.testing.assert_close(out[[0, 3]], latent_mean[[0, 3]])  # psi = 0: the mean either way


def test_other_keys_pass_through_untouched(v2):
    batch = {
        **_batch(2),
        "key": ["a.png", "b.png"],
        "boxes": [[[1, 2, 3, 4]], []],
        "image_id": torch.tensor([7, 9]),
    }
    out = v2.predict_step(batch, 0)
    assert set(out) == {"x_fake", "y_trg", "seed", "key", "boxes", "image_id"}
    assert out["key"] == ["a.png", "b.png"] and out["boxes"] == [[[1, 2, 3, 4]], []]
    assert torch.equal(out["image_id"], torch.tensor([7, 9]))


def test_latent_prediction_without_seeds_names_the_key(v2):
    batch = {k: v for k, v in _batch().items() if k != "seed"}
    with pytest.raises(KeyError, match="no 'seed'.*seed \\(N,\\) long"):
        v2.predict_step(batch, 0)


def test_stargan_v1_translates_by_label_and_refuses_style_keys():
    torch.manual_seed(0)
    v1 = StarGANv1Module(**V1).eval()
    batch = _batch()
    out = v1.predict_step(batch, 0)["x_fake"]
    torch.testing.assert_close(out, v1.translate(batch["x"], batch["y_trg"]))
    for extra in ({"x_ref": batch["x"]}, {"psi": torch.ones(4)}):
        with pytest.raises(
            GuidanceModeError, match=r"StarGANv1Module is deterministic.*\['label'\]"
        ):
            v1.predict_step({**batch, **extra}, 0)


def test_stargan_v1_refuses_requests_of_several_styles():
    """``requests_for(..., num_styles=2)`` for a v1 model wrote each output twice, identical,
    under ``<stem>_0`` and ``<stem>_1``."""
    from starganv2.synthesis.requests import TranslationRequests, prediction_loader, requests_for

    torch.manual_seed(0)
    v1 = StarGANv1Module(**V1).eval()

    def first_batch(num_styles: int) -> dict:
        requests = requests_for({"a.png": "a.png"}, [1], num_styles=num_styles)
        data = TranslationRequests(requests, lambda source: torch.zeros(3, 32, 32))
        return next(iter(prediction_loader(data, batch_size=4)))

    batch = first_batch(2)
    assert list(batch["style"]) == [0, 1]
    with pytest.raises(
        GuidanceModeError, match=r"style 1, but StarGANv1Module is determ.*styles=1"
    ):
        v1.predict_step(batch, 0)
    assert v1.predict_step(first_batch(1), 0)["x_fake"].shape == (1, 3, 32, 32)


def test_mean_styles_are_recomputed_for_each_prediction_run(v2):
    v2.on_predict_start()
    first = v2.prediction_style_means()
    assert v2.prediction_style_means() is first  # cached within a run
    v2.on_predict_start()
    assert v2.prediction_style_means() is not first


def test_trainer_predict_runs_predict_step(v2):
    batch = _batch()
    items = [{k: v[i] for k, v in batch.items()} for i in range(4)]
    loader = DataLoader(items, batch_size=3)
    predictions = quiet_trainer().predict(v2, loader)
    got = torch.cat([p["x_fake"] for p in predictions])
    torch.testing.assert_close(got, v2.predict_step(batch, 0)["x_fake"])


def test_a_model_converted_to_bfloat16_predicts_from_seeds():
    torch.manual_seed(0)
    model = StarGANv2Module(**TINY).eval().to(torch.bfloat16)
    batch = _batch()
    batch["x"] = batch["x"].bfloat16()
    out = model.predict_step(batch, 0)
    expected = model.translate(
        batch["x"], batch["y_trg"], z=latent_codes(batch["seed"], 4).bfloat16()
    )
    assert out["x_fake"].dtype == torch.bfloat16
    torch.testing.assert_close(out["x_fake"], expected, rtol=0, atol=0)
