"""Folder translation entry point: ``starganv2-translate ckpt_path=... input_dir=... output_dir=...``.

Translates every image under ``input_dir`` into the chosen domains with ``num_styles`` styles each
(:func:`starganv2.synthesis.translate_folder.translate_folder`). Exits with status 2 when some images could
not be translated (they are listed in the log and in ``<output_dir>/translate_failures.tsv``).
See ``conf/translate.yaml`` for the keys.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, ListConfig

from starganv2.cli.overrides_check import checked_command_line

log = logging.getLogger("starganv2.translate")


def domain_names(cfg: DictConfig, num_domains: int) -> list[str]:
    """Names of the model's domains, in label order.

    The first of: ``domain_names``, the data config's (``data.domains``, its train folders or
    shapes classes), ``ref_dir``'s folders; else the names saved in the checkpoint
    (``ckpt_path``) by training; else ``domain0, domain1, ...``. Names given by the first three
    are compared with the checkpoint's: one that the checkpoint has at another label is refused
    (its outputs would be another domain's translations, filed under its name); other renames
    keep every label and are logged as a warning. ``ref_dir``'s folders that are all names the
    checkpoint saved give the checkpoint's names: references for some of the domains (a
    ``ref_dir`` with ``cat/`` alone, for ``domains=cat``), and the domains in the checkpoint's
    order rather than the folders' alphabetical one.
    """
    given = _given_domain_names(cfg)
    saved = checkpoint_domain_names(cfg, num_domains)
    if given is not None and saved is not None and given[1].startswith("ref_dir="):
        if set(given[0]) <= set(saved):
            return saved
    if given is None:
        return saved or [f"domain{i}" for i in range(num_domains)]
    names, source = given
    if len(names) != num_domains:
        raise ValueError(
            f"{source} gives {len(names)} domain names {names} but the model has "
            f"num_domains={num_domains}; set domain_names=[...] with one name per domain"
        )
    if saved is not None and names != saved:
        _check_against_checkpoint(names, source, saved, cfg.ckpt_path)
    return names


def _given_domain_names(cfg: DictConfig) -> tuple[list[str], str] | None:
    """``(names, where they come from)`` as the user's config gives them, or ``None``."""
    from starganv2.data.folders import list_domains

    if cfg.get("domain_names"):
        return [str(n) for n in cfg.domain_names], "domain_names"
    if cfg.get("data") and cfg.data.get("domains"):
        return [str(n) for n in cfg.data.domains], "data.domains"
    if cfg.get("data") and cfg.data.get("root") and Path(cfg.data.root, "train").is_dir():
        return list_domains(Path(cfg.data.root, "train")), f"{cfg.data.root}/train"
    if cfg.get("data") and str(cfg.data.get("_target_", "")).endswith(".ImageDomainDataModule"):
        raise FileNotFoundError(
            f"data.root={cfg.data.get('root')} has no train/ folder, whose domain folders name "
            "the model's domains: give the dataset's root, or leave out data=... (the "
            "checkpoint's names are used) or set domain_names=[...]"
        )
    if cfg.get("ref_dir"):
        return list_domains(cfg.ref_dir), f"ref_dir={cfg.ref_dir}"
    return None


def checkpoint_domain_names(cfg: DictConfig, num_domains: int) -> list[str] | None:
    """The domain names saved in ``cfg.ckpt_path`` (memory-mapped, no weights read), if any."""
    from starganv2.models.domain_names import saved_domain_names
    from starganv2.models.registry import read_checkpoint

    if not cfg.get("ckpt_path"):
        return None
    return saved_domain_names(read_checkpoint(cfg.ckpt_path), num_domains)


def _check_against_checkpoint(names: list[str], source: str, saved: list[str], ckpt: str) -> None:
    """``ValueError`` when ``names`` moves a domain of ``saved`` to another label; else a
    warning naming both lists."""
    from starganv2.models.domain_names import describe_domains, moved_domains

    moved = moved_domains(saved, names)
    if moved:
        raise ValueError(
            f"{source} gives the domains ({describe_domains(names)}) but ckpt_path={ckpt} was "
            f"trained with ({describe_domains(saved)}): {moved} would be translated with another "
            "domain's label and filed under their own names; give the names in the checkpoint's "
            f"order, domain_names=[{','.join(saved)}], or none (the checkpoint's are used)"
        )
    log.warning(
        "%s names the domains (%s); ckpt_path=%s was trained with (%s): each label keeps its "
        "place, outputs are named as given",
        source,
        describe_domains(names),
        ckpt,
        describe_domains(saved),
    )


