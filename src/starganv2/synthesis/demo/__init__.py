"""A local web demo of a trained model (``starganv2-demo ckpt_path=...``, ``pip install
'starganv2[demo]'``).

- ``inputs``: uploads of any format and size into RGB pictures, or a message saying why not.
- ``engine``: the model and what the page computes (fit, styles, translation, blends, videos),
  without Gradio.
- ``app``: the Gradio page around an engine; its main function is the API endpoint
  ``translate``.

The letterbox/crop fit of pictures to the model's square lives in :mod:`starganv2.synthesis.fit`,
for every tool that translates pictures of any shape.
"""
