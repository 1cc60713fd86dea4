import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.morphology import disk

from sscnb.phase2._features import local_entropy, median_rgb, pixel_features


def test_median_matches_scipy_reference_inside():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    got = median_rgb(img, 2)
    for k in range(3):
        ref = ndi.median_filter(img[..., k], footprint=disk(2), mode="nearest")
        # borders are treated differently by the two libraries; the interior must agree exactly
        np.testing.assert_array_equal(got[2:-2, 2:-2, k], ref[2:-2, 2:-2])


def test_median_removes_salt_and_keeps_flat_areas():
    img = np.full((30, 30, 3), 100, np.uint8)
    img[15, 15] = 255
    out = median_rgb(img, 5)
    assert (out == 100).all()
    rng = np.random.default_rng(1)
    noisy = rng.integers(0, 256, (20, 25, 3), dtype=np.uint8)
    np.testing.assert_array_equal(median_rgb(noisy, 0), noisy)  # radius 0: the input, exactly


def test_entropy_flat_is_zero_and_two_levels_is_one_bit():
    img = np.zeros((30, 30, 3), np.uint8)
    assert np.allclose(local_entropy(img), 0)
    chk = np.zeros((30, 30, 3), np.uint8)
    chk[:, ::2] = 255  # half black, half white in any 11x11 window (approximately)
    e = local_entropy(chk)
    assert abs(e[15, 15] - 1.0) < 0.01
    f = pixel_features(chk, 1, use_entropy=True)
    assert f.shape == (30, 30, 4)
    assert f.dtype == np.float32


def test_masked_median_ignores_no_data():
    """Next to a no-data border, only valid pixels enter the median: the border's zeros do not
    darken the features of the flown area.
    """
    valid = np.zeros((30, 30), bool)
    valid[10:, 10:] = True  # the flown area: a corner of the image
    img = np.where(valid[..., None], np.uint8(120), np.uint8(0)).repeat(3, axis=2)  # no data is black
    out = median_rgb(img, 5, mask=valid)
    assert (out[valid] == 120).all()
    plain = median_rgb(img, 5)
    assert plain[10, 10, 0] == 0  # without the mask, the zeros win at the corner
    np.testing.assert_array_equal(median_rgb(img, 5, mask=np.ones((30, 30), bool)), plain)


@pytest.mark.parametrize(("block_rows", "threads"), [(7, "3"), (64, "1"), (256, "")])
def test_median_in_row_blocks_equals_the_whole_band(monkeypatch, block_rows, threads):
    """Row blocks with the filter's reach as context, on several threads: exactly scikit-image's
    median of each whole band, masked or not.
    """
    from skimage.filters.rank import median
    from skimage.morphology import disk

    from sscnb.phase2 import _features as features

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (203, 131, 3), dtype=np.uint8)
    mask = np.ones(img.shape[:2], bool)
    mask[:20, :40] = False
    mask[150:, 100:] = False
    monkeypatch.setattr(features, "BLOCK_ROWS", block_rows)
    monkeypatch.setenv("SSCNB_THREADS", threads)
    for m in (None, mask):
        got = features.median_rgb(img, 5, m)
        want = np.stack([median(img[..., k], disk(5), mask=None if m is None else m.astype(np.uint8)) for k in range(3)], axis=-1)
        np.testing.assert_array_equal(got, want)


def test_compiled_median_equals_scikit_image_on_random_bands():
    """The compiled filter gives scikit-image's rank median exactly: any radius, any size (down to
    one pixel), narrow value ranges (many ties), masks with empty windows, and any rows.
    """
    from skimage.filters.rank import median

    from sscnb.phase2._median import median_rows

    rng = np.random.default_rng(7)
    for trial in range(80):
        H, W = (int(v) for v in rng.integers(1, 40, 2))
        r = int(rng.integers(1, 7))
        band = rng.integers(0, int(rng.integers(1, 256)), (H, W), dtype=np.uint8)
        mask = rng.random((H, W)) > rng.random() if trial % 2 else None
        want = median(band, disk(r), mask=None if mask is None else mask.astype(np.uint8))
        y0 = int(rng.integers(0, H))
        y1 = int(rng.integers(y0 + 1, H + 1))
        np.testing.assert_array_equal(median_rows(band, disk(r), 0, H, mask), want, err_msg=f"trial {trial}")
        np.testing.assert_array_equal(median_rows(band, disk(r), y0, y1, mask), want[y0:y1], err_msg=f"trial {trial}")


