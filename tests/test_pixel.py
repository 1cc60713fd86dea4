import numpy as np
import pytest

from sscnb.data import _tiles as tiles
from sscnb.params import MLP_RF_WEIGHT, SSCParams
from sscnb.phase2._pixel import fit_pixel_classifier, pack_rgb, sample_tile_pixels, unique_rows, unpack_rgb

FIT = dict(
    depth="deep", epochs=30, learning_rate=1e-3, batch_size=256, use_smote=False, n_trees=20, min_leaf=1, rf_sample=1.0, seed=0
)


def _scene():
    """Left half blue-ish water (1), right half green (3); tile size 10; the CNN's tile map has
    one wrong tile and an unclassified bottom tile row.
    """
    rng = np.random.default_rng(0)
    img = np.zeros((60, 80, 3), np.uint8)
    img[:, :40] = (40, 90, 120)
    img[:, 40:] = (60, 120, 50)
    img = np.clip(img.astype(int) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
    truth = np.where(np.arange(80)[None, :] < 40, 1, 3).repeat(60, 0).astype(np.uint8)
    grid = np.where(np.arange(8)[None, :] < 4, 1, 3).repeat(6, 0)
    grid[0, 3] = 3  # a wrong tile
    grid[5, :] = 0  # an unclassified tile row
    return img, truth, grid


def _sample(img, grid, subsample=1.0, min_sample=10, seed=0):
    r, c, y = sample_tile_pixels(grid, 10, subsample, min_sample, seed)
    return img[r, c], y


def test_unique_rows_inverse_is_exact():
    x = np.random.default_rng(1).integers(0, 4, (1000, 3)).astype(np.uint8)
    u, inv = unique_rows(x)
    np.testing.assert_array_equal(u[inv], x)
    assert len(u) == len(np.unique(x, axis=0))
    xf = x.astype(np.float32)
    u2, inv2 = unique_rows(xf)
    np.testing.assert_array_equal(u2[inv2], xf)


def test_sampling_uses_cnn_pixels_only_and_floor():
    img, truth, grid = _scene()
    cnn = tiles.tiles_to_raster(grid.ravel(), grid.shape, 10)
    r, c, y = sample_tile_pixels(grid, 10, subsample=0.01, min_sample=500, seed=0)
    assert 495 <= len(y) <= 505
    assert set(np.unique(y)) == {1, 3}
    np.testing.assert_array_equal(cnn[r, c], y)  # labels are the tile map's
    assert len(set(zip(r.tolist(), c.tolist(), strict=True))) == len(r)  # without replacement
    # stratified: class shares of the sample are those of the tile map (1: 19 tiles, 3: 21 of 40)
    assert abs((y == 1).sum() - 500 * 19 / 40) <= 1
    r, c, y = sample_tile_pixels(grid, 10, subsample=1.0, min_sample=10, seed=0)
    ys, xs = np.nonzero(cnn)  # all: every classified pixel
    np.testing.assert_array_equal(r, ys)
    np.testing.assert_array_equal(c, xs)
    with pytest.raises(ValueError, match="classified no pixel"):
        sample_tile_pixels(np.zeros_like(grid), 10, 0.1, 10, 0)


def test_sampling_matches_a_reference_on_the_full_map():
    """The rank -> pixel arithmetic against listing the pixels of each class explicitly."""
    rng = np.random.default_rng(3)
    grid = rng.integers(0, 4, (7, 9))
    cnn = tiles.tiles_to_raster(grid.ravel(), grid.shape, 5, out_shape=(38, 47))
    r, c, y = sample_tile_pixels(grid, 5, 0.3, 10, seed=4)
    ref = np.random.default_rng(4)
    want = []
    for cls in np.unique(grid[grid > 0]):
        flat = np.flatnonzero(cnn == cls)
        k = max(1, round(round(0.3 * (cnn > 0).sum()) * len(flat) / (cnn > 0).sum()))
        want.append(flat[np.sort(ref.choice(len(flat), k, replace=False))])
    want = np.sort(np.concatenate(want))
    np.testing.assert_array_equal(r * 47 + c, want)


def test_pack_rgb_round_trip_and_lut_prediction_equals_row_prediction():
    x = np.random.default_rng(1).integers(0, 256, (500, 3)).astype(np.uint8)
    np.testing.assert_array_equal(unpack_rgb(pack_rgb(x)), x)
    img, truth, grid = _scene()
    xs, ys = _sample(img, grid)
    clf = fit_pixel_classifier(xs, ys, "rf", **{**FIT, "n_trees": 5})
    rows = img.reshape(-1, 3)
    np.testing.assert_array_equal(clf.predict(img).ravel(), clf._codes(rows))


@pytest.mark.parametrize(("kind", "depth"), [("rf", "deep"), ("mlp", "deep"), ("mlp", "compact"), ("mlp_rf", "deep")])
def test_pixel_classifier_corrects_the_tile_map(kind, depth):
    img, truth, grid = _scene()
    x, y = _sample(img, grid, subsample=0.25)  # 1 000 pixels: 120 steps of the MLP learn it
    clf = fit_pixel_classifier(x, y, kind, **{**FIT, "depth": depth})
    if kind == "mlp":  # the hidden layers of each depth, then the classes
        hidden = {"deep": [256, 128, 64, 32, 32], "compact": [64, 32, 32]}[depth]
        assert [w.shape[1] for w, _ in clf.model] == [*hidden, len(clf.classes)]
    out = clf.predict(img)
    cnn = tiles.tiles_to_raster(grid.ravel(), grid.shape, 10)
    assert out.shape == truth.shape
    assert (out == truth).mean() > 0.97  # the wrong tile and the unclassified strip are fixed
    assert (cnn == truth).mean() < 0.85


def test_mlp_rf_averages_the_mlp_and_the_forest_fitted_alone():
    """phase2 "mlp_rf": MLP_RF_WEIGHT of the MLP's probabilities and the rest of the forest's, each
    fitted on the same pixels with the same seed as it would be alone.
    """
    rng = np.random.default_rng(2)
    x = rng.normal(size=(600, 3)).astype(np.float32)
    y = np.where(x[:, 0] + 0.5 * rng.normal(size=600) > 0, 1, 3) + (x[:, 1] > 1.2)  # classes 1, 2, 3, 4; noisy
    kw = {**FIT, "epochs": 3, "n_trees": 5, "min_leaf": 3}
    both = fit_pixel_classifier(x, y, "mlp_rf", **kw)
    mlp, rf = (fit_pixel_classifier(x, y, k, **kw) for k in ("mlp", "rf"))
    rows = rng.normal(size=(200, 3)).astype(np.float32)
    pm, pr = mlp.predict_proba_rows(rows), rf.predict_proba_rows(rows)
    np.testing.assert_allclose(both.predict_proba_rows(rows), 0.35 * pm + 0.65 * pr, atol=1e-6)
    assert MLP_RF_WEIGHT == 0.35
    assert not np.array_equal(pm.argmax(1), pr.argmax(1))  # two classifiers that differ: the average is a third
    np.testing.assert_array_equal(both._codes(rows), both.classes[(0.35 * pm + 0.65 * pr).argmax(1)])
    assert SSCParams(phase2="mlp_rf").phase2_name == "MLPRF"


def test_mlp_rf_weighted_anew_or_fitted_with_one_part():
    """An mlp_rf weighted 1 is the MLP alone, weighted 0 the forest alone; fitted at 1 or 0 it fits only
    that part, with the same predictions.
    """
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 3)).astype(np.float32)
    y = np.where(x[:, 0] + 0.5 * rng.normal(size=400) > 0, 1, 3)
    kw = {**FIT, "epochs": 3, "n_trees": 5, "min_leaf": 3}
    both = fit_pixel_classifier(x, y, "mlp_rf", **kw)
    rows = rng.normal(size=(100, 3)).astype(np.float32)
    for w, kind in ((1.0, "mlp"), (0.0, "rf")):
        alone = fit_pixel_classifier(x, y, kind, **kw).predict_proba_rows(rows)
        np.testing.assert_allclose(both.weighted(w).predict_proba_rows(rows), alone, atol=1e-6)
        one = fit_pixel_classifier(x, y, "mlp_rf", **kw, mlp_weight=w)
        assert sum(m is None for m in one.model) == 1
        np.testing.assert_allclose(one.predict_proba_rows(rows), alone, atol=1e-6)
    assert both.mlp_weight == 0.35
    with pytest.raises(ValueError, match="both its MLP and its forest"):
        one.weighted(0.5)
    with pytest.raises(ValueError, match=r"mlp_weight must lie in \[0, 1\]"):
        fit_pixel_classifier(x, y, "mlp_rf", **kw, mlp_weight=1.5)


