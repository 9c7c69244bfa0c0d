"""Data: image folders (``folders``), datasets and the balanced sampler (``sampling``), the
LightningDataModules (``datamodule``) and the built-in synthetic shapes (``shapes``)."""
