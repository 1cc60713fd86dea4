import numpy as np
import pytest

from sscnb.pixel import fit_pixel_classifier, sample_training_pixels, unique_rows


def _scene():
    """Left half blue-ish water (1), right half green (3); the CNN map is blocky and 10% wrong."""
    rng = np.random.default_rng(0)
    img = np.zeros((60, 80, 3), np.uint8)
    img[:, :40] = (40, 90, 120)
    img[:, 40:] = (60, 120, 50)
    img = np.clip(img.astype(int) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
    truth = np.where(np.arange(80)[None, :] < 40, 1, 3).repeat(60, 0).astype(np.uint8)
    cnn = truth.copy()
    cnn[:10, 30:40] = 3     # a wrong tile
    cnn[50:, :] = 0         # an unclassified strip
    return img, truth, cnn


def test_unique_rows_inverse_is_exact():
    x = np.random.default_rng(1).integers(0, 4, (1000, 3)).astype(np.uint8)
    u, inv = unique_rows(x)
    np.testing.assert_array_equal(u[inv], x)
    assert len(u) == len(np.unique(x, axis=0))
    xf = x.astype(np.float32)
    u2, inv2 = unique_rows(xf)
    np.testing.assert_array_equal(u2[inv2], xf)


def test_sampling_uses_cnn_pixels_only_and_floor():
    img, truth, cnn = _scene()
    x, y = sample_training_pixels(img, cnn, subsample=0.01, min_sample=500, seed=0)
    assert 495 <= len(y) <= 505 and set(np.unique(y)) == {1, 3}
    x, y = sample_training_pixels(img, cnn, subsample=1.0, min_sample=10)
    assert len(y) == (cnn > 0).sum()
    with pytest.raises(ValueError, match="classified no pixel"):
        sample_training_pixels(img, np.zeros_like(cnn))


@pytest.mark.parametrize("kind", ["rf", "mlp"])
def test_pixel_classifier_corrects_the_tile_map(kind):
    img, truth, cnn = _scene()
    x, y = sample_training_pixels(img, cnn, subsample=1.0)
    clf = fit_pixel_classifier(x, y, kind, epochs=30, batch_size=256, n_trees=20, seed=0)
    out = clf.predict(img)
    assert out.shape == truth.shape
    assert (out == truth).mean() > 0.97          # the wrong tile and the unclassified strip are fixed
    assert (cnn == truth).mean() < 0.85


def test_one_class_map_gives_that_class():
    img, _, _ = _scene()
    cnn = np.full(img.shape[:2], 2, np.uint8)
    x, y = sample_training_pixels(img, cnn)
    clf = fit_pixel_classifier(x, y, "mlp")
    assert clf.info["one_class"] and (clf.predict(img) == 2).all()


def test_smote_enn_option_runs():
    img, _, cnn = _scene()
    x, y = sample_training_pixels(img, cnn, subsample=1.0)
    clf = fit_pixel_classifier(x, y, "rf", use_smote=True, n_trees=10)
    assert "n_after_smote_enn" in clf.info
