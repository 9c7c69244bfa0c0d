"""Evaluation: the paper's protocol (``protocol``), pretrained feature networks (``backbones``),
FID/LPIPS (``fid_lpips``), ground-truth figures on the shapes data (``shapes_quality``), the
registry of named metrics (``registry``) and the ``Evaluator`` that runs them (``evaluator``)."""
