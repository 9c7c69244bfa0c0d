"""The config tree composes as documented: every experiment resolves to its settings, each model
alone (no experiment given) composes with its own default experiment and trains, the quick runs
stay on the CPU only with the built-in shapes, and no experiment undoes what another set."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from starganv2.cli.config_check import check_config
from starganv2.cli.train import run
from tests.integration.conftest import (
    CONF_DIR,
    TINY_SHAPES,
    compose_train,
    tiny_overrides,
)

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
FOLDER = ["data=folder", "data.root=/some/where", "data.num_domains=2"]

# (experiment, data choice or None) -> key values of the resolved config
EXPECTED = {
    ("quick", None): {
        "model._target_": "starganv2.models.stargan_v2.module.StarGANv2Module",
        "model.dim_in": 16,
        "model.total_iters": 800,
        "model.lr": 1e-3,
        "model.lambda_cyc": 4.0,
        "model.ema_beta": 0.99,
        "data.img_size": 32,
        "data.batch_size": 8,
        "trainer.accelerator": "cpu",
        "callbacks.checkpoint.every_n_iters": 200,
    },
    ("quick", "folder"): {"model.total_iters": 800, "trainer.accelerator": "auto"},
    ("stargan_v1_quick", None): {
        "model._target_": "starganv2.models.stargan_v1.module.StarGANv1Module",
        "model.g_conv_dim": 32,
        "model.g_lr": 1e-3,
        "model.total_iters": 2000,
        "data.batch_size": 16,
        "data.transform": "stargan_v1",
        "data.load_references": False,
        "trainer.accelerator": "cpu",
        "callbacks.samples.every_n_iters": 250,
    },
    ("stargan_v1_quick", "folder"): {"model.total_iters": 2000, "trainer.accelerator": "auto"},
    ("ablation_cpu", None): {
        "model.dim_in": 16,
        "model.lr": 1e-3,
        "model.total_iters": 400,
        "data.img_size": 32,
        "data.textures": ["solid"],
        "trainer.accelerator": "cpu",
        "callbacks.evaluation.every_n_iters": 100,
    },
    ("ablation", None): {
        "model.dim_in": 16,
        "model.lr": 1e-3,
        "model.total_iters": 20000,
        "data.img_size": 64,
        "data.background_tint": 0.06,
        "trainer.accelerator": "auto",
        "callbacks.evaluation.every_n_iters": 2000,
    },
    ("ablation_paper", None): {
        "model.dim_in": None,
        "model.lr": 1e-4,
        "model.total_iters": 30000,
        "data.img_size": 64,
        "trainer.accelerator": "auto",
        "callbacks.checkpoint.every_n_iters": 10000,
    },
    ("paper", None): {"model.total_iters": 100000, "trainer.accelerator": "gpu"},
    ("afhq", None): {"data.num_domains": 3, "model.lambda_ds": 2.0, "trainer.accelerator": "gpu"},
    ("celeba_hq", None): {"data.num_domains": 2, "model.w_hpf": 1.0},
    ("stargan_v1", None): {"model.total_iters": 200000, "data.batch_size": 16},
}


def _get(cfg, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return list(node) if hasattr(node, "__len__") and not isinstance(node, str) else node


def _compose(experiment: str | None, data: str | None, tmp_path: Path, extra=()):
    overrides = [f"experiment={experiment}"] if experiment else []
    overrides += FOLDER if data == "folder" else ([f"data={data}"] if data else [])
    return compose_train([*overrides, *extra], tmp_path)


def test_the_documented_experiment_names_stay_valid():
    assert {e for e, _ in EXPECTED} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_for_its_model(experiment, tmp_path):
    cfg = compose_train([f"experiment={experiment}"], tmp_path)
    check_config(cfg, ["data", "model", "callbacks"])


@pytest.mark.parametrize(("experiment", "data"), sorted(EXPECTED, key=str))
def test_experiment_resolves_to_its_settings(experiment, data, tmp_path):
    cfg = _compose(experiment, data, tmp_path)
    got = {key: _get(cfg, key) for key in EXPECTED[(experiment, data)]}
    assert got == EXPECTED[(experiment, data)]
    check_config(cfg, ["data", "model", "callbacks"])


def test_no_arguments_is_the_quick_experiment(tmp_path):
    def resolved(cfg):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(cfg, resolve=True)

    named = ["run_name=r"]
    assert resolved(_compose(None, None, tmp_path, named)) == resolved(
        _compose("quick", None, tmp_path, named)
    )


@pytest.mark.parametrize("model", MODELS)
def test_each_model_alone_composes_with_its_own_default_experiment(model, tmp_path):
    cfg = compose_train([f"model={model}"], tmp_path)
    check_config(cfg, ["data", "model", "callbacks"])  # no key of another model's experiment
    assert cfg.trainer.accelerator == "cpu"  # a quick run, on the shapes it was tuned on
    if model == "stargan_v1":
        v1 = compose_train(["experiment=stargan_v1_quick"], tmp_path)
        assert cfg == v1
    else:
        assert (cfg.model.total_iters, cfg.model.lr) == (800, 1e-3)


def test_explicit_trainer_wins_over_the_tuned_device(tmp_path):
    assert compose_train(["trainer=gpu"], tmp_path).trainer.accelerator == "gpu"
    assert compose_train(["trainer.accelerator=gpu"], tmp_path).trainer.accelerator == "gpu"
    assert compose_train([*FOLDER, "trainer=cpu"], tmp_path).trainer.accelerator == "cpu"


def _defaults(path: Path) -> list:
    return (yaml.safe_load(path.read_text()) or {}).get("defaults", [])


def test_no_revert_chains():
    """An experiment that inherits another never sets a key back to what the default
    config had: a delta only adds or changes."""
    for path in (CONF_DIR / "experiment").glob("*.yaml"):
        body = yaml.safe_load(path.read_text()) or {}
        assert "pinned" not in path.read_text()
        trainer = body.get("trainer") or {}
        if any(str(d) in ("quick", "ablation_cpu") for d in _defaults(path)):
            assert "accelerator" not in trainer, path.name  # the data choice decides it
    assert not (CONF_DIR / "pinned").exists()


def test_one_list_of_loader_keys():
    loader = set(yaml.safe_load((CONF_DIR / "data/common/loader.yaml").read_text()))
    for name in ("folder", "shapes"):
        own = set(yaml.safe_load((CONF_DIR / f"data/{name}.yaml").read_text()))
        assert own & loader <= {"num_workers", "pin_memory"}, name


@pytest.mark.slow
def test_model_stargan_v1_alone_trains_two_iterations(tmp_path, shapes_cache):
    probe = compose_train(["model=stargan_v1"], tmp_path / "probe")
    tiny = tiny_overrides(probe) + TINY_SHAPES + [f"data.cache_dir={shapes_cache}"]
    cfg = compose_train(["model=stargan_v1", *tiny, "model.n_critic=2"], tmp_path / "run")
    assert run(cfg)["iteration"] == 2


def test_the_log_file_takes_any_file_name(tmp_path):
    """A file name that is not UTF-8 (a surrogate escape from the file system) in a message: the
    console showed it but the run's log file lost the message (UnicodeEncodeError)."""
    import logging
    import logging.config

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from tests.integration.conftest import CONF_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True)
    handlers = OmegaConf.to_container(cfg.hydra.job_logging, resolve=False)
    handler = handlers["handlers"]["file"]
    handler["filename"] = str(tmp_path / "train.log")
    logging.config.dictConfig(
        {
            "version": 1,
            "formatters": handlers["formatters"],
            "handlers": {"file": handler},
            "loggers": {"odd_names": {"handlers": ["file"], "level": "INFO", "propagate": False}},
            "disable_existing_loggers": False,
        }
    )
    name = b"caf\xe9.png".decode("utf-8", "surrogateescape")  # a Latin-1 name on disk
    log = logging.getLogger("odd_names")
    log.warning("bad image %s", name)
    for h in log.handlers:
        h.close()
    log.handlers.clear()
    assert "bad image caf\\udce9.png" in (tmp_path / "train.log").read_text(encoding="utf-8")
