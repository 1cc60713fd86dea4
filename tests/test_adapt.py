"""Adapting a model to a new river: class-key merging, the widened head, lineage, the labeller
(saved at every click, resumed), and phase 2's self-check.
"""

import json

import numpy as np
import pandas as pd
import pytest

from sscnb import labels, ssc
from sscnb.adapt import _finetune as adapt
from sscnb.cnn import _classkey as classkey
from sscnb.cnn import _files as modelfiles
from sscnb.cnn import _model as cnn
from sscnb.cnn._tilesets import TileSet
from sscnb.data._classes import ClassScheme
from sscnb.labels import _labeller as labeller
from sscnb.provenance import file_sha256

T = 10
SCHEME = ClassScheme.default()


def _scene(kind: str, seed=0, h=60, w=80):
    """Left half water-blue, right half green (StMarg-like), or grey water and brown-grey sediment."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    lab = np.zeros((h, w), np.uint8)
    if kind == "old":
        img[:, : w // 2], lab[:, : w // 2] = (30, 80, 140), 1
        img[:, w // 2 :], lab[:, w // 2 :] = (60, 130, 50), 3
    else:
        img[:, : w // 2], lab[:, : w // 2] = (90, 95, 95), 1
        img[:, w // 2 :], lab[:, w // 2 :] = (150, 140, 120), 2
    img = np.clip(img.astype(int) + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)
    return img, lab


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A compact CNN of 10 px tiles trained for one epoch on an 'Oldriver', saved with a card that
    records its training folder.
    """
    import imageio.v3 as iio
    import tifffile

    from sscnb.cnn._tilesets import collect_tiles
    from sscnb.data._pairs import find_pairs

    root = tmp_path_factory.mktemp("parent")
    train = root / "Train"
    train.mkdir()
    for k in range(2):
        img, lab = _scene("old", k)
        iio.imwrite(train / f"Oldriver_000{k + 1}.png", img)
        tifffile.imwrite(train / f"SCLS_Oldriver_000{k + 1}.tif", lab)
    tiles = collect_tiles(find_pairs(train), SCHEME, T, 0.9, progress=False)
    key = classkey.make_class_key(tiles, SCHEME)
    model = cnn.build_model("compact", key.n_outputs, T, seed=0)
    cnn.train(model, tiles.x, key.encode(tiles.y, tiles.river), epochs=1, batch_size=16, progress=False)
    card = modelfiles.make_card(
        backbone="compact",
        weights=None,
        tile_size=T,
        purity=0.9,
        scheme=SCHEME,
        tiles=tiles,
        epochs=1,
        seed=0,
        data_dir=str(train),
    )
    modelfiles.save_model(root / "model", "old", model, key, card)
    return modelfiles.load_model(root / "model" / "old.keras")


def _new_tiles(n=6):
    img, _ = _scene("new", 5)
    x = np.stack([img[:T, :T]] * n + [img[:T, -T:]] * n)
    y = np.array([1] * n + [2] * n)
    return TileSet(x, y, np.array(["Newriver"] * 2 * n, object), np.array(["Newriver_0001"] * 2 * n, object), T, 1.0)


@pytest.mark.slow  # the parent fixture trains a CNN
def test_class_key_merge_keeps_the_parent_rows_and_adds_the_new_rivers_classes(parent):
    key, added = adapt.merge_class_key(parent.key, _new_tiles(), SCHEME)
    n = parent.key.n_outputs
    pd.testing.assert_frame_equal(key.table.iloc[:n].reset_index(drop=True), parent.key.table)
    assert added == [n, n + 1]
    assert list(key.table.River[n:]) == ["Newriver", "Newriver"]
    assert list(key.table.HierarchClass[n:]) == [1, 2]
    assert list(key.table.ClassName[n:]) == ["water", "dry sediment"]
    assert list(key.table.LocalClass) == list(range(n + 2))
    again, added2 = adapt.merge_class_key(key, _new_tiles(), SCHEME)  # nothing new the second time
    assert added2 == []
    assert again.n_outputs == key.n_outputs


@pytest.mark.slow  # the parent fixture trains a CNN
def test_widened_model_predicts_what_the_parent_did_before_training(parent):
    key, _ = adapt.merge_class_key(parent.key, _new_tiles(), SCHEME)
    wide = adapt.widen_model(parent.model, parent.key, key)
    x = _new_tiles().x.astype(np.float32)
    p_old = parent.key.to_hierarchical(parent.model.predict(x, verbose=0))
    p_new = key.to_hierarchical(wide.predict(x, verbose=0))
    # shared classes keep their probabilities; the class the parent never saw (sediment) starts near 0
    for code, col in zip(*p_old[:1], p_old[1].T, strict=True):
        np.testing.assert_allclose(p_new[1][:, list(p_new[0]).index(code)], col, atol=2e-3)
    assert p_new[1][:, list(p_new[0]).index(2)].max() < 2e-3


