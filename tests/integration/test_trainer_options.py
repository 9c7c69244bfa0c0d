"""Trainer options a Lightning user types without reading our docs: ``fast_dev_run`` runs N
iterations (it used to be refused with a message about ``trainer.max_steps``, which the user never
set) and writes nothing, and an epoch limit that ends training before ``total_iters`` says so (it
used to stop at iteration 3 of 10 without a word). Several devices with ``strategy: auto`` get
the DDP that works; a strategy that cannot work, gradient accumulation and step counts are one
line each before data setup; ``+trainer.gradient_clip_val`` trains, the model clipping."""

from __future__ import annotations

import logging
import re

import pytest

from starganv2.models.stargan_v1.module import StarGANv1Module
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY, TINY_V1, quiet_trainer, random_loader


@pytest.mark.parametrize(("fast_dev_run", "iterations"), [(True, 1), (3, 3)])
def test_fast_dev_run_runs_n_iterations(fast_dev_run, iterations, caplog):
    module = StarGANv2Module(**TINY, total_iters=10)
    with caplog.at_level(logging.WARNING, logger="starganv2"):
        quiet_trainer(fast_dev_run=fast_dev_run).fit(module, random_loader(n=10))
    assert module.iteration == iterations
    assert "training stopped at iteration" not in caplog.text  # that is what it is for


def test_fast_dev_run_for_stargan_v1():
    module = StarGANv1Module(**TINY_V1, n_critic=1, total_iters=10)
    quiet_trainer(fast_dev_run=2).fit(module, random_loader(n=10, num_domains=2))
    assert module.iteration == 2


def test_max_steps_set_by_the_user_is_still_refused():
    module = StarGANv2Module(**TINY, total_iters=10)
    with pytest.raises(ValueError, match=r"trainer.max_steps=2 counts optimizer steps"):
        quiet_trainer(max_steps=2).fit(module, random_loader(n=10))


