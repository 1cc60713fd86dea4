"""Tile labels of a new river: the labels CSV, polygons drawn in QGIS, SCLS_ rasters; bad labels are
refused with the file and the fix, before anything is written.
"""

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE
from sscnb import labels
from sscnb.data._classes import ClassScheme

SCHEME = ClassScheme.default()


def _image(tmp_path, name="Newriver_0001.png", shape=(120, 200), georef=False):
    """A plain PNG, or a GeoTIFF in EPSG:32619 with 0.5 m pixels and its top left at (500000, 5200000)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, shape + (3,), dtype=np.uint8)
    if not georef:
        import imageio.v3 as iio

        p = tmp_path / name
        iio.imwrite(p, img)
        return p
    import rasterio
    from rasterio.transform import from_origin

    p = tmp_path / name.replace(".png", ".tif")
    with rasterio.open(
        p,
        "w",
        driver="GTiff",
        width=shape[1],
        height=shape[0],
        count=3,
        dtype="uint8",
        crs="EPSG:32619",
        transform=from_origin(500000, 5200000, 0.5, 0.5),
    ) as ds:
        ds.write(np.moveaxis(img, -1, 0))
    return p


def _polygons(path, polys, crs="EPSG:32619", field="class_code"):
    import fiona

    schema = {"geometry": "Polygon", "properties": {field: "int"}}
    with fiona.open(path, "w", driver="GPKG", crs=crs, schema=schema, SPATIAL_INDEX="NO") as dst:
        for coords, code in polys:
            dst.write({"geometry": {"type": "Polygon", "coordinates": [coords + [coords[0]]]}, "properties": {field: code}})
    return path


def _csv(path, rows, tile=50, header=True):
    text = (f"# sscnb tile labels, tile_size={tile}\n" if header else "") + "image,tile_row,tile_col,class_code\n"
    text += "".join(",".join(map(str, r)) + "\n" for r in rows)
    path.write_text(text)
    return path


def test_labels_csv_round_trip_and_a_relabelled_tile_replaced(tmp_path):
    img = _image(tmp_path)
    images = labels.image_index([img])
    p = _csv(
        tmp_path / "l.csv",
        [("Newriver_0001", 0, 0, 1), ("Newriver_0001", 1, 3, 0), ("Newriver_0001", 0, 0, 1), ("Newriver_0001", 1, 2, -1)],
    )
    t = labels.read_tile_labels(p, SCHEME, 50, images)
    assert len(t) == 3  # the tile listed twice with one class is one label
    # the labeller's second click on a tile replaces its first in the file: never two rows to conflict
    t = labels.append_tile_label(p, t, "Newriver_0001", 0, 0, 2, 50)
    t = labels.read_tile_labels(p, SCHEME, 50, images)
    assert len(t) == 3
    assert t[(t.tile_row == 0) & (t.tile_col == 0)].class_code.item() == 2  # the later click
    out = labels.write_tile_labels(tmp_path / "again.csv", t, 50)
    assert out.read_text().startswith("# sscnb tile labels, tile_size=50\nimage,tile_row,tile_col,class_code\n")
    pd.testing.assert_frame_equal(labels.read_tile_labels(out, SCHEME, 50, images), t)


@pytest.mark.parametrize(
    ("rows", "header_tile", "message"),
    [
        ([("Newriver_0001", 0, 0, 9)], 50, "class code 9 is not in the class scheme"),
        ([("Newriver_0001", 2, 0, 1)], 50, "tile (row 2, column 0) is outside Newriver_0001"),  # 120 px: rows 0-1
        ([("Newriver_0001", 0, 4, 1)], 50, "tile (row 0, column 4) is outside"),  # 200 px: cols 0-3
        ([("Newriver_0001", 0, 0, 1)], 25, "labels tiles of 25 px but the model takes 50 px tiles"),
        ([("Otherriver_0007", 0, 0, 1)], 50, "labels tiles of ['Otherriver_0007'] but those images were not given"),
        ([("Newriver_0001", "x", 0, 1)], 50, "tile_row is 'x', not a whole number"),
    ],
)
def test_bad_labels_csv_names_the_file_and_the_fix(tmp_path, rows, header_tile, message):
    img = _image(tmp_path)
    p = _csv(tmp_path / "bad_labels.csv", rows, tile=header_tile)
    with pytest.raises(labels.LabelError, match="bad_labels.csv") as e:
        labels.read_tile_labels(p, SCHEME, 50, labels.image_index([img]))
    assert message in str(e.value)


def test_label_errors_name_the_files_own_line(tmp_path):
    """The recorded tile size, other comments and blank lines count: the line is the one an editor shows."""
    img = _image(tmp_path)
    p = tmp_path / "labels.csv"
    p.write_text(
        "# sscnb tile labels, tile_size=50\nimage,tile_row,tile_col,class_code\nNewriver_0001,0,0,1\n"
        "\n# checked with the team\nNewriver_0001,0,1,2\nNewriver_0001,0,2,9\nNewriver_0001,5,0,1\n"
    )
    with pytest.raises(labels.LabelError, match=r"labels.csv, line 7: class code 9 is not in the class scheme"):
        labels.read_tile_labels(p, SCHEME, 50, labels.image_index([img]))
    p.write_text(p.read_text().replace("0,2,9", "0,2,3"))
    with pytest.raises(labels.LabelError, match=r"labels.csv, line 8: tile \(row 5, column 0\) is outside"):
        labels.read_tile_labels(p, SCHEME, 50, labels.image_index([img]))
    p.write_text(p.read_text().replace("5,0,1", "x,0,1"))
    with pytest.raises(labels.LabelError, match=r"labels.csv, line 8: tile_row is 'x', not a whole number"):
        labels.read_tile_labels(p, SCHEME, 50, labels.image_index([img]))


def test_conflicting_labels_of_one_tile_are_refused_naming_both_lines(tmp_path):
    """Two different classes for one tile: which is right only the user knows; the same class twice is kept once."""
    img = _image(tmp_path)
    p = tmp_path / "labels.csv"
    p.write_text(
        "# sscnb tile labels, tile_size=50\nimage,tile_row,tile_col,class_code\nNewriver_0001,0,0,1\n"
        "Newriver_0001,0,1,2\nNewriver_0001,0,1,2\n\nNewriver_0001,0,0,3\n"
    )
    with pytest.raises(
        labels.LabelError,
        match=r"tile \(row 0, column 0\) of Newriver_0001 is labelled with different classes \(line 3 says 1, line 7 says 3\)",
    ):
        labels.read_tile_labels(p, SCHEME, 50, labels.image_index([img]))
    p.write_text(p.read_text().replace("0,0,3", "0,0,1"))
    t = labels.read_tile_labels(p, SCHEME, 50, labels.image_index([img]))
    assert sorted(zip(t.tile_col, t.class_code, strict=True)) == [(0, 1), (1, 2)]


def test_labels_csv_without_its_columns(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("image,row,col,class\nA_0001,0,0,1\n")
    with pytest.raises(labels.LabelError, match=r"x.csv is not a labels file: columns \['tile_row'"):
        labels.read_tile_labels(p, SCHEME, 50)


def test_polygons_on_a_georeferenced_image_land_on_the_right_pixels(tmp_path):
    img = _image(tmp_path, georef=True)  # x = 500000 + 0.5 col, y = 5200000 - 0.5 row
    # a square from column 10 to 30 and row 20 to 40 (class 1), and one from column 100 to 200, row 0 to 60 (class 3)
    sq = lambda c0, r0, c1, r1: [
        (500000 + 0.5 * c0, 5200000 - 0.5 * r0),
        (500000 + 0.5 * c1, 5200000 - 0.5 * r0),  # noqa: E731
        (500000 + 0.5 * c1, 5200000 - 0.5 * r1),
        (500000 + 0.5 * c0, 5200000 - 0.5 * r1),
    ]
    gp = _polygons(tmp_path / "areas.gpkg", [(sq(10, 20, 30, 40), 1), (sq(100, 0, 200, 60), 3)])
    lab = labels.rasterize_polygons(gp, img, SCHEME)
    expect = np.zeros((120, 200), np.uint8)
    expect[20:40, 10:30] = 1
    expect[0:60, 100:200] = 3
    np.testing.assert_array_equal(lab, expect)
    t = labels.load_labels(gp, labels.image_index([img]), SCHEME, 50)
    # only the tiles 90% inside one polygon are labelled: tiles (0, 2) and (0, 3) of class 3
    assert sorted(zip(t.tile_row, t.tile_col, t.class_code, strict=True)) == [(0, 2, 3), (0, 3, 3)]
    sq_gpkg = labels.write_tile_squares(tmp_path / "squares.gpkg", t, img, 50, SCHEME)
    import fiona

    with fiona.open(sq_gpkg) as src:
        feats = list(src)
        assert len(feats) == 2
        assert src.crs.to_epsg() == 32619
        xs = [p[0] for p in feats[0]["geometry"]["coordinates"][0]]
        assert min(xs) == 500000 + 0.5 * 100
        assert max(xs) == 500000 + 0.5 * 150


@pytest.mark.parametrize("qgis_y", [True, False])
def test_polygons_on_a_plain_image_in_pixel_units(tmp_path, qgis_y):
    img = _image(tmp_path)
    s = -1 if qgis_y else 1  # QGIS shows a plain image with y = -row
    gp = _polygons(tmp_path / "p.gpkg", [([(0, 0), (50, 0), (50, s * 50), (0, s * 50)], 2)], crs=None)
    lab = labels.rasterize_polygons(gp, img, SCHEME)
    assert lab[:50, :50].min() == 2
    assert lab.sum() == 2 * 2500
    t = labels.load_labels(gp, labels.image_index([img]), SCHEME, 50)
    assert list(zip(t.tile_row, t.tile_col, t.class_code, strict=True)) == [(0, 0, 2)]


def test_bad_polygons_name_the_file_and_the_fix(tmp_path):
    img = _image(tmp_path, georef=True)
    inside = [(500010, 5199990), (500020, 5199990), (500020, 5199980), (500010, 5199980)]
    wrong_crs = _polygons(tmp_path / "wgs84.gpkg", [(inside, 1)], crs="EPSG:4326")
    with pytest.raises(
        labels.LabelError,
        match=r"wgs84.gpkg is in EPSG:4326 but Newriver_0001.tif is in EPSG:32619: "
        r"reproject",
    ):
        labels.rasterize_polygons(wrong_crs, img, SCHEME)
    far = [(600000, 5100000), (600010, 5100000), (600010, 5099990), (600000, 5099990)]
    outside = _polygons(tmp_path / "far.gpkg", [(far, 1)])
    with pytest.raises(labels.LabelError, match="far.gpkg: 1 of 1 polygons lie outside Newriver_0001.tif"):
        labels.load_labels(outside, labels.image_index([img]), SCHEME, 50)
    bad_class = _polygons(tmp_path / "cls.gpkg", [(inside, 7)])
    with pytest.raises(labels.LabelError, match="cls.gpkg: polygon 1 has class_code = 7, not a class of the scheme"):
        labels.rasterize_polygons(bad_class, img, SCHEME)
    with pytest.raises(labels.LabelError, match="has no field 'klasse'"):
        labels.rasterize_polygons(bad_class, img, SCHEME, class_field="klasse")


def test_labels_from_scls_rasters_follow_the_purity_rule(tmp_path, make_pair):
    lab = np.zeros((100, 150), np.uint8)
    lab[:50, :50] = 1  # tile (0, 0): pure water
    lab[:50, 50:100] = 3
    lab[:6, 50:100] = 2  # tile (0, 1): 88% green: not pure
    lab[50:, 100:] = 4  # tile (1, 2): pure senescent
    ip, _ = make_pair("Newriver_0003.png", np.zeros((100, 150, 3), np.uint8), lab)
    t = labels.load_labels(tmp_path, labels.image_index([ip]), SCHEME, 50)
    assert sorted(zip(t.tile_row, t.tile_col, t.class_code, strict=True)) == [(0, 0, 1), (1, 2, 4)]
    ts = labels.tile_set(t, labels.image_index([ip]), 50)
    assert ts.x.shape == (2, 50, 50, 3)
    assert list(ts.river) == ["Newriver", "Newriver"]


def test_the_committed_sample_labels_are_valid():
    t = labels.read_tile_labels(SAMPLE / "NewRiver" / "tile_labels.csv", SCHEME, 50, labels.image_index(SAMPLE / "NewRiver"))
    assert len(t) == 40
    assert (t.class_code > 0).sum() >= 30
    assert set(t.class_code[t.class_code > 0]) == {1, 2, 3, 4, 5}


def test_start_labels_file_copies_once_and_never_touches_the_source(tmp_path):
    src = SAMPLE / "NewRiver" / "tile_labels.csv"
    before = src.read_bytes()
    work = tmp_path / "adapt" / "tile_labels.csv"
    labels.start_labels_file(work, src, SCHEME, 50)
    t = labels.read_tile_labels(work, SCHEME, 50)
    t2 = labels.append_tile_label(work, t, "Greyrun_0001", 0, 0, 1, 50)
    assert len(t2) == len(t) + (0 if ((t.tile_row == 0) & (t.tile_col == 0)).any() else 1)
    labels.start_labels_file(work, src, SCHEME, 50)  # exists: kept, not replaced
    assert len(labels.read_tile_labels(work, SCHEME, 50)) == len(t2)
    assert src.read_bytes() == before


def test_labeller_writes_tile_squares_beside_the_labels_of_a_georeferenced_image(tmp_path):
    import fiona

    from sscnb.labels import _labeller as labeller

    img = _image(tmp_path, georef=True)
    s = labeller.LabelSession(labels.image_index([img]), tmp_path / "l.csv", None, tile_size=50, order="random")
    first = s.current()
    s.label(3)
    s.label(labels.MIXED)
    with fiona.open(s.squares_path(first[0])) as src:
        feats = list(src)
    assert [f["properties"]["class_name"] for f in feats] == ["green vegetation", "mixed"]
    assert (feats[0]["properties"]["tile_row"], feats[0]["properties"]["tile_col"]) == first[1:]