@pytest.mark.slow  # the parent fixture trains a CNN
def test_fine_tune_records_its_lineage_and_saves_a_model_that_loads(parent, tmp_path):
    before = [w.copy() for w in parent.model.get_weights()]
    res = adapt.fine_tune(parent, _new_tiles(), replay=0.5, epochs=2, progress=False, seed=1)
    for a, b in zip(before, parent.model.get_weights(), strict=True):  # the parent is left as it was
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(res.model.get_weights()[0], before[0])
    lin = res.card["lineage"]
    assert lin["parent_sha256"] == file_sha256(parent.path)
    assert lin["parent_model"] == "old.keras"
    assert lin["parent_rivers"] == ["Oldriver"]
    assert lin["rivers_added"] == ["Newriver"]
    assert lin["tiles_added"] == {"Newriver": {"water": 6, "dry sediment": 6}}
    n_parent_tiles = sum(sum(v.values()) for v in parent.card["tiles_per_class"].values())
    assert lin["replayed_tiles"] == pytest.approx(0.5 * n_parent_tiles, abs=2)
    assert lin["epochs"] == 2
    assert lin["colour_augment"]["aug_gamma"] > 0
    assert res.card["tiles_per_class"]["Newriver"] == {"dry sediment": 6, "green vegetation": 0, "water": 6}
    paths = modelfiles.save_model(tmp_path, "adapted", res.model, res.key, res.card)
    cnn = modelfiles.load_model(paths["model"])
    assert cnn.key.n_outputs == parent.key.n_outputs + 2
    assert json.loads(paths["card"].read_text())["lineage"]["parent_sha256"] == lin["parent_sha256"]
    # the parent's key does not belong to the adapted model: refused
    parent.key.to_csv(paths["class_key"])
    with pytest.raises(modelfiles.ModelMismatchError, match="adapted_classkey.csv is not the class key"):
        modelfiles.load_model(paths["model"])


@pytest.mark.slow  # the parent fixture trains a CNN
def test_replay_needs_the_parents_training_folder(parent):
    card = {k: v for k, v in parent.card.items() if k != "data_dir"}
    with pytest.raises(adapt.AdaptError, match="give replay_dir"):
        adapt.replay_tiles(card, 0.1, SCHEME)
    with pytest.raises(adapt.AdaptError, match="does not exist here"):
        adapt.replay_tiles(card, 0.1, SCHEME, replay_dir="/nonexistent/Train")
    assert adapt.replay_tiles(card, 0, SCHEME) is None
    rep = adapt.replay_tiles(parent.card, 10, SCHEME, progress=False)
    assert len(rep) == 10
    assert set(rep.y) == {1, 3}


