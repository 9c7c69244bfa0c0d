"""Other formats: the original StarGAN v2 checkpoints (``original``), ONNX (``onnx``)."""