def test_one_class_map_gives_that_class():
    img, _, _ = _scene()
    x, y = _sample(img, np.full((6, 8), 2))
    clf = fit_pixel_classifier(x, y, "mlp", **FIT)
    assert clf.info["one_class"]
    assert (clf.predict(img) == 2).all()


def test_smote_enn_balances_a_rare_class():
    """SMOTE oversamples the minority class up to the majority's count, and ENN then removes
    samples whose neighbours disagree: the minority ends far larger than it was.
    """
    img, _, grid = _scene()
    g = np.full_like(grid, 3)
    g[2, 1] = 1  # one water tile (100 px) against 47 vegetation tiles
    x, y = _sample(img, g)
    assert (y == 1).sum() == 100
    assert (y == 3).sum() == 4700
    clf = fit_pixel_classifier(x, y, "rf", **{**FIT, "use_smote": True, "n_trees": 10})
    n_after = clf.info["n_after_smote_enn"]
    assert 2 * 4700 * 0.8 <= n_after <= 2 * 4700  # about twice the majority, minus ENN's cleaning


def test_reused_trainer_fits_exactly_as_a_fresh_model():
    """The compiled MLP is kept between fits and reset before each: the same data gives the same
    weights whether the model is new or reused, and an earlier classifier is not changed by a
    later fit.
    """
    from sscnb.phase2 import _pixel as pixel

    img, truth, grid = _scene()
    x, y = _sample(img, grid)
    pixel._TRAINERS.clear()
    a = fit_pixel_classifier(x, y, "mlp", **{**FIT, "epochs": 3})
    a_weights = [w.copy() for pair in a.model for w in pair]
    b = fit_pixel_classifier(x[::2], y[::2], "mlp", **{**FIT, "epochs": 3})  # other data in between
    c = fit_pixel_classifier(x, y, "mlp", **{**FIT, "epochs": 3})  # reused model
    for wa, wc in zip(a_weights, (w for pair in c.model for w in pair), strict=True):
        np.testing.assert_array_equal(wa, wc)
    for wa, w in zip(a_weights, (w for pair in a.model for w in pair), strict=True):
        np.testing.assert_array_equal(wa, w)  # a untouched by b and c
    assert not all(np.array_equal(wa, wb) for wa, wb in zip(a_weights, (w for pair in b.model for w in pair), strict=True))