@pytest.mark.slow  # the parent fixture trains a CNN
def test_sscnb_adapt_command_writes_the_model_and_prints_its_path_last(parent, tmp_path, capsys):
    import imageio.v3 as iio

    from sscnb.__main__ import main

    img, lab = _scene("new", 3)
    ip = tmp_path / "imgs" / "Newriver_0001.png"
    ip.parent.mkdir()
    iio.imwrite(ip, img)
    rows = labels.labels_from_raster(lab, "Newriver_0001", T, SCHEME)
    lp = labels.write_tile_labels(tmp_path / "tile_labels.csv", rows, T)
    out = tmp_path / "adapted"
    rc = main(
        [
            "-q",
            "adapt",
            "--model",
            str(parent.path),
            "--labels",
            str(lp),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--replay",
            "20",
            str(ip.parent),
        ]
    )
    printed = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    assert printed[-1] == str(out / "cnn_adapted.keras")
    m = modelfiles.load_model(printed[-1])
    assert m.card["lineage"]["replayed_tiles"] == 20
    assert (out / "cnn_adapted_history.csv").exists()
    # a bad labels file: a clear error, nothing written
    bad = tmp_path / "bad.csv"
    bad.write_text("# sscnb tile labels, tile_size=10\nimage,tile_row,tile_col,class_code\nNewriver_0001,0,0,42\n")
    rc = main(["-q", "adapt", "--model", str(parent.path), "--labels", str(bad), "--out", str(tmp_path / "x"), str(ip.parent)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "bad.csv, line 3: class code 42 is not in the class scheme" in err  # the file's own line (after its comment)
    assert not (tmp_path / "x").exists()
    # the same name again: refused, the first model kept
    rc = main(["-q", "adapt", "--model", str(parent.path), "--labels", str(lp), "--out", str(out), str(ip.parent)])
    assert rc == 1
    assert "exists" in capsys.readouterr().err
    # a model of that name saved as a head (.npz) is refused too; --overwrite replaces every file of the earlier one
    (out / "cnn_adapted.keras").rename(out / "cnn_adapted.npz")
    (out / "cnn_adapted_card.json.aux.xml").write_text("a sidecar")
    first_card = (out / "cnn_adapted_card.json").read_text()
    argv = ["-q", "adapt", "--model", str(parent.path), "--labels", str(lp), "--out", str(out), "--epochs", "1", str(ip.parent)]
    assert main(argv) == 1
    assert "cnn_adapted.npz exists" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "cnn_adapted.keras",
        "cnn_adapted_card.json",
        "cnn_adapted_classkey.csv",
        "cnn_adapted_history.csv",
    ]
    assert (out / "cnn_adapted_card.json").read_text() != first_card  # the new model's
    assert modelfiles.load_model(out / "cnn_adapted.keras").card["lineage"]["replayed_tiles"] > 0


@pytest.mark.slow  # the parent fixture trains a CNN
def test_labeller_saves_every_click_and_resumes(parent, tmp_path):
    import imageio.v3 as iio

    img, _ = _scene("new", 4)
    ip = tmp_path / "Newriver_0002.png"
    iio.imwrite(ip, img)
    path = tmp_path / "labels" / "tile_labels.csv"
    s = labeller.LabelSession({"Newriver_0002": ip}, path, parent, order="mixed", seed=0)
    assert len(s.queue) == 6 * 8
    first = s.current()
    s.label(1)
    assert len(labels.read_tile_labels(path, SCHEME, T)) == 1  # on disk after the first click
    s.label(labels.MIXED)
    s.label(labels.SKIP)
    t = labels.read_tile_labels(path, SCHEME, T)
    assert list(t.class_code) == [1, 0, -1]
    assert (t.image.iloc[0], t.tile_row.iloc[0], t.tile_col.iloc[0]) == first
    with pytest.raises(labels.LabelError, match="class code 9 is not in the class scheme"):
        s.label(9)
    assert len(labels.read_tile_labels(path, SCHEME, T)) == 3
    # a new session (the kernel died) resumes: the three tiles are not shown again
    s2 = labeller.LabelSession({"Newriver_0002": ip}, path, parent, order="mixed", seed=0)
    done = set(zip(t.image, t.tile_row, t.tile_col, strict=True))
    assert s2.current() not in done
    assert s2.counts()["water"] == 1
    assert s2.counts()["skipped"] == 1
    # the widget: a button click is a label, saved at once
    tool = labeller.TileLabeller(s2)
    water = [b for b in tool.buttons if b.description == "water"][0]
    water.click()
    assert len(labels.read_tile_labels(path, SCHEME, T)) == 4
    assert "water 2" in tool.counts.value
    fig = tool.figure()
    assert len(fig.axes) == 2


def test_tile_orders():
    rng = np.random.default_rng(0)
    colours = np.array([(200, 0, 0), (0, 200, 0), (0, 0, 200)], np.uint8)
    which = np.array([0] * 30 + [1] * 5 + [2] * 5)
    x = np.broadcast_to(colours[which][:, None, None, :], (40, T, T, 3)).copy()
    conf = rng.random(40)
    for order in labeller.ORDERS:
        o = labeller.tile_order(x, conf, order, seed=1)
        assert sorted(o) == list(range(40)), order
    lc = labeller.tile_order(x, conf, "least_confident")
    assert np.all(np.diff(conf[lc]) >= 0)
    div = labeller.tile_order(x, None, "diverse", seed=3)
    assert set(which[div[:3]]) == {0, 1, 2}  # every look within the first three tiles
    with pytest.raises(ValueError, match="needs the model's confidence"):
        labeller.tile_order(x, None, "mixed")


def test_tiles_that_straddle_two_classes_are_shown_last():
    """A tile half water, half bar is likely mixed (a click the user cannot give a class): the mixed and
    least_confident orders show the likeliest 30% of those last, however unsure the model is of them; textured pure tiles are not.
    """
    rng = np.random.default_rng(0)
    pure = rng.integers(60, 140, (20, T, T, 3)).astype(np.uint8)  # texture within one class
    halves = np.zeros((10, T, T, 3), np.uint8)
    halves[:, :, : T // 2] = (30, 60, 120)  # water
    halves[:, :, T // 2 :] = (200, 190, 150)  # a bar
    x = np.concatenate([pure, halves])
    assert labeller.likely_mixed(halves).min() > labeller.likely_mixed(pure).max()
    conf = np.concatenate([np.linspace(0.5, 0.9, 20), np.linspace(0.2, 0.3, 10)])  # the halves least sure
    lc = labeller.tile_order(x, conf, "least_confident")
    assert sorted(lc[-9:]) == list(range(20, 29))  # the 9 likeliest mixed (30% of 30; ties in their order) last
    assert list(lc[:21]) == [29, *range(20)]  # the rest as before: least sure first
    assert set(labeller.tile_order(x, conf, "mixed", seed=2)[-9:]) <= set(range(20, 30))
    assert set(labeller.tile_order(x, conf, "diverse", seed=2)[-9:]) != set(range(20, 29))  # every look, in turn


def _gather_from(features):
    return lambda r, c: features[r, c]


def test_self_check_keeps_the_tile_map_when_colours_cannot_carry_the_classes():
    grid = np.indices((8, 8)).sum(axis=0) % 2 + 1  # a checkerboard of classes 1 and 2
    conf = np.ones((8, 8))
    tile = 10
    noise = np.random.default_rng(0).integers(0, 255, (80, 80, 3)).astype(np.uint8)  # colours unrelated to class
    p = ssc.SSCParams(phase2="rf", n_trees=10, min_sample=2000)
    c = ssc.choose_phase2(grid, conf, tile, _gather_from(noise), p)
    assert c.clf is None
    assert c.features == ssc.TILE_MAP
    assert c.info["agreement"]["median RGB"] < 0.8
    assert f"min_agreement {p.min_agreement}" in c.info["phase2_reason"]
    # colours that follow the classes: phase 2 is used
    clean = np.where((np.kron(grid, np.ones((tile, tile), int)) == 1)[..., None], 40, 200).astype(np.uint8)
    clean = np.repeat(clean, 3, axis=2)
    c = ssc.choose_phase2(grid, conf, tile, _gather_from(clean), p)
    assert c.clf is not None
    assert c.info["agreement"]["median RGB"] == 1.0
    # tiles below train_confidence never train phase 2
    low = conf.copy()
    low[:, :4] = 0.3
    c = ssc.choose_phase2(
        grid, low, tile, _gather_from(clean), ssc.SSCParams(phase2="rf", n_trees=10, min_sample=2000, train_confidence=0.5)
    )
    assert c.info["low_confidence_tiles"] == 32


def test_self_check_keeps_the_tile_map_when_phase_2_would_lose_a_class():
    """Without labels, overall agreement is not enough: a class whose colour is another's (here 3 looks
    like 1) loses its held-out tiles to that class, and phase 2 would erase it from the map.
    """
    tile = 4
    grid = np.ones((10, 10), np.int64)
    grid[:, 5:8], grid[:, 8:] = 2, 3
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, :20], img[:, 20:32], img[:, 32:] = (200, 0, 0), (0, 200, 0), (200, 0, 0)
    p = ssc.SSCParams(phase2="rf", n_trees=10, min_sample=1000, min_agreement=0.5)
    c = ssc.choose_phase2(grid, np.ones((10, 10)), tile, _gather_from(img), p)
    assert c.info["agreement"]["median RGB"] >= 0.5  # overall, enough
    assert c.info["agreement_by_class"]["median RGB"][3] < 0.2
    assert c.clf is None
    assert "one class to other classes (median RGB: class 3, 0%, below 20%)" in c.info["phase2_reason"]


def test_user_labels_judge_phase_2_held_out_against_the_tile_map():
    """Phase 2 learns from the user's tiles and is cross-validated on them (whole tiles held out):
    colours that cannot carry the classes lose to the tile map; colours that do win, and a tile the
    CNN got wrong comes out as the user labelled it.
    """
    from sscnb.phase2._choose import PixelLabels

    tile = 10
    grid = np.ones((6, 6), np.int64)
    grid[:, 3:] = 2  # the CNN: class 1 on the left, 2 on the right
    p = ssc.SSCParams(phase2="rf", n_trees=10, min_sample=2000)
    # colours unrelated to the classes (bright top, dark bottom): phase 2 cannot get the user's tiles right
    top = np.zeros((60, 60, 3), np.uint8)
    top[:30] = 200
    judge = np.zeros((6, 6), np.int64)
    judge[4, 0], judge[0, 4], judge[1, 1], judge[5, 5], judge[0, 0], judge[4, 4] = 1, 2, 1, 2, 1, 2
    for learnt in (False, True):
        c = ssc.choose_phase2(grid, np.ones((6, 6)), tile, _gather_from(top), p, PixelLabels.from_tile_grid(judge, tile, learnt))
        assert c.clf is None
        assert c.info["judge"] == "user labels"
        assert c.info["labelled_tiles"] == 6
        assert c.info["label_f1"][ssc.TILE_MAP] == 1.0
        assert c.info["label_f1"]["median RGB"] < 0.85
        assert "the CNN tile map is kept" in c.info["phase2_reason"]
        assert ("in-sample" in c.info["phase2_reason"]) == learnt
        assert ("when it reaches min_label_f1 0.8 or, held out, the CNN's in-sample F1" in c.info["phase2_reason"]) == learnt
    # colours that follow left/right, and a tile the CNN got wrong, which the user labelled: phase 2
    # gets every held-out labelled tile right, the tile map misses that one
    left = np.zeros((60, 60, 3), np.uint8)
    left[:, :30] = 200
    wrong = grid.copy()
    wrong[0, 0] = 2
    c = ssc.choose_phase2(wrong, np.ones((6, 6)), tile, _gather_from(left), p, PixelLabels.from_tile_grid(judge, tile))
    assert c.info["label_f1"]["median RGB"] == 1.0
    assert c.info["label_f1"][ssc.TILE_MAP] < 1.0
    assert c.info["label_f1_by_class"][ssc.TILE_MAP][1] < 1.0
    assert c.features == "median RGB"
    assert c.info["phase2_choice"] == "RF on median RGB + your labels"
    assert c.predict(left)[:10, :10].tolist() == [[1] * 10] * 10


def test_labels_the_cnn_learnt_keep_phase_2_that_matches_its_in_sample_score():
    """Where the CNN was fine-tuned on the labels, its F1 on them is in-sample, above what it scores
    elsewhere: phase 2, held out, is kept when it reaches ``min_label_f1`` or the CNN's in-sample F1.
    Here phase 2 misses a strip of one labelled tile (held out, its dark strip looks like class 2),
    so it stays below a bar of 0.99; it is kept where the CNN got two labelled tiles wrong, and the
    tile map is kept where the CNN got them all right.
    """
    from sscnb.phase2._choose import PixelLabels

    tile = 10
    img = np.zeros((60, 60, 3), np.uint8)
    img[:, :30] = 200  # class 1 bright on the left, class 2 dark on the right
    img[10:13, 10:20] = 0  # a dark strip in labelled tile (1, 1), class 1
    judge = np.zeros((6, 6), np.int64)
    judge[4, 0], judge[0, 4], judge[1, 1], judge[5, 5], judge[0, 0], judge[4, 4] = 1, 2, 1, 2, 1, 2
    right = np.ones((6, 6), np.int64)
    right[:, 3:] = 2
    wrong = right.copy()
    wrong[0, 0], wrong[4, 4] = 2, 1
    p = ssc.SSCParams(phase2="rf", n_trees=10, min_sample=2000, rf_min_leaf=1, min_label_f1=0.99)
    labs = PixelLabels.from_tile_grid(judge, tile, learnt=True)
    kept = ssc.choose_phase2(wrong, np.ones((6, 6)), tile, _gather_from(img), p, labs)
    f2, f_tile = kept.info["label_f1"]["median RGB"], kept.info["label_f1"][ssc.TILE_MAP]
    assert f_tile <= f2 < 0.99
    assert kept.clf is not None
    assert "or, held out, the CNN's in-sample F1: phase 2 is kept" in kept.info["phase2_reason"]
    refused = ssc.choose_phase2(right, np.ones((6, 6)), tile, _gather_from(img), p, labs)
    assert refused.info["label_f1"][ssc.TILE_MAP] == 1.0
    assert refused.info["label_f1"]["median RGB"] < 0.99
    assert refused.clf is None
    assert "the CNN tile map is kept" in refused.info["phase2_reason"]


@pytest.mark.slow  # two cross-validated choices, 18 fits of phase 2: about 7 s on 2 cores
def test_user_labels_choose_the_mlp_s_weight_in_mlp_rf():
    """phase2 "mlp_rf" with labels: each fold's fit is scored at the MLP weights 0.35 (the default),
    1 (the MLP alone) and 0 (the forest alone), and the best on the held-out labels is fitted. Here the
    forest cannot split (leaves larger than the sample: it gives every pixel the classes' shares, 85%
    class 1) and drags the average to class 1 everywhere; the MLP alone maps the bright tiles as
    the user labelled them, so the labels choose it, and its forest is not fitted.
    """
    from sscnb.phase2._choose import LABEL_MLP_WEIGHTS, PixelLabels

    tile = 10
    img = np.full((40, 50, 3), 40, np.uint8)
    lab = np.ones((40, 50), np.uint8)
    for r, c in [(0, 0), (1, 3), (3, 4)]:  # 3 bright tiles of class 2 among 17 dark of class 1
        img[r * 10 : (r + 1) * 10, c * 10 : (c + 1) * 10] = 200
        lab[r * 10 : (r + 1) * 10, c * 10 : (c + 1) * 10] = 2
    kw = dict(phase2="mlp_rf", n_trees=3, min_sample=1000, label_cnn_share=0.0, mlp_depth="compact", mlp_learning_rate=0.03)
    p = ssc.SSCParams(**kw, rf_min_leaf=100_000, mlp_epochs=6)
    c = ssc.choose_phase2(np.ones((4, 5), np.int64), np.ones((4, 5)), tile, _gather_from(img), p, PixelLabels.from_raster(lab))
    assert LABEL_MLP_WEIGHTS == (0.35, 1.0, 0.0)
    by_w = c.info["label_f1_by_mlp_weight"]["median RGB"]
    assert by_w[1.0] == 1.0
    assert by_w[0.35] == by_w[0.0] < 0.8  # class 2 lost: 0.85 x 0.65 > 0.35 + 0.15 x 0.65
    assert c.info["mlp_weight"] == c.clf.mlp_weight == 1.0
    assert c.clf.model[1] is None  # the forest, weighing nothing, is not fitted
    assert "the MLP's weight 1: on your labels it beat the default 0.35 by 0.01 or more" in c.info["phase2_choice"]
    assert (c.predict(img) == lab).all()
    # a forest that can split (leaves of 20): the default weight is as good, and stays
    p = ssc.SSCParams(**kw, rf_min_leaf=20, mlp_epochs=1)
    c = ssc.choose_phase2(np.ones((4, 5), np.int64), np.ones((4, 5)), tile, _gather_from(img), p, PixelLabels.from_raster(lab))
    assert c.info["label_f1_by_mlp_weight"]["median RGB"][0.35] == 1.0
    assert c.info["mlp_weight"] == c.clf.mlp_weight == 0.35
    assert "the MLP's weight 0.35, the default: neither 1 nor 0 beat it by 0.01 on your labels" in c.info["phase2_choice"]
    assert all(m is not None for m in c.clf.model)


def test_a_labelled_mlp_rf_recipe_records_the_weight_margin():
    """Maps made before the margin rule chose the MLP's weight otherwise: an mlp_rf recipe records the
    margin, so a resumed batch refuses those maps (naming ``labels.mlp_weight_margin``) rather than mixing them.
    """
    from sscnb.phase2._choose import LABEL_WEIGHT_MARGIN, PixelLabels
    from sscnb.results import recipe_status

    lab = PixelLabels.from_tile_grid(np.array([[1, 0], [0, 2]]), 4)
    assert lab.recipe("mlp_rf") == lab.recipe() | {"mlp_weight_margin": LABEL_WEIGHT_MARGIN}
    assert "mlp_weight_margin" not in lab.recipe("rf")
    assert "mlp_weight_margin" not in lab.recipe("mlp")
    assert lab.recipe("mlp_rf")["pixels"] == 32
    before = {"labels": lab.recipe()}  # what an mlp_rf map recorded before the rule
    assert recipe_status(before, {"labels": lab.recipe("mlp_rf")}) == ("other", "labels.mlp_weight_margin: None -> 0.01")


def test_a_polygon_of_one_class_comes_out_that_class():
    """A class the CNN never saw on this image (it calls the grey bar water, like the river): the user
    draws one polygon on the bar, and phase 2, trained on it and the tile map elsewhere, maps the whole
    bar as that class, polygon included, and the rest as the CNN does.
    """
    from sscnb.phase2._choose import PixelLabels

    tile = 10
    img = np.zeros((80, 80, 3), np.uint8)
    img[..., 2] = 180  # blue water
    img[:, 50:] = (40, 160, 40)  # green vegetation on the right
    img[20:60, 10:40] = (150, 150, 150)  # a grey bar in the river
    grid = np.where(np.arange(8) < 5, 1, 3)[None, :].repeat(8, axis=0)  # the CNN: water | vegetation
    polygon = np.zeros((80, 80), np.uint8)
    polygon[22:58, 12:28] = 2  # drawn inside the bar, over parts of several tiles
    p = ssc.SSCParams(phase2="rf", n_trees=20, min_sample=3000, label_cnn_share=0.5)
    c = ssc.choose_phase2(grid, np.ones((8, 8)), tile, _gather_from(img), p, PixelLabels.from_raster(polygon))
    assert c.clf is not None, c.info["phase2_reason"]
    final = c.predict(img)
    assert (final[polygon == 2] == 2).all()
    assert (final[20:60, 10:40] == 2).all()  # the whole bar, beyond the polygon
    assert (final[:, 50:] == 3).all()
    assert (final[:15, :50] == 1).all()
    assert c.info["label_f1"][ssc.TILE_MAP] == 0.0
    assert c.info["cnn_tiles_training"] > 0


def test_label_cnn_share_zero_trains_on_the_labels_alone():
    from sscnb.phase2._choose import PixelLabels

    tile = 10
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, 20:] = 200
    grid = np.ones((4, 4), np.int64)  # the CNN calls it all class 1
    lab = np.zeros((40, 40), np.uint8)
    lab[0:10, 0:10], lab[30:40, 0:10], lab[0:10, 30:40], lab[30:40, 30:40] = 1, 1, 2, 2
    p = ssc.SSCParams(phase2="rf", n_trees=10, min_sample=2000, label_cnn_share=0.0)
    c = ssc.choose_phase2(grid, np.ones((4, 4)), tile, _gather_from(img), p, PixelLabels.from_raster(lab))
    assert c.info["cnn_tiles_training"] == 0
    assert c.clf is not None
    assert (c.predict(img)[:, 20:] == 2).all()  # the CNN's class 1 there never trained phase 2
    with pytest.raises(ValueError, match="label_cnn_share"):
        ssc.SSCParams(label_cnn_share=1.0)
    with pytest.raises(ValueError, match="row-major"):
        PixelLabels(np.array([3, 1]), np.array([0, 0]), np.array([1, 1], np.uint8))


def test_label_cnn_share_defaults_to_the_labels_alone_with_the_cnns_bands():
    """Not given, the tile map's share is 0.5, and 0 with features "multiscale_cnn" (the CNN reaches
    phase 2 through its bands there); the settings record the number, and a number given is kept.
    """
    assert ssc.SSCParams().label_cnn_share == 0.5
    assert ssc.SSCParams(features="multiscale").label_cnn_share == 0.5
    assert ssc.SSCParams(features="multiscale_cnn").label_cnn_share == 0.0
    assert ssc.SSCParams(features="multiscale_cnn").to_dict()["label_cnn_share"] == 0.0
    assert ssc.SSCParams(features="multiscale_cnn", label_cnn_share=0.3).label_cnn_share == 0.3
    assert ssc.SSCParams.recorded({"settings": {"features": "median_rgb"}})["settings"]["label_cnn_share"] == 0.5


def test_classify_image_keeps_the_tile_map_on_noise(tmp_path):
    """A hand-made CNN calls a tile water when its mean is bluer than green; on noise the tile classes
    are random, the pixels' colours cannot reproduce them, and the tile map is the final map.
    """
    import keras

    inp = keras.Input((T, T, 3))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inp))
    m = keras.Model(inp, out)
    m.layers[-1].set_weights([np.array([[0, 0], [-1, 1], [1, -1]], np.float32), np.zeros(2, np.float32)])
    key = classkey.ClassKey(
        pd.DataFrame(
            {"LocalClass": [0, 1], "HierarchClass": [1, 3], "River": ["*", "*"], "ClassName": ["water", "green vegetation"]}
        )
    )
    modelfiles.save_model(tmp_path, "colour", m, key, {"backbone": "test", "tile_size": T, "class_scheme": SCHEME.to_dict()})
    cnn = modelfiles.load_model(tmp_path / "colour.keras")
    img = np.random.default_rng(2).integers(0, 255, (100, 100, 3)).astype(np.uint8)
    p = ssc.SSCParams(phase2="rf", n_trees=10, min_sample=2000, median_radius=1, train_confidence=0.0)
    res = ssc.classify_image(img, cnn, p)
    assert set(res.info["tile_classes"]) == {1, 3}
    assert res.info["phase2_choice"] == ssc.TILE_MAP
    assert res.info["note"].startswith("phase 2 not used")
    np.testing.assert_array_equal(res.final_map, res.cnn_map)
    off = ssc.classify_image(img, cnn, ssc.SSCParams(**{**p.to_dict(), "phase2_check": False}))
    assert off.info["phase2_choice"] == "RF on median RGB"
    assert not np.array_equal(off.final_map, off.cnn_map)


