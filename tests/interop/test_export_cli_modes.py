"""``starganv2-export --mode`` accepts every guidance mode a model can have."""

from __future__ import annotations

from starganv2.cli.export import parser
from starganv2.models.interface import MODE_ATTRIBUTE, MODE_LABEL, MODE_LATENT, MODE_REFERENCE


def test_every_guidance_mode_is_a_mode_choice():
    """An attribute-driven StarGAN v1 (--labels celeba) has only the 'attribute' graph, and the
    export's error said to use it, but --mode refused 'attribute' (argparse: invalid choice)."""
    for mode in (MODE_LATENT, MODE_REFERENCE, MODE_LABEL, MODE_ATTRIBUTE):
        assert parser().parse_args(["m.ckpt", "out", "--mode", mode]).mode == mode
