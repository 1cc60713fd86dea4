"""Class maps of notebook 03's images (in memory) keep the image's georeferencing, via rasterio."""

import numpy as np
import pytest
import rasterio
import tifffile
from rasterio.crs import CRS

from sscnb.data._classes import DEFAULT_CLASSES
from sscnb.data._geo import SurveyError
from sscnb.maps._files import read_category_names, write_class_map


def _geotiff(path):
    img = np.zeros((20, 30, 3), np.uint8)
    tags = [
        (33550, "d", 3, (0.05, 0.05, 0.0), True),  # pixel scale (m)
        (33922, "d", 6, (0.0, 0.0, 0.0, 512000.0, 5300000.0, 0.0), True),  # tie point
        (34735, "H", 16, (1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32619), True),
    ]
    tifffile.imwrite(path, img, photometric="rgb", extratags=tags)
    return path


def test_geotiff_georeferencing_and_colour_table_kept(tmp_path):
    src = _geotiff(tmp_path / "River_0001.tif")
    cm = np.random.default_rng(0).integers(0, 6, (20, 30)).astype(np.uint8)
    out = write_class_map(tmp_path / "out" / "River_0001_x_MLP.tif", cm, DEFAULT_CLASSES, georef_from=src)
    with rasterio.open(out) as ds:
        np.testing.assert_array_equal(ds.read(1), cm)
        assert ds.crs == CRS.from_epsg(32619)
        assert (ds.transform.c, ds.transform.f, ds.transform.a) == (512000.0, 5300000.0, 0.05)
        assert ds.colormap(1)[1][:3] == (0x1F, 0x78, 0xB4)  # water colour
    assert read_category_names(out)[1] == "water"
    assert not list((tmp_path / "out").glob(".tmp_*"))


def test_world_file_and_prj_read(tmp_path):
    import imageio.v3 as iio

    src = tmp_path / "River_0002.jpg"
    iio.imwrite(src, np.zeros((20, 30, 3), np.uint8))
    (tmp_path / "River_0002.jgw").write_text("0.05\n0\n0\n-0.05\n512000.025\n5299999.975\n")
    (tmp_path / "River_0002.prj").write_text(CRS.from_epsg(32619).to_wkt())
    out = write_class_map(tmp_path / "m.tif", np.ones((20, 30), np.uint8), DEFAULT_CLASSES, georef_from=src)
    with rasterio.open(out) as ds:
        assert ds.crs == CRS.from_epsg(32619)
        assert ds.transform.c == pytest.approx(512000.0)
        assert ds.transform.f == pytest.approx(5300000.0)


def test_no_georeferencing_is_fine_and_size_must_match(tmp_path):
    out = write_class_map(tmp_path / "m.tif", np.ones((5, 5), np.uint8), DEFAULT_CLASSES)
    with rasterio.open(out) as ds:
        assert ds.shape == (5, 5)
        assert ds.crs is None
    src = _geotiff(tmp_path / "River_0003.tif")
    with pytest.raises(SurveyError, match="River_0003.tif is 30 x 20 px"):
        write_class_map(tmp_path / "bad.tif", np.ones((5, 5), np.uint8), DEFAULT_CLASSES, georef_from=src)


def test_open_raster_is_quiet_only_about_missing_georeferencing(tmp_path):
    """Sscnb opens every raster through geo.open_raster: a plain frame (pixel coordinates on purpose)
    opens without rasterio's NotGeoreferencedWarning, and nothing else is silenced.
    """
    import warnings

    import imageio.v3 as iio
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    from sscnb.data import _geo as geo

    plain = tmp_path / "frame.png"
    iio.imwrite(plain, np.zeros((8, 12, 3), np.uint8))
    with pytest.warns(NotGeoreferencedWarning):  # rasterio alone warns
        rasterio.open(plain).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning would fail here
        with geo.open_raster(plain) as ds:
            assert (ds.width, ds.height, ds.count) == (12, 8, 3)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with geo.open_raster(plain) as ds:
            warnings.warn("another warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["another warning"]
