"""``save_images``: each ``<mode>/<task>/`` folder holds this run's outputs only; the outputs an
earlier run left there are deleted, nothing else is."""

from __future__ import annotations

from pathlib import Path

from starganv2.evaluation import fid_lpips as FL
from tests.evaluation.conftest import TinyFeatures, evaluate, write_domain_data


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_second_run_with_fewer_outputs_leaves_no_stale_image(tmp_path, offline_hub, tiny_module):
    root = write_domain_data(tmp_path / "data", ["a", "b"], n_train=3, n_val=3)
    saved = tmp_path / "out"
    kw = {"feature_extractor": TinyFeatures(), "modes": ["latent"], "save_images": saved}
    evaluate(tiny_module, root, num_outs_per_domain=3, **kw)
    task = saved / "latent" / "b2a"
    assert len(_names(task)) == 9 and "0003_03.png" in _names(task)
    # files the tool did not write, in the task folder and above it
    for path in (task / "notes.txt", task / "keep.png", saved / "latent" / "0009_09.png"):
        path.write_text("mine")
    (saved / "reference" / "b2a").mkdir(parents=True)
    (saved / "reference" / "b2a" / "0001_01.png").write_text("another mode, not run")

    evaluate(tiny_module, root, num_outs_per_domain=2, max_images_per_domain=2, **kw)
    for name in ("b2a", "a2b"):
        pngs = [n for n in _names(saved / "latent" / name) if n[0].isdigit()]
        assert pngs == ["0001_01.png", "0001_02.png", "0002_01.png", "0002_02.png"]
    assert {"notes.txt", "keep.png"} <= set(_names(task))
    assert (saved / "latent" / "0009_09.png").is_file()
    assert (saved / "reference" / "b2a" / "0001_01.png").is_file()


def test_each_rank_deletes_the_names_of_its_own_share(tmp_path, monkeypatch):
    """Under DDP rank ``r`` of ``W`` writes source images ``r, r + W, ...`` (``iiii - 1``): it
    deletes those names only, so it never deletes a file another rank has just written."""
    for i in range(1, 6):
        (tmp_path / f"{i:04d}_01.png").write_text("old")
    monkeypatch.setattr(FL, "rank_world", lambda: (1, 2))
    FL.FidLpips._clear_saved(tmp_path)
    assert _names(tmp_path) == ["0001_01.png", "0003_01.png", "0005_01.png"]
    FL.FidLpips._clear_saved(tmp_path / "absent")  # no folder yet: nothing to do