def test_numpy_forward_matches_keras():
    import keras

    from sscnb.phase2._pixel import _mlp, mlp_forward

    m = _mlp(keras, 3, 4, "deep", 0)
    z = np.random.default_rng(2).standard_normal((50, 3)).astype(np.float32)
    layers = [
        (keras.ops.convert_to_numpy(ly.kernel), keras.ops.convert_to_numpy(ly.bias))
        for ly in m.layers
        if isinstance(ly, keras.layers.Dense)
    ]
    np.testing.assert_allclose(mlp_forward(layers, z), keras.ops.convert_to_numpy(m(z, training=False)), rtol=1e-4, atol=1e-6)


def test_a_rare_class_gets_its_floor_or_an_equal_share():
    grid = np.full((10, 10), 3)
    grid[0, 0] = 2  # one sediment tile: 100 of 10 000 pixels
    cnn = tiles.tiles_to_raster(grid.ravel(), grid.shape, 10)
    r, c, y = sample_tile_pixels(grid, 10, subsample=0.1, min_sample=0, seed=0)
    assert (y == 2).sum() == 10
    assert (y == 3).sum() == 990
    r, c, y = sample_tile_pixels(grid, 10, subsample=0.1, min_sample=0, seed=0, min_class=60)
    assert (y == 2).sum() == 60
    assert (y == 3).sum() == 990
    r, c, y = sample_tile_pixels(grid, 10, subsample=0.1, min_sample=0, seed=0, min_class=500)
    assert (y == 2).sum() == 100  # all it has
    r, c, y = sample_tile_pixels(grid, 10, subsample=0.1, min_sample=0, seed=0, sampling="balanced")
    assert (y == 2).sum() == 100
    assert (y == 3).sum() == 900
    np.testing.assert_array_equal(cnn[r, c], y)
    r, c, y = sample_tile_pixels(grid, 10, subsample=0.01, min_sample=0, seed=0, sampling="balanced")
    assert (y == 2).sum() == 50
    assert (y == 3).sum() == 50
    with pytest.raises(ValueError, match="sampling must be"):
        sample_tile_pixels(grid, 10, 0.1, 0, 0, sampling="equal")


