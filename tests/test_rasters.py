import numpy as np
import tifffile

from sscnb.classes import DEFAULT_CLASSES
from sscnb.rasters import read_georeferencing, save_class_raster


def _geotiff(path):
    img = np.zeros((20, 30, 3), np.uint8)
    tags = [
        (33550, "d", 3, (0.05, 0.05, 0.0), True),                        # pixel scale (m)
        (33922, "d", 6, (0.0, 0.0, 0.0, 512000.0, 5300000.0, 0.0), True),  # tie point
        (34735, "H", 16, (1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32619), True),
    ]
    tifffile.imwrite(path, img, photometric="rgb", extratags=tags)
    return path


def test_geotiff_tags_and_colour_table_kept(tmp_path):
    src = _geotiff(tmp_path / "River_0001.tif")
    cm = np.random.default_rng(0).integers(0, 6, (20, 30)).astype(np.uint8)
    out = save_class_raster(tmp_path / "out" / "River_0001_x_MLP.tif", cm, DEFAULT_CLASSES, georef_from=src)
    with tifffile.TiffFile(out) as tf:
        page = tf.pages[0]
        np.testing.assert_array_equal(page.asarray(), cm)
        assert page.photometric == tifffile.PHOTOMETRIC.PALETTE
        assert tuple(page.tags[33550].value) == (0.05, 0.05, 0.0)
        assert tuple(page.tags[33922].value)[3:5] == (512000.0, 5300000.0)
        assert tuple(page.tags[34735].value)[-1] == 32619
        cmap = page.colormap
        assert tuple(cmap[:, 1] // 257) == (0x1F, 0x78, 0xB4)  # water colour
    assert not list((tmp_path / "out").glob(".tmp_*"))


def test_world_file_copied(tmp_path):
    import imageio.v3 as iio

    src = tmp_path / "River_0002.jpg"
    iio.imwrite(src, np.zeros((20, 30, 3), np.uint8))
    (tmp_path / "River_0002.jgw").write_text("0.05\n0\n0\n-0.05\n512000\n5300000\n")
    assert read_georeferencing(src)["world_file"].name == "River_0002.jgw"
    out = save_class_raster(tmp_path / "m.tif", np.ones((20, 30), np.uint8), DEFAULT_CLASSES, georef_from=src)
    assert out.with_suffix(".tfw").read_text().startswith("0.05")


def test_no_georeferencing_is_fine(tmp_path):
    out = save_class_raster(tmp_path / "m.tif", np.ones((5, 5), np.uint8), DEFAULT_CLASSES)
    assert tifffile.imread(out).shape == (5, 5) and not out.with_suffix(".tfw").exists()