def test_compiled_median_by_hand():
    """A 3 x 3 square on a 3 x 3 band: the centre sees all nine values (median 5), a corner sees
    four (1, 2, 4, 5: the upper median, 4, as scikit-image), and a window with no valid pixel is 0.
    """
    from sscnb.phase2._median import median_rows

    band = np.arange(1, 10, dtype=np.uint8).reshape(3, 3)
    out = median_rows(band, np.ones((3, 3), bool), 0, 3)
    assert out[1, 1] == 5
    assert out[0, 0] == 4
    mask = np.zeros((3, 3), bool)
    mask[2, 2] = True
    masked = median_rows(band, np.ones((3, 3), bool), 0, 3, mask)
    assert masked[0, 0] == 0  # no valid pixel within reach
    assert masked[1, 1] == 9  # only the valid corner


def test_footprint_rows_must_be_runs():
    from sscnb.phase2._median import row_segments

    lo, hi = row_segments(disk(2))
    assert lo.tolist() == [0, -1, -2, -1, 0]
    assert hi.tolist() == [0, 1, 2, 1, 0]
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    with pytest.raises(ValueError, match="row 1 must be one run"):
        row_segments(ring)
    with pytest.raises(ValueError, match="square with odd sides"):
        row_segments(np.ones((2, 2), bool))


def test_median_compiles_without_a_cache_folder(monkeypatch, caplog):
    """Where Numba finds no writable cache folder it refuses cache=True; the filter is then compiled
    in the process (and the log says so), with the same numbers.
    """
    import logging

    import numba

    from sscnb.phase2 import _median as _median

    real = numba.njit

    def no_cache(**kw):
        if kw.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
        return real(**kw)

    monkeypatch.setattr(_median, "njit", no_cache)
    with caplog.at_level(logging.INFO, logger="sscnb.phase2"):
        kernel = _median._compiled(_median._median_padded.py_func)
    assert "compiled in each process" in caplog.text
    band = np.arange(1, 10, dtype=np.uint8).reshape(3, 3)
    padded = np.full((5, 5), _median.OUTSIDE, np.uint16)
    padded[1:4, 1:4] = band
    out = np.empty((3, 3), np.uint8)
    lo, hi = _median.row_segments(np.ones((3, 3), bool))
    kernel(padded, lo, hi, 1, out)
    np.testing.assert_array_equal(out, _median.median_rows(band, np.ones((3, 3), bool), 0, 3))


@pytest.mark.slow  # XLA compiles the filter for each of ten image sizes: about 7 s on 2 cores
def test_accelerator_median_equals_the_compiled_filter(monkeypatch):
    """The radix-select median in keras.ops (the GPU's filter, here on the CPU through XLA) gives the
    compiled filter's numbers exactly: random sizes (down to one row or column) and radii, few grey
    levels (many ties, even populations), masks, and row blocks (a small BLOCK_PX).
    """
    from sscnb.phase2 import _median_ops as _median_ops
    from sscnb.phase2._median import median_rows

    rng = np.random.default_rng(7)
    for trial in range(10):
        H, W = (int(n) for n in rng.integers(1, 36, 2))
        r = int(rng.integers(1, 6))
        img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        if trial % 2:
            img = img // 64 * 64  # four levels: ties everywhere
        mask = None if trial < 3 else rng.random((H, W)) > rng.choice([0.3, 0.9])
        if trial > 6:
            monkeypatch.setattr(_median_ops, "BLOCK_PX", int(rng.integers(1, 200)))
        got = _median_ops.median_bands(img, disk(r), mask)
        want = np.stack([median_rows(img[..., k], disk(r), 0, H, mask) for k in range(3)], axis=-1)
        np.testing.assert_array_equal(got, want, err_msg=f"trial {trial}: {H} x {W}, radius {r}")


def test_accelerator_median_by_hand():
    """As the compiled filter's case: the centre of a 3 x 3 square on 1..9 is 5, a corner sees
    1, 2, 4, 5 (the upper median, 4), and a pixel with no valid pixel within reach is 0.
    """
    from sscnb.phase2._median_ops import median_bands

    band = np.arange(1, 10, dtype=np.uint8).reshape(3, 3, 1)
    out = median_bands(band, np.ones((3, 3), bool))[..., 0]
    assert out[1, 1] == 5
    assert out[0, 0] == 4
    mask = np.zeros((3, 3), bool)
    mask[2, 2] = True
    masked = median_bands(band, np.ones((3, 3), bool), mask)[..., 0]
    assert masked[0, 0] == 0
    assert masked[1, 1] == 9