def test_an_epoch_limit_before_total_iters_is_reported(caplog):
    module = StarGANv2Module(**TINY, total_iters=10)
    with caplog.at_level(logging.WARNING, logger="starganv2"):
        quiet_trainer(max_epochs=1).fit(module, random_loader(n=6))  # 3 batches of 2
    assert module.iteration == 3
    assert (
        "training stopped at iteration 3 of model.total_iters=10: trainer.max_epochs=1"
        in caplog.text
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=abc", r"trainer\.max_epochs='abc' has the wrong type: expected"),
        # keys with a fixed set of values list them (it said "expected Literal")
        (
            "data.on_bad_image=skipp",
            r"data\.on_bad_image='skipp' is not an allowed value: expected one of 'error', 'skip'$",
        ),
        (
            "data.pin_memory=yes",
            r"data\.pin_memory='yes' is not an allowed value: expected bool or one of 'auto'$",
        ),
        ("trainer.max_epochs=1", r"trainer\.max_epochs=1 counts passes over the data"),
        ("+trainer.min_epochs=2", r"trainer\.min_epochs=2 counts passes over the data"),
    ],
)
def test_trainer_values_are_checked_before_data_setup(tmp_path, override, message):
    """A missing data folder would fail at data setup: the trainer's error comes first."""
    from starganv2.cli.config_check import ConfigError
    from starganv2.cli.train import run
    from tests.integration.conftest import TINY_OVERRIDES, compose_train

    data = ["data=folder", "data.num_domains=2", f"data.root={tmp_path}/nowhere"]
    cfg = compose_train([*TINY_OVERRIDES, *data, override], tmp_path / "run")
    with pytest.raises(ConfigError, match=message):
        run(cfg)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"],
            r"^trainer\.strategy=ddp cannot train this model: DDP without "
            r"find_unused_parameters=True .* use trainer\.strategy="
            r"ddp_find_unused_parameters_true or trainer=ddp",
        ),
        (
            ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp_spawn"],
            r"^trainer\.strategy=ddp_spawn cannot train this model",
        ),
        (
            ["+trainer.accumulate_grad_batches=2"],
            r"^trainer\.accumulate_grad_batches=2 cannot apply to this model: one iteration is "
            r"several updates of different nets .* \(data\.batch_size=4 for 2 x 2\)$",
        ),
        (["trainer.max_steps=5"], r"^trainer\.max_steps=5 counts optimizer steps"),
        (["+trainer.min_steps=3"], r"^trainer\.min_steps=3 counts optimizer steps"),
        (
            ["+trainer.gradient_clip_val=1", "model.gradient_clip_val=2"],
            r"^trainer\.gradient_clip_val=1 and model\.gradient_clip_val=2 disagree",
        ),
        (
            ["+trainer.gradient_clip_val=-1"],
            r"^trainer\.gradient_clip_val=-1 is invalid: expected a number > 0",
        ),
    ],
)
def test_trainer_options_are_refused_in_one_line_before_data_setup(tmp_path, overrides, message):
    """Each a line naming the fix, before the (missing) data folder is read and before a second
    process is started; it used to be two tracebacks from two ranks, or a 26-line traceback."""
    from starganv2.cli.train import run
    from tests.integration.conftest import TINY_OVERRIDES, compose_train

    data = ["data=folder", "data.num_domains=2", f"data.root={tmp_path}/nowhere"]
    cfg = compose_train([*TINY_OVERRIDES, *data, *overrides], tmp_path / "run")
    with pytest.raises(ValueError, match=message) as err:
        run(cfg)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize(
    "overrides",
    [["trainer.devices=2"], ["trainer.num_nodes=2"], ["trainer.devices=2", "trainer.num_nodes=2"]],
)
def test_several_processes_with_strategy_auto_get_the_ddp_that_works(tmp_path, overrides, caplog):
    """Lightning's ``auto`` would be plain ``ddp``; nothing is started here (no fit)."""
    from lightning.pytorch.strategies import DDPStrategy

    from starganv2.cli.train import build_trainer
    from starganv2.models.training_checks import strategy_problem
    from tests.integration.conftest import TINY_OVERRIDES, compose_train

    cfg = compose_train([*TINY_OVERRIDES, "trainer.accelerator=cpu", *overrides], tmp_path / "run")
    with caplog.at_level(logging.INFO, logger="starganv2"):
        trainer = build_trainer(cfg, [], [])
    assert type(trainer.strategy) is DDPStrategy
    assert strategy_problem(trainer.strategy) is None  # find_unused_parameters=True
    lines = [r.getMessage() for r in caplog.records if "strategy=auto" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith(
        f"trainer.strategy=auto with {trainer.world_size} processes (trainer.devices="
    )
    assert "using ddp_find_unused_parameters_true, the DDP that trains this model" in lines[0]


def test_one_device_keeps_one_process_and_says_nothing(tmp_path, caplog):
    from lightning.pytorch.strategies import SingleDeviceStrategy

    from starganv2.cli.train import build_trainer
    from tests.integration.conftest import TINY_OVERRIDES, compose_train

    cfg = compose_train([*TINY_OVERRIDES, "trainer.accelerator=cpu"], tmp_path / "run")
    with caplog.at_level(logging.INFO, logger="starganv2"):
        trainer = build_trainer(cfg, [], [])
    assert isinstance(trainer.strategy, SingleDeviceStrategy)
    assert "strategy=auto" not in caplog.text


def test_gradient_clip_val_flag_trains_with_the_model_clipping(tmp_path, shapes_cache, caplog):
    """``+trainer.gradient_clip_val=1`` (a 26-line traceback before) trains: the value reaches
    the model, which clips; the trainer keeps none (Lightning would refuse it)."""
    import torch
    from omegaconf import OmegaConf

    from starganv2.cli.train import run
    from tests.integration.conftest import tiny_train_cfg

    extra = ["+trainer.gradient_clip_val=1", "+trainer.gradient_clip_algorithm=value"]
    cfg = tiny_train_cfg(tmp_path, shapes_cache, extra)
    with caplog.at_level(logging.INFO, logger="starganv2"):
        assert run(cfg)["iteration"] == 2
    out = tmp_path / "run"
    hparams = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)["hyper_parameters"]
    assert (hparams["gradient_clip_val"], hparams["gradient_clip_algorithm"]) == (1, "value")
    saved = OmegaConf.load(out / "config_resolved.yaml")
    assert "gradient_clip_val" not in saved.trainer and saved.model.gradient_clip_val == 1
    assert (
        "trainer.gradient_clip_val=1 trainer.gradient_clip_algorithm=value: the model clips each "
        "net's gradients before its optimizer step" in caplog.text
    )