@pytest.mark.parametrize("threads", ["1", "3"])
def test_compiled_colour_steps_equal_numpy(monkeypatch, threads):
    """mark_colours and colour_lookup (compiled, in row blocks on every core) give the NumPy
    expressions they replace in sscnb map: on random strips of any height (one row up), on a view of
    the first three of four float features, with and without invalid pixels.
    """
    from sscnb.phase2 import _colours as _colours
    from sscnb.phase2._pixel import N_RGB, pack_rgb

    monkeypatch.setenv("SSCNB_THREADS", threads)
    monkeypatch.setattr(_colours, "MIN_BLOCK_ROWS", 2)
    rng = np.random.default_rng(11)
    lut = rng.integers(0, 6, N_RGB).astype(np.uint8)
    for trial in range(6):
        H, W = int(rng.integers(1, 40)), int(rng.integers(1, 50))
        rgb = rng.integers(0, 256, (H, W, 3)).astype(np.uint8)
        if trial % 2:
            rgb = np.concatenate([rgb.astype(np.float32), rng.random((H, W, 1), np.float32)], axis=-1)[..., :3]
        valid = rng.random((H, W)) > (0.0 if trial == 0 else 0.4)
        present = np.zeros(N_RGB, bool)
        present[rng.integers(0, N_RGB, 5)] = True  # what earlier strips marked stays
        want = present.copy()
        codes = pack_rgb(rgb.astype(np.uint8))
        want[codes[valid]] = True
        assert _colours.mark_colours(rgb, valid, present) == int(valid.sum())
        np.testing.assert_array_equal(present, want)
        np.testing.assert_array_equal(_colours.colour_lookup(rgb, valid, lut), np.where(valid, lut[codes], 0))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) array of colours"):
        _colours.colour_lookup(np.zeros((4, 4), np.uint8), np.ones((4, 4), bool), lut)


def test_seeding_on_another_backend_falls_back_to_keras_own_without_its_internals(monkeypatch):
    """sscnb.cnn._keras.set_random_seed: on JAX or PyTorch, a Keras without the internals it sets gets Keras's own function."""
    import sys
    from types import SimpleNamespace

    from sscnb.cnn import _keras as _keras

    called = []
    fake = SimpleNamespace(backend=SimpleNamespace(backend=lambda: "jax"), utils=SimpleNamespace(set_random_seed=called.append))
    monkeypatch.setattr(_keras, "_KERAS", fake)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)  # as in a JAX process
    assert _keras._seed_internals() is not None  # this Keras has them
    monkeypatch.setattr(_keras, "_seed_internals", lambda: None)
    _keras.set_random_seed(7)
    assert called == [7]