def test_median_device_follows_the_setting_and_the_accelerator(monkeypatch):
    """SSCNB_MEDIAN picks the device; unset, the accelerator only when Keras is in use and has one;
    a setting it does not know is an error that names it. Both devices give the same features.
    """
    from sscnb.cnn import _keras as _keras
    from sscnb.cnn import _predict as predict
    from sscnb.phase2 import _features as features

    monkeypatch.setenv("SSCNB_MEDIAN", "gpu")
    with pytest.raises(ValueError, match="SSCNB_MEDIAN must be one of auto, cpu, accelerator"):
        features.median_device()
    monkeypatch.delenv("SSCNB_MEDIAN")
    monkeypatch.setattr(predict, "accelerator", lambda: "gpu")
    monkeypatch.setattr(_keras, "_KERAS", None)  # no model loaded: not even looked for
    assert features.median_device() == "cpu"
    monkeypatch.undo()
    _keras._keras()
    monkeypatch.setattr(predict, "accelerator", lambda: "gpu")
    assert features.median_device() == "accelerator"
    monkeypatch.setattr(predict, "accelerator", lambda: None)
    assert features.median_device() == "cpu"
    monkeypatch.setenv("SSCNB_MEDIAN", " Accelerator ")
    assert features.median_device() == "accelerator"

    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (40, 57, 3), dtype=np.uint8)
    valid = np.ones((40, 57), bool)
    valid[:, :9] = False  # a no-data border
    on_keras = pixel_features(img, 5, False, valid)
    monkeypatch.setenv("SSCNB_MEDIAN", "cpu")
    np.testing.assert_array_equal(on_keras, pixel_features(img, 5, False, valid))


# -- the multiscale bands (features="multiscale") --------------------------------------------------


def test_multiscale_bands_by_hand():
    from sscnb.phase2._features import HUE_SIGMAS, MULTISCALE_SIGMAS, N_MULTISCALE, multiscale_features

    assert N_MULTISCALE == 4 * len(MULTISCALE_SIGMAS) + 2 * len(HUE_SIGMAS) == 24
    hue = 4 * len(MULTISCALE_SIGMAS)  # the hue's cosine and sine follow the scales' bands
    # a checkerboard of black and white pixels: grey on average, standard deviation 127.5 at every scale
    chk = np.zeros((64, 64, 3), np.uint8)
    chk[np.indices((64, 64)).sum(axis=0) % 2 == 1] = 255
    f = multiscale_features(chk)
    for k in range(1, 5):  # sigma 2 to 16 px average the board out (at 1 px some of it is left)
        assert f[32, 32, 4 * k] == pytest.approx(127.5, abs=0.5)
        assert f[32, 32, 4 * k + 2] == pytest.approx(127.5, abs=1.0)
    assert np.allclose(f[..., 3:hue:4], 0)  # black, white and grey have no saturation
    assert np.allclose(f[..., hue::2], 1)
    assert np.allclose(f[..., hue + 1 :: 2], 0)
    # a vertical step from 0 to 90: its edges are strongest on the step and nothing far from it
    step = np.zeros((40, 240, 3), np.uint8)
    step[:, 120:] = 90
    g = multiscale_features(step)
    for k, sigma in enumerate(MULTISCALE_SIGMAS):
        edges = g[20, :, 4 * k + 1]
        assert np.argmax(edges) in (119, 120)
        # the gradient of a step of 90 smoothed by a Gaussian peaks at about 90 / (sigma sqrt(2 pi))
        assert edges.max() == pytest.approx(90 / (sigma * np.sqrt(2 * np.pi)), rel=0.15)
        assert edges[0] < 1e-3
        assert edges[-1] < 1e-3


def test_the_hue_is_smoothed_round_its_circle():
    """Reds of 10 and 350 degrees meet at 0 degrees (red), not at 180 (cyan) as a hue read as a number would."""
    from sscnb.phase2._features import HUE_SIGMAS, MULTISCALE_SIGMAS, multiscale_features

    img = np.zeros((40, 120, 3), np.uint8)
    img[:, :60] = (255, 43, 0)  # hue 10.1 degrees
    img[:, 60:] = (255, 0, 43)  # hue 349.9 degrees
    f = multiscale_features(img)
    hue = 4 * len(MULTISCALE_SIGMAS)
    for j, _sigma in enumerate(HUE_SIGMAS):
        cos, sin = f[20, :, hue + 2 * j], f[20, :, hue + 2 * j + 1]
        assert cos[0] == pytest.approx(np.cos(np.radians(10.1)), abs=1e-3)
        assert sin[0] == pytest.approx(np.sin(np.radians(10.1)), abs=1e-3)
        assert sin[-1] == pytest.approx(-np.sin(np.radians(10.1)), abs=1e-3)
        assert cos[59:61] == pytest.approx(np.cos(np.radians(10.1)), abs=1e-3)  # red where they meet
        assert abs(sin[59]) < 0.1
        assert abs(sin[60]) < 0.1


