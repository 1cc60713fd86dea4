import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from sscnb.assess._metrics import class_report, confusion, errors_by_confidence, macro_f1, read_report, weighted_f1, write_report


def test_hand_case():
    # 10 labelled pixels + 2 unlabelled (ignored whatever predicted)
    t = np.array([1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 0, 0])
    p = np.array([1, 1, 1, 2, 2, 2, 0, 3, 3, 1, 5, 2])
    cm = confusion(t, p, [1, 2, 3])
    np.testing.assert_array_equal(cm, [[3, 1, 0, 0], [0, 2, 0, 1], [1, 0, 2, 0]])
    r = class_report(t, p, [1, 2, 3]).set_index("class")
    # water: P 3/4, R 3/4; sediment: P 2/3, R 2/3; veg: P 1, R 2/3
    assert r.loc[1, "precision"] == pytest.approx(0.75)
    assert r.loc[1, "recall"] == pytest.approx(0.75)
    assert r.loc[2, "f1_score"] == pytest.approx(2 / 3)
    assert r.loc[3, "f1_score"] == pytest.approx(0.8)
    assert list(r.support) == [4, 3, 3]
    assert weighted_f1(r.reset_index()) == pytest.approx((0.75 * 4 + 2 / 3 * 3 + 0.8 * 3) / 10)


def test_matches_scikit_learn_on_random_maps():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 6, (60, 70))
    p = np.where(rng.random(t.shape) < 0.7, t, rng.integers(0, 6, t.shape))
    codes = [1, 2, 3, 4, 5]
    r = class_report(t, p, codes)
    m = t > 0
    pr, rc, f1, sup = precision_recall_fscore_support(t[m], p[m], labels=codes, zero_division=0)
    np.testing.assert_allclose(r.precision, pr)
    np.testing.assert_allclose(r.recall, rc)
    np.testing.assert_allclose(r.f1_score, f1)
    np.testing.assert_array_equal(r.support, sup)
    assert weighted_f1(r) == pytest.approx(f1_score(t[m], p[m], labels=codes, average="weighted", zero_division=0))


def test_macro_f1_counts_every_labelled_class_the_same():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 5, (50, 60))  # class 5 never labelled, but predicted
    p = np.where(rng.random(t.shape) < 0.6, t, rng.integers(1, 6, t.shape))
    m = t > 0
    r = class_report(t, p, [1, 2, 3, 4, 5])
    assert 5 in set(r["class"])
    assert r.loc[r["class"] == 5, "support"].item() == 0
    assert macro_f1(r) == pytest.approx(f1_score(t[m], p[m], labels=[1, 2, 3, 4], average="macro", zero_division=0))
    assert np.isnan(macro_f1(class_report(np.zeros((4, 4), int), np.ones((4, 4), int), [1])))


def test_names_and_csv_round_trip(tmp_path):
    t = np.array([1, 2, 2])
    p = np.array([1, 2, 1])
    r = class_report(t, p, [1, 2, 3], names={1: "water", 2: "dry sediment", 3: "green vegetation"})
    assert list(r["class"]) == ["water", "dry sediment"]  # class 3: no support, never predicted
    path = write_report(r, tmp_path / "CNN_x_e.csv")
    assert path.read_text().splitlines()[0] == "class,precision,recall,f1_score,support"
    back = read_report(path)
    assert list(back["support"]) == [1, 2]
    (tmp_path / "bad.csv").write_text("class,precision\nwater,1\n")
    with pytest.raises(ValueError, match="bad.csv lacks columns"):
        read_report(tmp_path / "bad.csv")


def test_confusions_of_strips_add_up_to_the_whole_maps_report():
    from sscnb.assess._metrics import report_from_confusion

    rng = np.random.default_rng(5)
    t = rng.integers(0, 6, (90, 40))
    p = np.where(rng.random(t.shape) < 0.8, t, rng.integers(0, 6, t.shape))
    codes = [1, 2, 3, 4, 5]
    cm = sum(confusion(t[a : a + 30], p[a : a + 30], codes) for a in (0, 30, 60))
    import pandas as pd

    pd.testing.assert_frame_equal(report_from_confusion(cm, codes), class_report(t, p, codes))


def test_weighted_f1_over_several_images_weights_by_pixels():
    import pandas as pd

    a = pd.DataFrame({"class": [1, 2], "precision": [1, 1], "recall": [1, 1], "f1_score": [1.0, 0.5], "support": [100, 100]})
    b = pd.DataFrame({"class": [1], "precision": [1], "recall": [1], "f1_score": [0.0], "support": [800]})
    assert weighted_f1(a) == pytest.approx(0.75)
    assert weighted_f1([a, b]) == pytest.approx((100 + 50) / 1000)  # not the mean of 0.75 and 0
    assert np.isnan(weighted_f1([]))


def test_errors_by_confidence_against_a_plain_loop():
    rng = np.random.default_rng(3)
    tile, rows, cols = 4, 5, 6
    lab = rng.integers(0, 4, (rows * tile + 3, cols * tile + 2)).astype(np.uint8)  # a margin no tile covers
    pred = np.where(rng.random(lab.shape) < 0.3, rng.integers(1, 4, lab.shape), lab).astype(np.uint8)
    conf = rng.random((rows, cols))
    conf[0, 0] = -1  # not classified: left out
    got = errors_by_confidence(lab, pred, conf, tile)
    tiles = []
    for r in range(rows):
        for c in range(cols):
            lt, pt = (
                lab[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile],
                pred[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile],
            )
            if conf[r, c] >= 0 and (lt > 0).any():
                tiles.append((conf[r, c], int(((lt > 0) & (pt != lt)).sum()), int((lt > 0).sum())))
    tiles.sort()
    low, high = tiles[: len(tiles) // 2], tiles[len(tiles) // 2 :]
    assert got["tiles"] == len(tiles)
    assert got["low"] == pytest.approx(sum(t[1] for t in low) / sum(t[2] for t in low))
    assert got["high"] == pytest.approx(sum(t[1] for t in high) / sum(t[2] for t in high))


def test_atomic_path_renames_on_success_and_leaves_nothing_on_failure(tmp_path):
    """Every file sscnb writes goes through provenance.atomic_path: a failed write leaves neither
    a half-written file under the final name nor a temporary file, and an existing file stays.
    """
    from sscnb.provenance import atomic_path

    target = tmp_path / "sub" / "report.csv"

    def interrupted_write(text):
        with atomic_path(target) as tmp:
            tmp.write_text(text)
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted_write("half")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
    rep = pd.DataFrame({"class": [1], "precision": [1.0], "recall": [1.0], "f1_score": [1.0], "support": [5]})
    write_report(rep, target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        interrupted_write("new")
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["report.csv"]
