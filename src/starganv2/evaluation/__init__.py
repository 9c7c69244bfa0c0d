"""Evaluation: the paper's protocol (``protocol``), pretrained feature networks (``backbones``),
FID/LPIPS (``fid_lpips``: the protocol's loop over the ``torchmetrics`` metrics of ``fid`` and
``lpips``), ground-truth figures on the shapes data (``shapes_quality``: the loop,
with ``shapes_classifier``, ``shapes_estimators``, ``shapes_geometry`` and ``shapes_truth``), the
registry of named metrics and their settings (``registry``) and the ``Evaluator`` that runs them
with one protocol (``evaluator``)."""
