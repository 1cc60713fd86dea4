import json

import numpy as np
import pytest

from conftest import SAMPLE
from sscnb.data._check import check_dataset
from sscnb.data._pairs import find_pairs, read_pair
from sscnb.synthetic import STYLES, make_scene


def test_scene_is_deterministic_and_has_all_classes():
    a_img, a_lab = make_scene("Clearwater", 7, shape=(300, 450))
    b_img, b_lab = make_scene("Clearwater", 7, shape=(300, 450))
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_lab, b_lab)
    assert a_img.shape == (300, 450, 3)
    assert a_img.dtype == np.uint8
    assert set(np.unique(a_lab)) == {0, 1, 2, 3, 4, 5}
    c_img, _ = make_scene("Clearwater", 8, shape=(300, 450))
    assert not np.array_equal(a_img, c_img)


@pytest.mark.slow
def test_committed_sample_data_is_what_the_generator_makes(made_sample_data):
    """What ``sscnb make-sample-data`` writes by default (the session's run of it, which
    test_runner's quiet check shares) is the committed sample data.
    """
    made, rc, _ = made_sample_data
    assert rc == 0
    man = json.loads((SAMPLE / "manifest.json").read_text())
    assert json.loads((made / "manifest.json").read_text())["seed"] == man["seed"]
    assert json.loads((made / "manifest.json").read_text())["shape"] == man["shape"]
    for split in ("Train", "Validate"):
        for rec in find_pairs(SAMPLE / split):
            img, lab = read_pair(rec)
            new = [r for r in find_pairs(made / split) if r.name == rec.name][0]
            img2, lab2 = read_pair(new)
            np.testing.assert_array_equal(lab, lab2)  # labels exact
            assert np.abs(img.astype(int) - img2.astype(int)).mean() < 1.0  # JPEG coder may differ


def test_sample_data_meets_the_brief():
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 10 * 2**20
    assert len(STYLES) >= 2
    for split, n in (("Train", 4), ("Validate", 2)):
        chk = check_dataset(SAMPLE / split, progress=False)
        assert chk.ok
        assert not chk.problems
        inv = chk.inventory
        assert set(inv.river) == set(STYLES)
        assert (inv.groupby("river").size() >= n).all()
        assert ((inv.width == 900) & (inv.height == 600)).all()
        px = chk.totals("px")
        assert (px.loc["ALL"] > 0).all(), "all five classes present"
    tiles = check_dataset(SAMPLE / "Train", progress=False).totals("tiles")
    assert (tiles.loc["ALL"] >= 20).all(), "every class has usable CNN tiles"