def test_multiscale_intensity_is_scikit_images_gaussian():
    """The smoothed intensity, against a plain reference: scikit-image's Gaussian of the mean of R, G, B."""
    from skimage.filters import gaussian

    from sscnb.phase2._features import MULTISCALE_SIGMAS, multiscale_features

    img = np.random.default_rng(3).integers(0, 256, (50, 70, 3)).astype(np.uint8)
    f = multiscale_features(img)
    grey = img.astype(np.float64).mean(axis=-1)
    for k, sigma in enumerate(MULTISCALE_SIGMAS):
        ref = gaussian(grey, sigma=sigma, truncate=3.0, mode="reflect", preserve_range=True)
        np.testing.assert_allclose(f[..., 4 * k], ref, atol=1e-3)


@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (5, 7), (150, 90)])
@pytest.mark.parametrize("threads", ["1", "2"])
def test_multiscale_bands_equal_scipys_filters_bit_for_bit(shape, threads, monkeypatch):
    """The compiled filters give scipy.ndimage's numbers exactly: kernels longer than the image (mirrored again
    and again), one row or column, and blocks of rows on one thread or two.
    """
    from sscnb.phase2._features import _TRUNCATE, HUE_SIGMAS, MULTISCALE_SIGMAS, multiscale_features
    from sscnb.phase2._gauss import scipy_reference

    monkeypatch.setenv("SSCNB_THREADS", threads)
    img = np.random.default_rng(11).integers(0, 256, shape + (3,)).astype(np.uint8)
    np.testing.assert_array_equal(multiscale_features(img), scipy_reference(img, MULTISCALE_SIGMAS, _TRUNCATE, HUE_SIGMAS))


def test_multiscale_features_of_a_window_with_its_halo_equal_the_whole_images():
    from sscnb.phase2._features import feature_halo

    img = np.random.default_rng(4).integers(0, 256, (160, 60, 3)).astype(np.uint8)
    whole = pixel_features(img, 2, True, None, "multiscale")
    assert whole.shape == (160, 60, 3 + 1 + 24)
    h = feature_halo(2, True, "multiscale")
    assert h == 48
    for y0, y1 in ((0, 40), (40, 100), (100, 160)):
        r0, r1 = max(0, y0 - h), min(160, y1 + h)
        strip = pixel_features(img[r0:r1], 2, True, None, "multiscale")[y0 - r0 : y1 - r0]
        np.testing.assert_array_equal(strip, whole[y0:y1])


def test_an_unknown_feature_set_is_refused_with_the_choices():
    from sscnb import ssc

    with pytest.raises(
        ValueError, match=r"features must be one of \['median_rgb', 'multiscale', 'multiscale_cnn'\], got 'texture'"
    ):
        pixel_features(np.zeros((5, 5, 3), np.uint8), 1, features="texture")
    with pytest.raises(
        ValueError, match=r"features must be one of \['median_rgb', 'multiscale', 'multiscale_cnn'\], got 'texture'"
    ):
        ssc.SSCParams(features="texture")


# -- the CNN's bands (features="multiscale_cnn") ----------------------------------------------------


def test_cnn_bands_interpolate_between_tile_centres_as_a_plain_reference():
    """Bilinear between the centres of the tiles (4.5 and 14.5 px for 10 px tiles), the edge tiles'
    values held beyond their centres: scipy's interpolator on clamped coordinates gives the same
    numbers, and the bands of single pixels are bit for bit those of whole rows.
    """
    from scipy.interpolate import RegularGridInterpolator

    from sscnb.phase2._cnnbands import bands_at, bands_rows

    grid = np.random.default_rng(0).normal(size=(3, 4, 2)).astype(np.float32)
    tile, H, W = 10, 33, 47  # a margin no whole tile covers, below and on the right
    whole = bands_rows(grid, tile, 0, H, W)
    centres_r, centres_c = np.arange(3) * tile + 4.5, np.arange(4) * tile + 4.5
    rr, cc = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    pts = np.stack([np.clip(rr, centres_r[0], centres_r[-1]), np.clip(cc, centres_c[0], centres_c[-1])], axis=-1)
    for k in range(2):
        ref = RegularGridInterpolator((centres_r, centres_c), grid[..., k].astype(np.float64))(pts)
        np.testing.assert_allclose(whole[..., k], ref, atol=1e-5)
    np.testing.assert_array_equal(whole[4, 4], grid[0, 0])  # at a centre: that tile's values
    np.testing.assert_allclose(whole[4, 7], 0.75 * grid[0, 0] + 0.25 * grid[0, 1], atol=1e-6)  # a quarter of the way
    r, c = np.random.default_rng(1).integers(0, H, 200), np.random.default_rng(2).integers(0, W, 200)
    np.testing.assert_array_equal(bands_at(grid, tile, r, c), whole[r, c])
    np.testing.assert_array_equal(bands_rows(grid, tile, 12, 30, W), whole[12:30])  # a strip: the same numbers
    one = bands_rows(grid[:1, :1], tile, 0, 12, 15)  # one tile: its values everywhere
    np.testing.assert_array_equal(one, np.broadcast_to(grid[0, 0], (12, 15, 2)))


