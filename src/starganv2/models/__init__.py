"""Models: the :class:`~starganv2.models.interface.Translator` protocol they all implement, the
EMA helpers, and one subpackage per model (``stargan_v2``)."""