def test_fast_dev_run_from_the_cli_writes_nothing_and_says_so_once(tmp_path, shapes_cache, caplog):
    from starganv2.cli.train import run
    from tests.integration.conftest import tiny_train_cfg

    cfg = tiny_train_cfg(
        tmp_path, shapes_cache, ["+trainer.fast_dev_run=2", "model.total_iters=10"]
    )
    with caplog.at_level(logging.INFO, logger="starganv2"):
        assert run(cfg)["iteration"] == 2
    out = tmp_path / "run"
    # callbacks.checkpoint.every_n_iters=1 and callbacks.samples.every_n_iters=2 would write
    assert not (out / "checkpoints").exists()
    assert not (out / "samples").exists()
    assert not (out / "csv").exists()
    said = [r.getMessage() for r in caplog.records if r.name.startswith("starganv2")]
    said = [m for m in said if m.startswith("trainer.fast_dev_run")]
    assert said == [
        "trainer.fast_dev_run=2: 2 iteration(s) to try the set-up; no checkpoints, sample "
        "grids or logger files are written"
    ]
    assert "evaluate it" not in caplog.text  # no checkpoint to evaluate


@pytest.mark.parametrize("keep", [True, False])
def test_keep_freed_memory_is_applied_as_configured(tmp_path, shapes_cache, monkeypatch, keep):
    """``keep_freed_memory`` (default true) tells the allocator to keep freed memory before
    training starts; false leaves it alone."""
    import starganv2.utils.malloc as malloc
    from starganv2.cli.train import run
    from tests.integration.conftest import compose_train, tiny_train_cfg

    calls: list[bool] = []
    monkeypatch.setattr(malloc, "keep_freed_memory", lambda: calls.append(True) or True)
    assert compose_train([], tmp_path / "default").keep_freed_memory is True
    overrides = ["+trainer.fast_dev_run=1", f"keep_freed_memory={str(keep).lower()}"]
    assert run(tiny_train_cfg(tmp_path, shapes_cache, overrides))["iteration"] == 1
    assert calls == ([True] if keep else [])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "data.img_size=48",
            r"^model\.img_size=48 is invalid: expected a power of two .*"
            r"\(model\.img_size is taken from data\.img_size: set that\)$",
        ),
        ("model.total_iters=-1", r"^model\.total_iters=-1 is invalid: expected an integer >= 1$"),
        (
            "data.num_domains=null",
            r"^model\.num_domains=None has the wrong type: expected int "
            r"\(model\.num_domains is taken from data\.num_domains: set that\)$",
        ),
    ],
)
def test_a_constructors_error_names_the_full_key(tmp_path, shapes_cache, override, message):
    """The nets and modules name their own argument (``img_size=48``); the message a user sees
    names the config key, and the key the user set when the value is interpolated."""
    from starganv2.cli.train import run
    from tests.integration.conftest import TINY_OVERRIDES, compose_train

    data = ["data=shapes", f"data.cache_dir={shapes_cache}"]
    cfg = compose_train([*TINY_OVERRIDES, *data, override], tmp_path / "run")
    with pytest.raises(ValueError, match=message):
        run(cfg)


def test_no_eval_command_is_printed_for_data_without_a_validation_split(tmp_path, caplog):
    """starganv2-eval measures the validation split: for folders without root/val/ the printed
    command would fail ("val: not found"), so the run says why there is none instead."""
    import shutil

    from starganv2.cli.train import run
    from tests.integration.conftest import TINY_OVERRIDES, compose_train, make_folder_dataset

    root = make_folder_dataset(tmp_path / "images", ["cat", "dog"], n=2, size=32)
    data = ["data=folder", f"data.root={root}", "data.num_domains=2"]
    with_val = compose_train([*TINY_OVERRIDES, *data, "model.total_iters=1"], tmp_path / "a")
    with caplog.at_level(logging.INFO, logger="starganv2"):
        run(with_val)
    assert re.search(r"evaluate it: (cd .* && )?starganv2-eval ", caplog.text)
    caplog.clear()
    shutil.rmtree(root / "val")
    no_val = compose_train([*TINY_OVERRIDES, *data, "model.total_iters=1"], tmp_path / "b")
    with caplog.at_level(logging.INFO, logger="starganv2"):
        run(no_val)
    assert not re.search(r"evaluate it: (cd .* && )?starganv2-eval ", caplog.text)
    assert (
        "no evaluate command: starganv2-eval measures a validation split, and these data have none"
        in caplog.text
    )