def test_cnn_activations_reduce_to_the_principal_components_of_the_valid_tiles():
    """The scores of scikit-learn's PCA on the valid tiles (up to each axis's sign, which is fixed:
    the largest loading positive); an invalid tile takes its nearest valid tile's; no valid tile, or
    fewer dimensions than bands, gives zeros.
    """
    from sklearn.decomposition import PCA

    from sscnb.phase2._cnnbands import project_activations

    rng = np.random.default_rng(0)
    acts = rng.normal(size=(4, 5, 6)).astype(np.float32) * np.array([5, 4, 3, 2, 1, 0.5], np.float32)
    valid = np.ones((4, 5), bool)
    valid[0, 0] = valid[3, 4] = False
    z = project_activations(acts, valid, 3)
    ref = PCA(3).fit_transform(acts[valid].astype(np.float64))
    for k in range(3):
        sign = np.sign(ref[0, k] * z[valid][0, k])
        np.testing.assert_allclose(z[valid][:, k], sign * ref[:, k], atol=1e-4)
    assert np.array_equal(z[0, 0], z[0, 1]) or np.array_equal(z[0, 0], z[1, 0])  # a nearest valid tile's
    assert np.array_equal(z[3, 4], z[3, 3]) or np.array_equal(z[3, 4], z[2, 4])
    again = project_activations(acts[:, ::-1], valid[:, ::-1], 3)[:, ::-1]  # the tiles in another order
    np.testing.assert_allclose(again[valid], z[valid], atol=1e-4)  # the same signs
    line = np.zeros((1, 3, 4), np.float32)
    line[0, :, 2] = [1, 2, 3]
    z1 = project_activations(line, np.ones((1, 3), bool), 2)
    assert z1[0, :, 0].tolist() == [-1.0, 0.0, 1.0]
    assert (z1[..., 1] == 0).all()  # rank 1: one component
    assert (project_activations(acts, np.zeros((4, 5), bool), 3) == 0).all()


def test_tile_activations_are_what_the_cnns_classifier_sees(colour_cnns):
    """The colour CNN's hidden layer is each tile's mean colour; its Dense layer on those gives the
    CNN's probabilities. A model without a Dense classifier last is refused, naming the layer.
    """
    import keras

    from sscnb.cnn._predict import hidden_model, predict_tiles, predict_with_hidden, tile_activations

    cnn = colour_cnns(16)
    x = np.random.default_rng(0).integers(0, 256, (7, 16, 16, 3), dtype=np.uint8)
    acts = tile_activations(cnn.model, x, batch_size=4)
    np.testing.assert_allclose(acts, x.reshape(7, -1, 3).mean(axis=1), rtol=1e-5)
    w, b = cnn.model.layers[-1].get_weights()
    logits = acts @ w + b
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(predict_tiles(cnn.model, x, 4), proba / proba.sum(axis=1, keepdims=True), atol=1e-5)
    assert hidden_model(cnn.model) is hidden_model(cnn.model)  # made once
    # one pass for both: the probabilities from the activations equal the CNN's; with TTA, the CNN's own
    one, hid = predict_with_hidden(cnn.model, x, 4)
    np.testing.assert_allclose(one, predict_tiles(cnn.model, x, 4), atol=1e-6)
    np.testing.assert_array_equal(hid, acts)
    tta, _ = predict_with_hidden(cnn.model, x, 4, tta=True)
    np.testing.assert_array_equal(tta, predict_tiles(cnn.model, x, 4, tta=True))
    np.testing.assert_allclose(tile_activations(cnn.model, x, tta=True), acts, rtol=1e-5)  # the mean turns with the tile
    inp = keras.Input((16, 16, 3))
    bare = keras.Model(inp, keras.layers.GlobalAveragePooling2D(name="pool")(inp))
    with pytest.raises(ValueError, match=r"last layer is GlobalAveragePooling2D \('pool'\).*features 'multiscale'"):
        tile_activations(bare, x)