def test_notebook_07_defaults_are_the_packages():
    """One default per setting: notebook 07's parameters repeat sscnb.adapt's and SSCParams's."""
    import papermill as pm

    from conftest import REPO

    params = pm.inspect_notebook(str(REPO / "notebooks" / "07_adapt_to_river.ipynb"))
    d = {k: eval(v["default"]) for k, v in params.items()}
    assert d["epochs"] == adapt.DEFAULT_EPOCHS
    assert d["replay"] == adapt.DEFAULT_REPLAY
    assert d["min_agreement"] == ssc.SSCParams().min_agreement
    assert d["phase2"] == ssc.SSCParams().phase2
    assert d["label_order"] == labeller.ORDERS[0]
    nb02 = pm.inspect_notebook(str(REPO / "notebooks" / "02_cnn_training.ipynb"))
    assert eval(nb02["replay"]["default"]) == adapt.DEFAULT_REPLAY
    assert eval(nb02["init_model"]["default"]) is None


def test_multiscale_features_carry_a_texture_that_colours_cannot():
    """Left half: dark and bright pixels at random (a fine texture); right half: the same two
    greys in two smooth bands. The tile map is right, but the median colours of both halves are
    the same two greys: median RGB cannot reproduce it (the self-check keeps the tile map), the
    multiscale bands' texture can (phase 2 is used, and maps the halves).
    """
    from sscnb.phase2._features import pixel_features

    tile, rows, cols = 10, 8, 8
    rng = np.random.default_rng(0)
    img = np.full((rows * tile, cols * tile, 3), 28, np.uint8)
    img[rows * tile // 2 :, cols * tile // 2 :] = 228
    left = rng.random((rows * tile, cols * tile // 2)) < 0.5
    img[:, : cols * tile // 2][left] = 228
    grid = np.where(np.arange(cols)[None, :] < cols // 2, 1, 3).repeat(rows, 0).astype(np.uint8)
    conf = np.ones(grid.shape)
    truth = np.kron(grid, np.ones((tile, tile), np.uint8))
    base = dict(phase2="rf", n_trees=20, min_sample=3000, median_radius=3)
    colour = ssc.SSCParams(**base)
    c = ssc.choose_phase2(grid, conf, tile, _gather_from(pixel_features(img, 3)), colour)
    assert c.clf is None, c.info
    assert c.info["agreement"]["median RGB"] < colour.min_agreement
    multi = ssc.SSCParams(**base, features="multiscale")
    feats = pixel_features(img, 3, features="multiscale")
    c = ssc.choose_phase2(grid, conf, tile, _gather_from(feats), multi)
    assert c.features == "median RGB + multiscale", c.info
    assert c.info["agreement"]["median RGB + multiscale"] > 0.95
    final = c.predict(feats)
    inside = np.ones(truth.shape, bool)
    inside[:, 36:44] = False  # away from the boundary between the halves and the one between the bands
    inside[36:44, 40:] = False
    assert np.mean(final[inside] == truth[inside]) > 0.95


def test_the_class_order_shows_a_class_the_model_calls_and_the_ones_it_doubts(tmp_path, colour_cnn):
    """Fixing one class: the tiles the model calls it, least sure first, in turn with the others,
    likeliest to be it first; a session asks for it by name or code, and says what is missing.
    """
    import imageio.v3 as iio

    rng = np.random.default_rng(1)
    img = np.zeros((40, 60, 3), np.uint8)  # 4 x 6 tiles of 10 px, each one colour: from clearly blue to clearly green
    for r in range(4):
        for c in range(6):
            b = int(rng.integers(40, 200))
            img[r * 10 : (r + 1) * 10, c * 10 : (c + 1) * 10] = (20, 120, b)
    iio.imwrite(tmp_path / "Newriver_0001.png", img)
    images = {"Newriver_0001": tmp_path / "Newriver_0001.png"}
    s = labeller.LabelSession(images, tmp_path / "labels.csv", colour_cnn, order="class", label_class="water", seed=0)
    from sscnb.cnn._files import predict_codes

    codes, proba, classes = predict_codes(
        colour_cnn, None, np.stack([img[r * 10 : r * 10 + 10, c * 10 : c * 10 + 10] for r in range(4) for c in range(6)])
    )
    p_water = proba[:, list(classes).index(1)]
    order = s.queue
    assert sorted(order) == list(range(24))
    called = [i for i in order if codes[i] == 1]
    others = [i for i in order if codes[i] != 1]
    assert called
    assert others
    assert list(p_water[called]) == sorted(p_water[called])  # the least sure of water first
    assert list(p_water[others]) == sorted(p_water[others], reverse=True)  # the likeliest misses first
    assert [codes[i] == 1 for i in order[:4]] == [True, False, True, False]  # in turn
    assert labeller.LabelSession(images, tmp_path / "b.csv", colour_cnn, order="class", label_class=1).queue == order
    with pytest.raises(labels.LabelError, match="needs label_class"):
        labeller.LabelSession(images, tmp_path / "c.csv", colour_cnn, order="class")
    with pytest.raises(labels.LabelError, match="'sand' is neither a class name nor a code"):
        labeller.LabelSession(images, tmp_path / "c.csv", colour_cnn, order="class", label_class="sand")
    with pytest.raises(labels.LabelError, match="the model has no class 'dry sediment' to fix"):
        labeller.LabelSession(images, tmp_path / "c.csv", colour_cnn, order="class", label_class="dry sediment")
    with pytest.raises(labels.LabelError, match="needs the model"):
        labeller.LabelSession(images, tmp_path / "c.csv", None, tile_size=10, order="class", label_class="water")


def test_adapt_and_assess_refuse_an_output_folder_they_cannot_write_before_any_work(tmp_path, capsys):
    """A file where --out should be: one line naming --out, before the model (absent here) is even read."""
    from sscnb.__main__ import main

    blocker = tmp_path / "results"
    blocker.write_text("a file, not a folder")
    cases = {
        "adapt": ["adapt", "--model", str(tmp_path / "no.keras"), "--labels", "l.csv", "--out", str(blocker / "m"), "x.png"],
        "assess": ["assess", "--map", str(tmp_path / "no_map.tif"), "--out", str(blocker / "a"), "--n", "10"],
    }
    for cmd, argv in cases.items():
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"sscnb {cmd}: {blocker} is a file, so the output folder" in err, err
        assert "choose another --out" in err, err


def test_adapt_removes_what_a_killed_save_of_its_model_left(tmp_path):
    out = tmp_path / "adapt"
    out.mkdir()
    left = [out / ".tmp_31337_cnn_adapted.keras", out / ".tmp_31337_cnn_adapted_card.json"]
    other = out / ".tmp_31337_another_model.keras"  # not this model's: kept
    for p in [*left, other]:
        p.write_text("cut short")
    (out / "cnn_adapted.keras").write_text("a finished model")
    said = []
    with pytest.raises(FileExistsError, match="cnn_adapted.keras exists"):  # refused, yet the leftovers are gone
        adapt.adapt_model(tmp_path / "parent.keras", tmp_path / "l.csv", [], out, log=said.append)
    assert not any(p.exists() for p in left)
    assert other.exists()
    assert said == ["removed 2 temporary file(s) left by an interrupted run"]


def test_command_line_errors_name_the_option_not_the_notebook_setting(tmp_path, capsys, monkeypatch):
    """The functions' messages name class_field, replay_dir...; on the command line the fix names the option typed."""
    import fiona
    import imageio.v3 as iio

    from sscnb import cli as cli_main
    from sscnb.labels import _sources as labelsources

    img = tmp_path / "Newriver_0001.png"
    iio.imwrite(img, np.zeros((120, 200, 3), np.uint8))
    gpkg = tmp_path / "drawn.gpkg"
    schema = {"geometry": "Polygon", "properties": {"kind": "int"}}
    with fiona.open(gpkg, "w", driver="GPKG", schema=schema, SPATIAL_INDEX="NO") as dst:
        ring = [(0, 0), (40, 0), (40, -40), (0, -40), (0, 0)]
        dst.write({"geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {"kind": 1}})
    with pytest.raises(labels.LabelError, match=r"\(class_field\)"):  # what a notebook shows
        labelsources._read_polygons(gpkg, img, "class_code")

    def handler(a):  # the command reading the polygons with its --class-field
        labelsources._read_polygons(gpkg, img, a.class_field)

    monkeypatch.setitem(cli_main.HANDLERS, "adapt", handler)
    argv = ["adapt", "--model", "m.keras", "--labels", str(gpkg), "--out", str(tmp_path / "o"), "--replay", "0.1", str(img)]
    assert cli_main.main(argv) == 1
    err = capsys.readouterr().err
    assert "give the field that holds the class codes (--class-field), or add one in QGIS" in err, err
    assert "class_field" not in err


def test_replay_from_tiles_shipped_with_a_model(tmp_path):
    from sscnb.cnn._tilesets import TileSet

    rng = np.random.default_rng(0)
    y = np.repeat([1, 3], [30, 10])
    ts = TileSet(
        rng.integers(0, 255, (40, 10, 10, 3), dtype=np.uint8),
        y,
        np.array(["A"] * 40, object),
        np.array(["A_0001"] * 40, object),
        10,
        0.9,
    )
    ts.save_npz(tmp_path / "m_replay.npz")
    back = TileSet.load_npz(tmp_path / "m_replay.npz")
    np.testing.assert_array_equal(back.x, ts.x)
    assert list(back.river) == list(ts.river)
    assert (back.tile_size, back.purity) == (10, 0.9)
    card = {"tile_size": 10, "n_tiles": 100}  # the model learnt from 100 tiles; 40 of them are shipped
    rep = adapt.replay_tiles(card, 0.2, SCHEME, replay_dir=tmp_path / "m_replay.npz", seed=0)
    assert len(rep) == 20  # 20% of 100, stratified: 15 of class 1, 5 of class 3
    assert np.bincount(rep.y, minlength=4)[[1, 3]].tolist() == [15, 5]
    assert len(adapt.replay_tiles(card, 0.9, SCHEME, replay_dir=tmp_path / "m_replay.npz")) == 40  # all there is, at most
