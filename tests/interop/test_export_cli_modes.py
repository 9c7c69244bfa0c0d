"""``starganv2-export``: ``--mode`` accepts every guidance mode a model can have, and an output
folder that cannot be one is refused before the export."""

from __future__ import annotations

import pytest

from starganv2.cli.export import parser
from starganv2.interop.onnx import export_onnx
from starganv2.models.interface import MODE_ATTRIBUTE, MODE_LABEL, MODE_LATENT, MODE_REFERENCE
from starganv2.models.stargan_v2.module import StarGANv2Module
from tests.helpers import TINY


def test_every_guidance_mode_is_a_mode_choice():
    """An attribute-driven StarGAN v1 (--labels celeba) has only the 'attribute' graph, and the
    export's error said to use it, but --mode refused 'attribute' (argparse: invalid choice)."""
    for mode in (MODE_LATENT, MODE_REFERENCE, MODE_LABEL, MODE_ATTRIBUTE):
        assert parser().parse_args(["m.ckpt", "out", "--mode", mode]).mode == mode


def test_an_output_folder_that_is_or_lies_under_a_file_is_refused(tmp_path):
    """Found only at the first write: a NotADirectoryError traceback (under a file) or a bare
    '[Errno 17] File exists' (the file itself), after the model was traced."""
    afile = tmp_path / "model.ckpt"
    afile.write_bytes(b"x")
    module = StarGANv2Module(**TINY)
    for out in (afile, afile / "sub"):
        with pytest.raises(FileExistsError, match=r"model\.ckpt is a file, not a folder"):
            export_onnx(module, out, verify=False)
    assert afile.read_bytes() == b"x"


@pytest.mark.parametrize("opset", [9, 17, 10_000])
def test_an_opset_the_exporter_cannot_write_is_refused_by_name(tmp_path, opset):
    """``--opset 9`` wrote opset 18 files after a page of the converter's tracebacks, 17 and
    anything above the installed onnx's newest ended in ``onnx.checker``'s traceback."""
    pytest.importorskip("onnxscript")
    with pytest.raises(ValueError, match=f"opset={opset} is invalid: the exporter writes"):
        export_onnx(StarGANv2Module(**TINY), tmp_path / "o", opset=opset, verify=False)
    assert not (tmp_path / "o").exists()


def test_psi_with_no_latent_graph_is_refused(tmp_path):
    """``--mode reference --psi 0.7`` wrote an untruncated reference.onnx and said nothing."""
    pytest.importorskip("onnxscript")
    with pytest.raises(ValueError, match=r"psi=0.7 truncates .* modes=\['reference'\] export no"):
        export_onnx(
            StarGANv2Module(**TINY), tmp_path / "o", modes=["reference"], psi=0.7, verify=False
        )
    assert not (tmp_path / "o").exists()


def test_an_extra_that_fails_to_import_is_not_called_missing(tmp_path, monkeypatch):
    """An ``onnx.py`` beside a user's script made onnxscript's import fail, and the export said
    onnxscript "is not installed": pip install 'starganv2[export]' then changed nothing."""
    from starganv2.interop.onnx import _require

    (tmp_path / "broken_extra.py").write_text("from onnx import not_a_name\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="broken_extra, which is installed but cannot be imp"):
        _require("broken_extra")
    with pytest.raises(ImportError, match="absent_extra, which is not installed: pip install"):
        _require("absent_extra")
