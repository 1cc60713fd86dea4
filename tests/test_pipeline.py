"""The per-image pipeline's steps: the same code for an image in memory and one read in strips."""

import numpy as np
import pytest

from conftest import COLOUR_CNN_TILE
from sscnb import pipeline, ssc

T = COLOUR_CNN_TILE


def scene(h=64, w=85, seed=0):
    """Water left of x = 37, vegetation right of it, a no-data corner, and noise for the median to work on."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :37] = (30, 80, 140)
    img[:, 37:] = (60, 130, 50)
    img = np.clip(img.astype(int) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
    mask = np.ones((h, w), bool)
    mask[:7, :12] = False
    return img, mask


def run_in_strips(img, cnn, p, strips, mask=None):
    """Every step of the pipeline over an image in memory read strip by strip, as a raster is."""
    H, W = img.shape[:2]
    job = pipeline.ImageJob(
        "img", pipeline.ImageSource(img, mask), (H, W), cnn, p, strips, pipeline.MemoryFeatures((H, W)), keep_proba=True
    )
    pipeline.phase1(job, overlap=False)
    pipeline.correct_input(job)
    grid = pipeline.apply_tile_rules(job.tile_codes, job.confidence, p)
    choice = pipeline.choose(job, grid)
    lut = pipeline.colour_table(job, choice)
    final = np.concatenate([f for _, _, f in pipeline.final_strips(job, grid, choice, lut)])
    cnn_map = np.concatenate([pipeline.cnn_strip(job, grid, y0, y1, job.store.read_valid(y0, y1)) for y0, y1 in strips])
    return job, cnn_map, final


# multiscale: two whole runs with the multiscale features, about 6 s on 2 cores
@pytest.mark.parametrize("features", ["median_rgb", pytest.param("multiscale", marks=pytest.mark.slow)])
def test_strips_of_an_image_give_the_maps_of_the_whole(colour_cnn, features):
    """Three strips of whole tile rows (the last with the margin), each read with its halo: the same tile map,
    phase 2 choice and final map, pixel for pixel, as classify_image's one read of the whole image.
    """
    img, mask = scene()
    p = ssc.SSCParams(median_radius=2, mlp_epochs=5, mlp_batch_size=256, min_sample=1000, features=features)
    whole = ssc.classify_image(img, colour_cnn, p, mask=mask)
    strips = [(0, 2 * T), (2 * T, 4 * T), (4 * T, 64)]
    job, cnn_map, final = run_in_strips(img, colour_cnn, p, strips, mask)
    np.testing.assert_array_equal(cnn_map, whole.cnn_map)
    np.testing.assert_array_equal(final, whole.final_map)
    np.testing.assert_allclose(job.proba, whole.cnn_proba)
    assert job.info["phase2_choice"] == whole.info["phase2_choice"]
    assert job.info["input_stats"] == pytest.approx(whole.info["input_stats"])  # float32 medians of 3 parts
    assert (final[~mask] == 0).all()
    assert (whole.final_map[mask] > 0).all()  # every valid pixel classified, the margin too


def test_memory_features_keep_a_whole_image_without_a_copy_and_strips_in_place():
    f = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)
    v = np.ones((4, 3), bool)
    whole = pipeline.MemoryFeatures((4, 3))
    whole.write(0, f, v)
    assert np.shares_memory(whole.read(0, 4)[0], f)
    parts = pipeline.MemoryFeatures((4, 3))
    parts.write(2, f[2:], v[2:])
    parts.write(0, f[:2], v[:2])
    np.testing.assert_array_equal(parts.read(1, 3)[0], f[1:3])
    assert not np.shares_memory(parts.read(0, 4)[0], f)


def test_one_strip_checks_the_input_before_the_cnn_which_runs_once(colour_cnn, monkeypatch):
    """An image in memory is one strip: the CNN sees the gamma-corrected tiles at once, never twice;
    read in two strips, the check needs both, and the CNN runs again on the corrected input.
    """
    from sscnb.cnn import _inputstats

    img, _ = scene()
    dark = (img * 0.4).astype(np.uint8)
    p = ssc.SSCParams(median_radius=1, mlp_epochs=5, normalise=True)
    monkeypatch.setattr(_inputstats, "normalising_gamma", lambda stats, trained: 1.5)
    calls = []
    real = pipeline.predict_tiles_masked
    from sscnb.pipeline import _steps

    monkeypatch.setattr(_steps, "predict_tiles_masked", lambda *a, **k: calls.append(len(a[1])) or real(*a, **k))
    H = img.shape[0]
    one, _, _ = run_in_strips(dark, colour_cnn, p, [(0, H)])
    assert one.gamma == 1.5
    assert one.info["cnn_gamma"] == 1.5
    assert calls == [48]  # 6 x 8 tiles, once
    calls.clear()
    two, _, _ = run_in_strips(dark, colour_cnn, p, [(0, 3 * T), (3 * T, H)])
    assert calls == [24, 24, 24, 24]  # each strip before the check, then again after it
    np.testing.assert_array_equal(two.tile_codes, one.tile_codes)
    np.testing.assert_allclose(two.confidence, one.confidence)
