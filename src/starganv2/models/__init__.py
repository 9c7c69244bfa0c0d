"""Models: the :class:`~starganv2.models.interface.Translator` protocol they all implement, the
EMA helpers, the face-landmark net (``fan``), and one subpackage per model (``stargan_v2``,
``stargan_v1``)."""