@pytest.mark.parametrize("cuda_build", [True, False])
def test_a_gpu_accelerator_without_a_gpu_is_one_line(tmp_path, monkeypatch, cuda_build):
    """trainer=gpu (experiment=paper) on a machine without CUDA: Lightning's multi-line 'No
    supported gpu backend found!' becomes one line with the key and the fix."""
    import torch

    from starganv2.cli.config_check import ConfigError
    from starganv2.cli.train import run
    from tests.integration.conftest import TINY_OVERRIDES, compose_train

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0" if cuda_build else None)
    data = ["data=folder", "data.num_domains=2", f"data.root={tmp_path}/nowhere"]
    cfg = compose_train([*TINY_OVERRIDES, *data, "trainer=gpu"], tmp_path / "run")
    why = "sees no CUDA device" if cuda_build else "is a CPU build"
    with pytest.raises(
        ConfigError,
        match=rf"^trainer\.accelerator=gpu but torch .* {why}.*"
        r"set trainer\.accelerator=cpu \(or trainer=cpu\)$",
    ):
        run(cfg)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["experiment=stargan_v1_attributes"],
            ["data=shapes_attributes", "metrics=[attribute_accuracy]"],
        ),
        (["experiment=afhq", "data.root=mini"], ["data=afhq", "data.root=mini"]),
        (["data=shapes"], ["data=shapes", "metrics=[shapes_quality]"]),
    ],
)
def test_the_eval_command_names_the_data_an_experiment_chose(
    tmp_path, overrides, expected, monkeypatch
):
    """The printed eval command composes eval.yaml, whose data default is the shapes: a data
    group chosen by an experiment must be named (data.root=mini alone was 'not in struct'), and
    attribute data are scored offline by their classifier, not FID."""
    import shlex
    from pathlib import Path

    from starganv2.cli.train import eval_command
    from tests.integration.conftest import compose_train

    monkeypatch.delenv("STARGANV2_CACHE", raising=False)  # CI sets it (see the test below)
    cfg = compose_train(overrides, tmp_path / "run")
    words = shlex.split(eval_command(cfg, Path("/runs/r/checkpoints/last.ckpt")))
    words = words[words.index("starganv2-eval") :]
    assert words[2:] == expected


def test_the_eval_command_carries_the_data_a_users_own_experiment_sets(tmp_path, monkeypatch):
    """A user's own experiment (found by ``--config-dir`` or ``hydra.searchpath``) that sets
    ``data.root`` under ``data=folder``: the printed eval command named only ``data=folder``, and
    stopped on ``data.root, data.num_domains are required but not set``. Now it composes to the
    run's data (a top config of the user's, ``--config-name``, takes the same path)."""
    import shlex
    from pathlib import Path

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from starganv2.cli.train import eval_command
    from tests.integration.conftest import CONF_DIR

    monkeypatch.delenv("STARGANV2_CACHE", raising=False)
    conf = tmp_path / "my conf"
    (conf / "experiment").mkdir(parents=True)
    (conf / "experiment" / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /data: folder\n"
        "data:\n  root: my data\n  num_domains: 2\n  img_size: 32\n  batch_size: 2\n"
    )
    searchpath = f"hydra.searchpath=[file://{conf}]"
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", [searchpath, "experiment=mine"], return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        words = shlex.split(eval_command(cfg, Path("/runs/r/checkpoints/last.ckpt")))
        words = words[words.index("starganv2-eval") + 1 :]
        assert "data.batch_size=2" not in words  # loader settings do not choose the images
        evaluated = compose("eval", overrides=words).data
    GlobalHydra.instance().clear()
    assert (evaluated.root, evaluated.num_domains, evaluated.img_size) == ("my data", 2, 32)


