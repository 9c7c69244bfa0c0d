"""Faces: the frozen face-landmark network (``fan``: :class:`~starganv2.faces.fan.FAN`), the two
face masks of StarGAN v2's high-pass skip drawn from its heatmaps (``masks``), and face
alignment as the CelebA-HQ model expects its inputs (``align``).

The layer below models and data: both use it (the ``"fan"`` mask provider of
:mod:`starganv2.models.masks`; folder alignment in :mod:`starganv2.data.align_folder`), and it
imports only ``starganv2.utils`` (docs/faces.md).
"""