def test_on_pytorch_the_pixel_mlp_steps_one_batch_per_call_and_is_built_before_its_first_fit(monkeypatch):
    """Keras on PyTorch refuses more than one step per call, and its fit drew one more shuffle on a model's first fit.

    Run here on this process's Keras, told that it is PyTorch: the trainer is compiled with one step
    per call and evaluated once on one unshuffled row, which builds its loss before any fit (on
    PyTorch itself, tests/test_backends.py checks that the first fit of a process equals the next).
    """
    from types import SimpleNamespace

    from sscnb.cnn._keras import _keras
    from sscnb.phase2 import _pixel as pixel

    keras = _keras()

    class TorchKeras:  # this Keras, with its backend named PyTorch
        backend = SimpleNamespace(backend=lambda: "torch")

        def __getattr__(self, name):
            return getattr(keras, name)

    evaluated = []
    monkeypatch.setattr(keras.Model, "evaluate", lambda self, x, y, **kw: evaluated.append((x.shape, y.shape, kw)))
    monkeypatch.setattr(pixel, "_TRAINERS", {})
    model = pixel._trainer(TorchKeras(), 3, 4, "deep", 1e-3, 0)
    assert model.steps_per_execution == 1
    assert evaluated == [((1, 3), (1,), {"verbose": 0})]
    assert pixel._trainer(TorchKeras(), 3, 4, "deep", 1e-3, 0) is model  # kept, and evaluated once only
    assert len(evaluated) == 1
    if keras.backend.backend() != "torch":  # (the tests may run on PyTorch itself)
        assert pixel._trainer(keras, 3, 4, "deep", 1e-3, 0).steps_per_execution == pixel.STEPS_PER_EXECUTION
        assert len(evaluated) == 1  # TensorFlow's fit draws no extra shuffle, JAX's is sscnb.phase2: nothing to build


def test_forest_leaves_of_many_pixels_ignore_the_tile_maps_noise():
    """A fifth of the training pixels carry the other class (a tile's edge pixels): a forest grown to
    single pixels (rf_min_leaf 1) learns them as speckle, leaves of 20 pixels do not.
    """
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6000, 3)).astype(np.uint8)
    truth = np.where(x[:, 0] > 127, 2, 1)
    noisy = truth.copy()
    flip = rng.random(len(x)) < 0.2
    noisy[flip] = 3 - noisy[flip]
    image = rng.integers(0, 256, (100, 200, 3)).astype(np.uint8)
    right = np.where(image[..., 0] > 127, 2, 1)
    acc = {}
    for leaf in (1, 20):
        clf = fit_pixel_classifier(x, noisy, "rf", **{**FIT, "n_trees": 20, "min_leaf": leaf})
        acc[leaf] = float((clf.predict(image) == right).mean())
    assert acc[20] > 0.99, acc  # measured: 1.000 and 0.959
    assert acc[1] < acc[20] - 0.02, acc


def test_forest_leaf_setting_is_checked():
    with pytest.raises(ValueError, match="rf_min_leaf must be >= 1"):
        SSCParams(rf_min_leaf=0)
    assert SSCParams().rf_min_leaf == 20


def test_forest_tree_sample_by_feature_set_and_checked():
    """rf_sample: the whole sample with median RGB, a quarter with the multiscale sets, recorded as the number;
    each tree of the forest then draws that share of the pixels (and a forest of the default draws them all).
    """
    assert SSCParams().rf_sample == 1.0
    assert SSCParams(features="multiscale").rf_sample == SSCParams(features="multiscale_cnn").rf_sample == 0.25
    assert SSCParams(features="multiscale", rf_sample=0.5).rf_sample == 0.5
    assert SSCParams.recorded({"settings": {"features": "multiscale"}})["settings"]["rf_sample"] == 1.0  # made before it
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="rf_sample must be above 0 and at most 1"):
            SSCParams(rf_sample=bad)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 3)).astype(np.float32)
    y = np.where(x[:, 0] > 0, 1, 2)
    quarter = fit_pixel_classifier(x, y, "rf", **{**FIT, "n_trees": 3, "rf_sample": 0.25}).model
    whole = fit_pixel_classifier(x, y, "rf", **{**FIT, "n_trees": 3}).model
    assert quarter.max_samples == 0.25
    assert whole.max_samples is None
    assert (
        max(t.tree_.n_node_samples[0] for t in quarter.estimators_)
        <= 100
        < min(t.tree_.n_node_samples[0] for t in whole.estimators_)
    )
    with pytest.raises(ValueError, match="rf_sample must be above 0"):
        fit_pixel_classifier(x, y, "rf", **{**FIT, "rf_sample": 0.0})


