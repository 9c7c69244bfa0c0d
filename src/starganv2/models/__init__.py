"""Models: the :class:`~starganv2.models.interface.Translator` protocol they all implement, the
EMA helpers, the mask providers of the high-pass skip by name (``masks``; the face-landmark net
itself lives in :mod:`starganv2.faces`), and one subpackage per model (``stargan_v2``,
``stargan_v1``)."""