def test_the_resume_command_keeps_the_launchs_working_folder(tmp_path):
    """With ``hydra.job.chdir=true`` the job runs in its run folder and a relative
    ``data.root=../../../my_data`` is read from there: the printed resume command dropped the
    option, so from the launch folder the same path named no folder and the resume failed."""
    import shlex

    from starganv2.cli.train import resume_command
    from tests.integration.conftest import compose_train

    overrides = ["hydra.job.chdir=true", "data=folder", "data.root=../../../my_data"]
    cfg = compose_train([*overrides, "data.num_domains=2", "run_name=r"], tmp_path / "run")
    words = shlex.split(resume_command(cfg, tmp_path / "run"))
    assert "hydra.job.chdir=true" in words and "data.root=../../../my_data" in words


@pytest.mark.parametrize(
    ("overrides", "cache_arg"),
    [
        (["data=shapes"], "from_env"),
        (["experiment=stargan_v1_attributes"], "from_env"),
        (["data=shapes", "data.cache_dir=mine"], "data.cache_dir=mine"),
        (["experiment=afhq", "data.root=mini"], None),  # folders: no generated data
    ],
)
def test_the_eval_command_keeps_generated_data_found_through_the_environment(
    tmp_path, monkeypatch, overrides, cache_arg
):
    """Generated data found through $STARGANV2_CACHE: the printed command names that folder, since
    it is run from other shells too, where the variable is unset and the data would be generated
    again under ~/.cache/starganv2."""
    import shlex
    from pathlib import Path

    from starganv2.cli.train import eval_command
    from tests.integration.conftest import compose_train

    cache = tmp_path / "my cache"
    monkeypatch.setenv("STARGANV2_CACHE", str(cache))
    cfg = compose_train(overrides, tmp_path / "run")
    words = shlex.split(eval_command(cfg, Path("/runs/r/checkpoints/last.ckpt")))
    cache_args = [w for w in words if w.startswith("data.cache_dir=")]
    if cache_arg is None:
        assert cache_args == []
    elif cache_arg == "from_env":
        assert cache_args == [f'data.cache_dir="{cache.resolve()}"']
    else:
        assert cache_args == [cache_arg]


@pytest.mark.parametrize(
    ("overrides", "cache_arg"),
    [
        (["data=shapes"], "from_env"),
        (["data=shapes", "data.cache_dir=mine"], "data.cache_dir=mine"),
    ],
)
def test_the_resume_command_keeps_generated_data_found_through_the_environment(
    tmp_path, monkeypatch, overrides, cache_arg
):
    """As the eval command: the resume command printed after a full disk or a stop is run from
    other shells too (found by hunt BB), where the data would be generated again elsewhere."""
    import shlex

    from starganv2.cli.train import resume_command
    from tests.integration.conftest import compose_train

    cache = tmp_path / "my cache"
    monkeypatch.setenv("STARGANV2_CACHE", str(cache))
    cfg = compose_train([*overrides, "run_name=r"], tmp_path / "run")
    words = shlex.split(resume_command(cfg, tmp_path / "run"))
    cache_args = [w for w in words if w.startswith("data.cache_dir=")]
    if cache_arg == "from_env":
        assert cache_args == [f'data.cache_dir="{cache.resolve()}"']
    else:
        assert cache_args == [cache_arg]


def test_missing_weights_in_training_name_the_key_a_user_types(tmp_path, shapes_cache, monkeypatch):
    """The evaluator names its own keys (metrics.fid_lpips.fid_weights); in training they sit
    under callbacks.evaluation.evaluator, where the short key is accepted and ignored."""
    from starganv2.cli.train import run
    from starganv2.evaluation.backbones import MissingWeightsError
    from tests.integration.conftest import tiny_train_cfg

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    cfg = tiny_train_cfg(tmp_path, shapes_cache, ["callbacks=eval"])
    with pytest.raises(MissingWeightsError) as err:
        run(cfg)
    # on the shapes data metrics=auto also runs shapes_quality: the mapping form keeps it
    # (tests/cli/test_eval_weights_hint.py pastes it)
    node = "callbacks.evaluation.evaluator.metrics"
    assert f"'~{node}' '+{node}={{fid_lpips: {{fid_weights: /path/to/" in str(err.value)
    assert "lpips_weights: /path/to/" in str(err.value)
    assert "'++metrics." not in str(err.value) and "'~metrics'" not in str(err.value)
    full = "++callbacks.evaluation.evaluator.metrics.fid_lpips."
    nope = tmp_path / "nope.pth"
    cfg = tiny_train_cfg(tmp_path, shapes_cache, ["callbacks=eval", f"{full}fid_weights={nope}"])
    with pytest.raises(MissingWeightsError, match=rf"{re.escape(full[2:])}fid_weights={nope}: "):
        run(cfg)