@pytest.mark.parametrize("threads", ["1", "2"])
def test_forest_stopped_early_gives_the_whole_forests_classes(monkeypatch, threads):
    """forest_codes walks each row's trees only until its class is settled: the classes of the whole forest's
    probabilities, blended or not, on noisy classes where many rows stay unsettled to the last tree; rows
    split into several thread jobs.
    """
    from sscnb.phase2 import _forest

    monkeypatch.setenv("SSCNB_THREADS", threads)
    monkeypatch.setattr(_forest, "CHUNK", 97)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(800, 4)).astype(np.float32)
    y = (x[:, 0] + 0.8 * rng.normal(size=800) > 0).astype(int) + 2 * (x[:, 1] + 0.8 * rng.normal(size=800) > 0.5)
    kw = {**FIT, "epochs": 2, "n_trees": 12, "min_leaf": 2}
    both = fit_pixel_classifier(x, y + 1, "mlp_rf", **kw)
    rows = rng.normal(size=(1000, 4)).astype(np.float32) * 1.5
    forest, mlp = both.model[1], both.model[0]
    pf, pm = forest.predict_proba_rows(rows), mlp.predict_proba_rows(rows)
    assert 0.2 < np.mean(np.abs(np.diff(np.sort(pf, 1)[:, -2:], axis=1)) < 0.5) < 0.9  # many close calls
    np.testing.assert_array_equal(_forest.forest_codes(forest.model, rows, forest.standardise), pf.argmax(1))
    for w in (0.35, 0.7):
        want = (np.float32(w) * pm + np.float32(1 - w) * pf).argmax(1)
        np.testing.assert_array_equal(_forest.forest_codes(forest.model, rows, forest.standardise, pm, w), want)
        np.testing.assert_array_equal(both.weighted(w)._codes(rows), both.classes[want])
        np.testing.assert_array_equal(
            both.weighted(w)._codes(rows), both.classes[both.weighted(w).predict_proba_rows(rows).argmax(1)]
        )
    np.testing.assert_array_equal(forest._codes(rows), forest.classes[pf.argmax(1)])
    with pytest.raises(ValueError, match="a weight needs the probabilities"):
        _forest.forest_codes(forest.model, rows, forest.standardise, None, 0.35)
    with pytest.raises(ValueError, match=r"weight must lie in \[0, 1\)"):
        _forest.forest_codes(forest.model, rows, forest.standardise, pm, 1.0)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_mlp_forward_in_blocks_on_every_core_equals_one_pass(monkeypatch, threads):
    """mlp_forward_rows: blocks of rows on every core, standardised batch by batch, give mlp_forward's
    probabilities of the whole, and a row's probabilities do not depend on its block.
    """
    from sscnb.phase2 import _pixel as pixel

    monkeypatch.setenv("SSCNB_THREADS", threads)
    monkeypatch.setattr(pixel, "MLP_THREAD_ROWS", 300)
    rng = np.random.default_rng(6)
    layers = [
        (rng.normal(size=(5, 16)).astype(np.float32), rng.normal(size=16).astype(np.float32)),
        (rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)),
    ]
    x = rng.normal(size=(1000, 5)).astype(np.float32)
    mean, scale = np.float32(0.5), np.float32(2.0)
    out = pixel.mlp_forward_rows(layers, x, lambda r: (r - mean) / scale, batch=128)
    assert out.dtype == np.float32
    assert out.shape == (1000, 3)
    np.testing.assert_allclose(out, pixel.mlp_forward(layers, (x - mean) / scale), rtol=1e-5, atol=1e-6)
    part = pixel.mlp_forward_rows(layers, x[250:650], lambda r: (r - mean) / scale, batch=128)
    np.testing.assert_array_equal(part, out[250:650])
