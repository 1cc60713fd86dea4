import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import disk

from sscnb.features import local_entropy, median_rgb, pixel_features


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
    assert median_rgb(img, 0) is not None and (median_rgb(img, 0) == img).all()


def test_entropy_flat_is_zero_and_two_levels_is_one_bit():
    img = np.zeros((30, 30, 3), np.uint8)
    assert np.allclose(local_entropy(img), 0)
    chk = np.zeros((30, 30, 3), np.uint8)
    chk[:, ::2] = 255  # half black, half white in any 11x11 window (approximately)
    e = local_entropy(chk)
    assert abs(e[15, 15] - 1.0) < 0.01
    f = pixel_features(chk, 1, use_entropy=True)
    assert f.shape == (30, 30, 4) and f.dtype == np.float32