@pytest.mark.parametrize("group", ["evaluator", "callbacks.evaluation.evaluator"])
def test_training_a_label_model_asks_no_alexnet_weights(tmp_path, shapes_cache, monkeypatch, group):
    """StarGAN v1 makes one output per image, so LPIPS does not apply: its evaluators in training
    (validation, callbacks=eval) ask for the Inception file only, as starganv2-eval does."""
    from starganv2.cli.train import run
    from starganv2.evaluation.backbones import MissingWeightsError
    from tests.integration.conftest import TINY_SHAPES, compose_train, tiny_overrides

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    probe = compose_train(["model=stargan_v1"], tmp_path / "probe")
    args = ["model=stargan_v1", *tiny_overrides(probe), *TINY_SHAPES]
    args += [f"data.cache_dir={shapes_cache}", f"{group}.metrics=[fid_lpips]"]
    args.append("val_every_n_iters=1" if group == "evaluator" else "callbacks=eval")
    with pytest.raises(MissingWeightsError) as err:
        run(compose_train(args, tmp_path / "run"))
    assert "weights-inception" in str(err.value)
    assert "alexnet" not in str(err.value)


@pytest.mark.parametrize("every", [0, -1])
def test_log_every_n_steps_below_one_is_refused(tmp_path, every):
    """Lightning takes 0 and writes no metrics.csv at all, and -1 as every iteration."""
    from starganv2.cli.train import run
    from tests.integration.conftest import TINY_OVERRIDES, compose_train

    data = ["data=folder", "data.num_domains=2", f"data.root={tmp_path}/nowhere"]
    over = [*TINY_OVERRIDES, *data, f"trainer.log_every_n_steps={every}"]
    with pytest.raises(ValueError, match=rf"^trainer\.log_every_n_steps={every} is invalid"):
        run(compose_train(over, tmp_path / "run"))


@pytest.mark.parametrize(("callbacks", "warned"), [("timing", True), ("none", False)])
def test_a_callback_set_without_the_checkpoints_says_so(tmp_path, caplog, callbacks, warned):
    """``callbacks=timing`` (an option ``--help`` lists) holds the timing callback only: the quick
    experiment's checkpoint and sample intervals had no callback to go to and the run wrote no
    checkpoint without a word. ``callbacks=none`` asks for none: no warning."""
    from starganv2.cli.train import warn_settings_without_a_callback
    from tests.integration.conftest import compose_train

    cfg = compose_train([f"callbacks={callbacks}"], tmp_path / "run")
    with caplog.at_level(logging.WARNING, logger="starganv2"):
        warn_settings_without_a_callback(cfg.callbacks)
    message = "callbacks=timing has no callback for callbacks.checkpoint, callbacks.samples"
    assert (message in caplog.text) == warned
    assert ("callbacks=[default,timing]" in caplog.text) == warned


@pytest.mark.parametrize(
    ("strategy", "cls"),
    [("fsdp", "FSDPStrategy"), ("deepspeed_stage_2", "DeepSpeedStrategy")],
)
def test_a_strategy_lightning_cannot_build_here_is_refused_naming_the_fix(tmp_path, strategy, cls):
    """FSDP on the CPU and DeepSpeed without its package failed in Lightning's Trainer (a
    multi-line Hydra instantiation error for DeepSpeed) before the strategy check could name
    the strategy that trains these models."""
    from starganv2.cli.train import build_trainer
    from tests.integration.conftest import TINY_OVERRIDES, compose_train

    overrides = [*TINY_OVERRIDES, "trainer=ddp_cpu", f"trainer.strategy={strategy}"]
    cfg = compose_train(overrides, tmp_path / "run")
    with pytest.raises(ValueError) as err:
        build_trainer(cfg, [], [])
    assert str(err.value).startswith(
        f"trainer.strategy={strategy} cannot train this model: {cls} is not supported"
    )
    assert str(err.value).endswith(
        "use trainer.strategy=ddp_find_unused_parameters_true or trainer=ddp "
        '(in Python: Trainer(strategy="ddp_find_unused_parameters_true"))'
    )
