"""The data layer on the real StMarg images (skipped when ../shared/data/stmarg is absent)."""

import numpy as np
import pytest

from sscnb.data._check import check_dataset
from sscnb.data._pairs import find_pairs, read_pair

pytestmark = pytest.mark.realdata


def test_stmarg_train_inventory(stmarg):
    chk = check_dataset(stmarg / "Train", progress=False)
    inv = chk.inventory
    assert len(inv) == 10, chk.problems
    assert chk.ok, chk.problems
    assert ((inv.width == 3008) & (inv.height == 1960)).all()
    px = chk.totals("px").loc["ALL"]
    assert (px[["water", "dry sediment", "green vegetation"]] > 0).all()
    assert (px[["senescent vegetation", "paved road"]] == 0).all()
    # every image is paired with its no-underscore label
    assert all(r.label_path.name == f"SCLS_StMarg{r.number}.tif" for r in chk.records)
    # 7745 pure tiles at 50 px / 90% (the figure the CNN issue quotes)
    assert int(chk.totals("tiles").loc["ALL"].sum()) == 7745


def test_stmarg_validate_pairs_and_float_labels(stmarg):
    recs = find_pairs(stmarg / "Validate")
    assert len(recs) == 5
    assert all(r.has_label for r in recs)
    img, lab = read_pair(recs[0])
    assert img.shape == (1960, 3008, 3)
    assert lab.dtype == np.uint8
    assert (lab > 0).mean() > 0.9
