"""Style means and truncation for the synthesis tools: re-exported from
:mod:`starganv2.models.styles`, where they moved so that the modules' ``predict_step`` can
truncate too (a model may not import ``synthesis/``). Import from either place."""

from starganv2.models.styles import (
    MEAN_STYLE_SEED,
    NUM_MEAN_CODES,
    check_psi,
    check_psi_rows,
    check_style_means,
    latent_styles,
    seeded_style_means,
    style_means,
    truncate,
)

__all__ = [
    "MEAN_STYLE_SEED",
    "NUM_MEAN_CODES",
    "check_psi",
    "check_psi_rows",
    "check_style_means",
    "style_means",
    "seeded_style_means",
    "truncate",
    "latent_styles",
]