def refuse_attribute_model(module: Any, ckpt_path: str, tool: str) -> None:
    """``ValueError`` for a model driven by attribute vectors (StarGAN v1, ``label_mode=multi``):
    ``tool`` translates into domains, which such a model does not have."""
    if getattr(module, "multi_label", False):
        raise ValueError(
            f"{tool} translates images into domains, and ckpt_path={ckpt_path} is a StarGAN v1 "
            f"model driven by attribute vectors ({', '.join(module.attribute_names)}), which "
            "has none: its test grid comes from starganv2-sample with its attribute data config "
            "(README, 'StarGAN v1 as a baseline'); from Python, translate_labels(x, c_trg)"
        )


def target_domains(cfg: DictConfig, names: list[str]) -> list[int] | None:
    """``domains`` (names or indices; one value is a list of one) as indices; ``None`` for all.

    ``ValueError`` naming ``domains`` for an empty list (which would translate nothing), a bool,
    an unknown name or index, a name that ``names`` gives more than one domain (which of them
    is meant cannot be told), or a domain listed twice (its outputs would be written twice)."""
    domains = cfg.get("domains")
    if domains is None:
        return None
    values = list(domains) if isinstance(domains, ListConfig | list | tuple) else [domains]
    if not values:
        raise ValueError(
            "domains=[] selects no domain: list at least one, or set domains=null for all "
            f"of {names}"
        )
    out = []
    for d in values:
        if not isinstance(d, bool) and isinstance(d, int) and 0 <= d < len(names):
            out.append(d)
        elif not isinstance(d, bool) and d in names:
            out.append(_index_of_name(d, names))
        else:
            raise ValueError(
                f"domains: {d!r} is not one of {names} nor an index below {len(names)}"
            )
    twice = sorted({names[y] for y in out if out.count(y) > 1})
    if twice:
        raise ValueError(f"domains={values} names {twice} more than once: list each domain once")
    return out


def _index_of_name(name: str, names: list[str]) -> int:
    """The label ``name`` names in ``names``; ``ValueError`` when several domains have it."""
    labels = [y for y, n in enumerate(names) if n == name]
    if len(labels) > 1:
        raise ValueError(
            f"domains: {name!r} names domains {labels} (domain names {names}): give each "
            "domain its own name in domain_names=[...], or select it by index"
        )
    return labels[0]


def run(cfg: DictConfig) -> Any:
    """Translate as configured by ``cfg``; returns the :class:`TranslateReport`."""
    from starganv2.cli.common import load_module, resolve_device
    from starganv2.synthesis.translate_folder import translate_folder
    from starganv2.utils.checks import check_int

    check_int(cfg.batch_size, "batch_size")  # before the model is loaded
    if cfg.ref_dir is not None and not Path(cfg.ref_dir).is_dir():
        raise FileNotFoundError(f"ref_dir={cfg.ref_dir} is not a folder")
    module = load_module(cfg.ckpt_path, resolve_device(cfg.device))
    refuse_attribute_model(module, cfg.ckpt_path, "starganv2-translate")
    names = domain_names(cfg, module.num_domains)
    return translate_folder(
        module,
        cfg.input_dir,
        cfg.output_dir,
        target_domains=target_domains(cfg, names),
        domain_names=names,
        num_styles=cfg.num_styles,
        ref_dir=cfg.ref_dir,
        psi=cfg.psi,
        resize_back=cfg.resize_back,
        batch_size=cfg.batch_size,
        sidecar_extensions=None if cfg.sidecar_extensions is None else list(cfg.sidecar_extensions),
        name_template=cfg.name_template,
        output_suffix=cfg.output_suffix,
        quality=cfg.quality,
        overwrite=cfg.overwrite,
        seed=cfg.seed,
        progress=cfg.progress,
    )


@checked_command_line
@hydra.main(version_base="1.3", config_path="../conf", config_name="translate")
def main(cfg: DictConfig) -> None:
    """Hydra shim around :func:`run`; bad input: one error line and status 1; images that could
    not be translated: status 2."""
    from starganv2.cli.common import run_stoppable

    report = run_stoppable(run, cfg, log, "starganv2-translate")
    if report.failed:
        sys.exit(2)


if __name__ == "__main__":
    main()
