"""Area and accuracy with confidence intervals (Olofsson et al. 2014): the estimators against the
paper's worked example and a case computed by hand, the stratified sample, reference classes from a
raster and from points in another CRS, the command's files and its errors.
"""

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from sscnb.assess import _estimate as assess

UTM = CRS.from_epsg(32630)


def sample_from_matrix(n):
    m, r = [], []
    for i in range(n.shape[0]):
        for j in range(n.shape[1]):
            m += [i + 1] * int(n[i, j])
            r += [j + 1] * int(n[i, j])
    return np.array(m), np.array(r)


def test_the_worked_example_of_olofsson_et_al_2014():
    """Section 5 / table 8 of the paper: 4 strata of a 10 000 000-pixel map (30 m pixels), 640 points."""
    n = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])
    m, r = sample_from_matrix(n)
    est, matrix = assess.estimate(m, r, {1: 200_000, 2: 150_000, 3: 3_200_000, 4: 6_450_000})
    est = est.set_index("class_code")
    ha = 0.09  # one 30 m pixel in ha
    # areas (ha) and their 95% intervals, as printed in the paper (+-1 ha: its z is 1.96, rounded)
    np.testing.assert_allclose(
        est.loc[[1, 2, 3, 4], "estimated_area"].to_numpy(float) * ha, [21_158, 11_686, 285_770, 581_386], atol=1
    )
    np.testing.assert_allclose(est.loc[[1, 2, 3, 4], "area_ci95"].to_numpy(float) * ha, [6_158, 3_756, 15_510, 16_282], atol=1)
    np.testing.assert_allclose(est.loc[[1, 2, 3, 4], "users_accuracy"].to_numpy(float), [0.88, 0.73, 0.93, 0.96], atol=0.005)
    np.testing.assert_allclose(est.loc[[1, 2, 3, 4], "users_ci95"].to_numpy(float), [0.07, 0.10, 0.04, 0.02], atol=0.005)
    np.testing.assert_allclose(est.loc[[1, 2, 3, 4], "producers_accuracy"].to_numpy(float), [0.75, 0.85, 0.93, 0.96], atol=0.005)
    np.testing.assert_allclose(est.loc[[1, 2, 3, 4], "producers_ci95"].to_numpy(float), [0.21, 0.25, 0.03, 0.02], atol=0.005)
    assert est.loc["overall", "users_accuracy"] == pytest.approx(0.95, abs=0.005)
    assert est.loc["overall", "users_ci95"] == pytest.approx(0.02, abs=0.005)
    # the error matrix in area proportions: rows sum to the map's shares, the total to 1
    assert matrix.loc["total (reference)", "total (map)"] == pytest.approx(1.0)
    np.testing.assert_allclose(matrix["total (map)"].to_numpy()[:4], [0.02, 0.015, 0.32, 0.645])
    assert matrix.iloc[0, 0] == pytest.approx(0.02 * 66 / 75)


def test_a_two_class_case_by_hand():
    # equal strata of 100 px; mapped 1: 3 right, 1 wrong; mapped 2: 1 wrong, 3 right
    m, r = sample_from_matrix(np.array([[3, 1], [1, 3]]))
    est, _ = assess.estimate(m, r, {1: 100, 2: 100})
    e = est.set_index("class_code")
    # p = [[.375, .125], [.125, .375]]; OA .75, var = 2 * .25 * (.75 * .25 / 3)
    assert e.loc["overall", "users_accuracy"] == pytest.approx(0.75)
    assert e.loc["overall", "users_ci95"] == pytest.approx(1.96 * np.sqrt(0.03125))
    assert e.loc[1, "users_accuracy"] == pytest.approx(0.75)
    assert e.loc[1, "users_ci95"] == pytest.approx(1.96 * 0.25)
    assert e.loc[1, "producers_accuracy"] == pytest.approx(0.75)
    # V(P_1) = [100^2 .25^2 (.75 .25 / 3) + .75^2 100^2 (.25 .75 / 3)] / 100^2 = .0390625
    assert e.loc[1, "producers_ci95"] == pytest.approx(1.96 * np.sqrt(0.0390625))
    assert e.loc[1, "estimated_area"] == pytest.approx(100)
    assert e.loc[1, "area_ci95"] == pytest.approx(1.96 * np.sqrt(0.03125) * 200)


def test_an_interval_of_zero_is_said_for_what_it_is():
    """Class 1 without error in the sample: its +- 0 comes from the sample, not from certainty."""
    # mapped 1: 4 right; mapped 2: 3 right, 1 really class 1
    m, r = sample_from_matrix(np.array([[4, 0], [1, 3]]))
    est, _ = assess.estimate(m, r, {1: 100, 2: 100})
    e = est.set_index("class_code")
    assert e.loc[1, "users_ci95"] == 0
    assert e.loc[2, "producers_ci95"] == 0
    assert assess.NO_SAMPLE_ERROR == "no error in the sample: the interval cannot be estimated from it"
    assert e.loc[1, "note"] == f"{assess.NO_SAMPLE_ERROR} (user's accuracy)"
    assert e.loc[2, "note"] == f"{assess.NO_SAMPLE_ERROR} (producer's accuracy)"
    assert e.loc["overall", "note"] == ""  # overall, the sample holds an error
    lines = assess.estimate_lines(est)
    assert all("+- " in line for line in lines)  # the area intervals and the overall one are not 0
    # a perfect sample: every interval is 0, and every line says why instead of +- 0
    est, _ = assess.estimate(np.array([1, 1, 2, 2]), np.array([1, 1, 2, 2]), {1: 100, 2: 100})
    assert est.note.str.startswith(assess.NO_SAMPLE_ERROR).all()
    lines = assess.estimate_lines(est)
    assert all(line.endswith(f"({assess.NO_SAMPLE_ERROR})") for line in lines)
    assert lines[0] == f"{'1':>22}: mapped 100 px, estimated 100 px ({assess.NO_SAMPLE_ERROR})"


def test_a_reference_class_the_map_never_shows_gets_an_area():
    m = np.array([1, 1, 1, 1, 2, 2, 2, 2])
    r = np.array([1, 1, 1, 3, 2, 2, 2, 2])  # one point of class 3, which the map lacks
    est, _ = assess.estimate(m, r, {1: 300, 2: 100})
    e = est.set_index("class_code")
    assert e.loc[3, "mapped_px"] == 0
    assert e.loc[3, "estimated_area"] == pytest.approx(300 / 4)
    assert np.isnan(e.loc[3, "users_accuracy"])
    assert e.loc[3, "producers_accuracy"] == 0
    assert e.loc[[1, 2, 3], "estimated_area"].sum() == pytest.approx(400)


def test_allocation_minimum_rest_by_area():
    a = assess.allocate({1: 9000, 2: 500, 3: 500}, 200, 50)
    assert sum(a.values()) == 200
    assert min(a.values()) >= 50
    assert a[1] == 95
    # a class smaller than its minimum gives all its pixels; the others take the rest
    a = assess.allocate({1: 1000, 2: 10}, 120, 50)
    assert a == {1: 110, 2: 10}
    with pytest.raises(assess.AssessError, match="at least 150 points"):
        assess.allocate({1: 10, 2: 10, 3: 10}, 100, 50)


def write_map(path, arr, crs=UTM, transform=None):
    transform = transform or from_origin(500_000, 6_000_000, 0.5, 0.5)
    kw = dict(driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1, dtype="uint8")
    if crs is not None:
        kw.update(crs=crs, transform=transform)
    with rasterio.open(path, "w", **kw) as ds:
        ds.write(arr, 1)
    return path


def synthetic_map(shape=(120, 150), seed=0):
    rng = np.random.default_rng(seed)
    m = np.ones(shape, np.uint8)
    m[:, 60:] = 3
    m[40:55, 20:100] = 2  # a narrow bar: the rare class
    m[:5] = 0  # no data along the top
    return m, rng


def test_sample_counts_seed_and_no_point_on_nodata(tmp_path):
    m, _ = synthetic_map()
    path = write_map(tmp_path / "map.tif", m)
    pts, strata = assess.draw_sample(path, 200, 40, seed=3)
    alloc = assess.allocate(strata.counts, 200, 40)
    assert pts.map_class.value_counts().to_dict() == alloc
    assert (m[pts.row, pts.col] == pts.map_class).all()
    assert (pts.map_class > 0).all()
    assert not pts.duplicated(["row", "col"]).any()
    again, _ = assess.draw_sample(path, 200, 40, seed=3)
    pd.testing.assert_frame_equal(pts, again)
    other, _ = assess.draw_sample(path, 200, 40, seed=4)
    assert not pts[["row", "col"]].equals(other[["row", "col"]])
    # x, y are the pixel centres in the map's CRS
    assert pts.x.iloc[0] == pytest.approx(500_000 + 0.5 * (pts.col.iloc[0] + 0.5))
    assert pts.y.iloc[0] == pytest.approx(6_000_000 - 0.5 * (pts.row.iloc[0] + 0.5))


def test_estimates_cover_the_true_areas(tmp_path):
    """Against the truth: a reference raster that differs from the map on 10% of the pixels. Over
    repeated samples the estimate is unbiased and the 95% interval holds the true area about 95%
    of the time (the mapped area, biased by the errors, would not).
    """
    m, rng = synthetic_map()
    ref = m.copy()
    flip = (rng.random(m.shape) < 0.1) & (m > 0)
    ref[flip] = rng.choice([1, 2, 3], flip.sum())
    path = write_map(tmp_path / "map.tif", m)
    lab = write_map(tmp_path / "ref.tif", ref)
    truth = {c: int((ref == c).sum()) for c in (1, 2, 3)}
    strata = assess.map_strata(path)
    hits, est2 = [], []
    for seed in range(120):
        pts, _ = assess.draw_sample(path, 150, 30, seed=seed)
        pts, dropped = assess.reference_from_raster(pts, lab, strata)
        assert dropped == 0
        e = assess.estimate(pts.map_class, pts.reference_class, strata.counts)[0].set_index("class_code")
        hits.append([abs(e.loc[c, "estimated_area"] - truth[c]) <= e.loc[c, "area_ci95"] for c in (1, 2, 3)])
        est2.append(e.loc[2, "estimated_area"])
    coverage = np.mean(hits, axis=0)
    assert (coverage > 0.85).all()
    assert (coverage <= 1).all()
    assert np.mean(est2) == pytest.approx(truth[2], rel=0.03)
    assert abs(strata.counts[2] - truth[2]) > 0.05 * truth[2]  # the mapped area is off


def test_reference_raster_drops_unlabelled_points(tmp_path):
    m, _ = synthetic_map()
    path = write_map(tmp_path / "map.tif", m)
    ref = m.copy()
    ref[:, :30] = 0  # unlabelled
    lab = write_map(tmp_path / "ref.tif", ref)
    strata = assess.map_strata(path)
    pts, _ = assess.draw_sample(path, 150, 30, seed=1)
    kept, dropped = assess.reference_from_raster(pts, lab, strata)
    assert dropped == int((pts.col < 30).sum()) > 0
    assert len(kept) + dropped == len(pts)
    assert (kept.reference_class == kept.map_class).all()
    # a reference without georeferencing is matched pixel for pixel: its size must be the map's
    with pytest.raises(assess.AssessError, match="give the label raster of the mapped image"):
        assess.reference_from_raster(pts, write_map(tmp_path / "small.tif", m[:50], crs=None), strata)


def test_a_reference_is_matched_by_place_not_by_size(tmp_path):
    """The same size elsewhere is refused with both extents; another CRS is read point by point."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    m, _ = synthetic_map()
    path = write_map(tmp_path / "map.tif", m)
    strata = assess.map_strata(path)
    pts, _ = assess.draw_sample(path, 150, 30, seed=1)
    elsewhere = write_map(tmp_path / "elsewhere.tif", m, transform=from_origin(510_000, 6_000_000, 0.5, 0.5))
    with pytest.raises(
        assess.AssessError, match=r"elsewhere.tif does not overlap the map map.tif: .* covers x 500000.0-500075.0"
    ):
        assess.reference_from_raster(pts, elsewhere, strata)
    # the reference in Web Mercator, at about a third of the pixel size: each point read where it falls
    dst = CRS.from_epsg(3857)
    with rasterio.open(path) as src:
        tr, w, h = calculate_default_transform(src.crs, dst, src.width, src.height, *src.bounds, resolution=0.25)
        out = np.zeros((h, w), np.uint8)
        reproject(
            m, out, src_transform=src.transform, src_crs=src.crs, dst_transform=tr, dst_crs=dst, resampling=Resampling.nearest
        )
    merc = write_map(tmp_path / "mercator.tif", out, crs=dst, transform=tr)
    kept, dropped = assess.reference_from_raster(pts, merc, strata)
    assert len(kept) + dropped == len(pts)
    assert dropped <= 3  # on the reprojected edge
    assert np.mean(kept.reference_class == kept.map_class) >= 0.97  # class edges shift by at most a pixel
    # part of the map covered: the points outside it are dropped, as unlabelled ones are
    half = write_map(tmp_path / "half.tif", m[:60])
    kept, dropped = assess.reference_from_raster(pts, half, strata)
    assert dropped == int((pts.row >= 60).sum())
    assert (kept.reference_class == kept.map_class).all()


def test_points_in_another_crs_are_reprojected(tmp_path):
    import fiona
    from rasterio.warp import transform as warp

    m, _ = synthetic_map()
    path = write_map(tmp_path / "map.tif", m)
    strata = assess.map_strata(path)
    pts, _ = assess.draw_sample(path, 120, 30, seed=2)
    lon, lat = warp(UTM, CRS.from_epsg(4326), pts.x.tolist(), pts.y.tolist())
    gpkg = tmp_path / "labelled.gpkg"
    schema = {"geometry": "Point", "properties": {"truth": "int"}}
    with fiona.open(gpkg, "w", driver="GPKG", crs="EPSG:4326", schema=schema, SPATIAL_INDEX="NO") as dst:
        for x, y, c in zip(lon, lat, pts.map_class, strict=True):
            dst.write({"geometry": {"type": "Point", "coordinates": (x, y)}, "properties": {"truth": int(c)}})
    back, unlabelled = assess.read_points(gpkg, strata, class_field="truth")
    assert unlabelled == 0
    pd.testing.assert_frame_equal(
        back.sort_values(["row", "col"]).reset_index(drop=True)[["row", "col", "map_class"]],
        pts[["row", "col", "map_class"]].reset_index(drop=True),
    )
    with pytest.raises(assess.AssessError, match="has no field 'reference_class'"):
        assess.read_points(gpkg, strata)
    # a CSV in degrees, with its CRS given
    csv = tmp_path / "pts.csv"
    pd.DataFrame({"x": lon, "y": lat, "reference_class": pts.map_class}).to_csv(csv, index=False)
    back2, _ = assess.read_points(csv, strata, crs="EPSG:4326")
    assert len(back2) == len(pts)
    # a map without a CRS cannot take points in one
    plain = assess.map_strata(write_map(tmp_path / "plain.tif", m, crs=None))
    with pytest.raises(assess.AssessError, match="in a CRS but the map plain.tif has none"):
        assess.read_points(gpkg, plain, class_field="truth")


def test_two_points_on_one_pixel_are_refused_naming_their_lines(tmp_path):
    m, _ = synthetic_map()
    path = write_map(tmp_path / "map.tif", m)
    strata = assess.map_strata(path)
    pts, _ = assess.draw_sample(path, 40, 5, seed=1)
    csv = tmp_path / "pts.csv"
    twice = pd.concat([pts, pts.iloc[[3]]], ignore_index=True).assign(reference_class=1)
    twice.loc[len(twice) - 1, "reference_class"] = 2
    twice.to_csv(csv, index=False)
    last = len(twice) + 1  # the header is line 1
    with pytest.raises(assess.AssessError, match=rf"line 5 says 1, line {last} says 2\); their classes conflict"):
        assess.read_points(csv, strata)
    twice.assign(reference_class=1).to_csv(csv, index=False)
    with pytest.raises(assess.AssessError, match="it would count twice"):
        assess.read_points(csv, strata)
    twice.iloc[:-1].to_csv(csv, index=False)
    back, _ = assess.read_points(csv, strata)
    assert len(back) == len(pts)


def test_assess_map_draws_resumes_and_estimates(tmp_path):
    m, _ = synthetic_map()
    path = write_map(tmp_path / "map.tif", m)
    lab = write_map(tmp_path / "ref.tif", m)
    out = tmp_path / "assess"
    res = assess.assess_map(path, out, 150, min_per_class=30, log=lambda s: None)
    assert res["estimates"] is None
    assert {p.name for p in out.iterdir()} == {"points.csv", "points.gpkg", "sample.json"}
    pts = pd.read_csv(out / "points.csv")
    assert list(pts.columns) == assess.POINT_COLUMNS
    assert (pts.reference_class == -1).all()
    assert json.loads((out / "sample.json").read_text())["n"] == 150
    # label half the points by hand in points.csv, then assess from it
    pts.loc[::2, "reference_class"] = pts.map_class[::2]
    pts.to_csv(out / "points.csv", index=False)
    res = assess.assess_map(path, out, 150, min_per_class=30, log=lambda s: None)  # the same sample, reused
    assert res["dropped"] == len(pts) - len(pts[::2])
    est = pd.read_csv(out / "estimates.csv")
    assert list(est.columns[:10]) == assess.ESTIMATE_COLUMNS
    assert est.class_code.iloc[-1] == "overall"
    assert est.users_accuracy.iloc[-1] == 1.0
    assert {"estimated_area_ha", "area_ci95_ha"} <= set(est.columns)  # a projected map: m2 and ha
    # another n into the same folder: refused, unless overwrite
    with pytest.raises(assess.AssessError, match="drawn with other settings"):
        assess.assess_map(path, out, 160, min_per_class=30, log=lambda s: None)
    with pytest.raises(assess.AssessError, match=r"sample\.json: n: 150 -> 160\)"):  # and says what differs
        assess.assess_map(path, out, 160, min_per_class=30, log=lambda s: None)
    said = []
    res = assess.assess_map(path, out, 160, min_per_class=30, reference=lab, overwrite=True, log=said.append)
    assert len(res["points"]) == 160
    assert res["estimates"].users_accuracy.iloc[-1] == 1.0
    assert any("overwrite: removed the earlier sample's points.csv, points.gpkg, sample.json, estimates.csv" in s for s in said)
    # the points hold the reference class each estimate used (the reference here is the map itself)
    written = pd.read_csv(out / "points.csv")
    assert len(written) == 160
    assert (written.reference_class == written.map_class).all()
    # overwrite again with a sample not labelled yet: no estimate of the earlier sample is left beside it
    res = assess.assess_map(path, out, 170, min_per_class=30, overwrite=True, log=lambda s: None)
    assert res["estimates"] is None
    assert {p.name for p in out.iterdir()} == {"points.csv", "points.gpkg", "sample.json"}
    assert (pd.read_csv(out / "points.csv").reference_class == -1).all()
    with pytest.raises(assess.AssessError, match="at least 90 points"):
        assess.assess_map(path, tmp_path / "a2", 50, min_per_class=30, log=lambda s: None)


def test_point_labeller_saves_every_click_and_resumes(tmp_path):
    from sscnb.labels import _points as pointlabeller

    m, _ = synthetic_map()
    path = write_map(tmp_path / "map.tif", m)
    img = np.zeros(m.shape + (3,), np.uint8)
    img[..., 2] = m * 60
    with rasterio.open(
        tmp_path / "img.tif",
        "w",
        driver="GTiff",
        width=m.shape[1],
        height=m.shape[0],
        count=3,
        dtype="uint8",
        crs=UTM,
        transform=from_origin(500_000, 6_000_000, 0.5, 0.5),
    ) as ds:
        ds.write(np.moveaxis(img, -1, 0))
    out = tmp_path / "assess"
    assess.assess_map(path, out, 90, min_per_class=30, log=lambda s: None)
    s = pointlabeller.PointSession(out / "points.csv", tmp_path / "img.tif", seed=1)
    first = s.current()
    pic = s.picture()
    assert pic.shape == (81, 81, 3) or min(pic.shape[:2]) < 81  # 40 px each side, cut at the edges
    assert s.counts()["to do"] == 90
    labelled = []
    for _ in range(5):
        i = s.current()
        s.label(int(s.table.map_class[i]))
        labelled.append(i)
    s.label(pointlabeller.CANNOT_TELL)
    assert labelled[0] == first
    on_disk = pd.read_csv(out / "points.csv")
    assert (on_disk.reference_class.iloc[labelled] == on_disk.map_class.iloc[labelled]).all()
    assert (on_disk.reference_class == 0).sum() == 1
    assert (on_disk.reference_class == -1).sum() == 84
    # a new session on the file resumes where the last stopped
    s2 = pointlabeller.PointSession(out / "points.csv", tmp_path / "img.tif", seed=1)
    assert s2.current() == s.current()
    assert s2.counts()["to do"] == 84
    with pytest.raises(assess.AssessError, match="not in the class scheme"):
        s2.label(42)
    res = assess.assess_map(path, out, 90, min_per_class=30, log=lambda s: None)
    assert len(res["points"]) == 5
    assert res["dropped"] == 85
    assert res["estimates"] is None
    # the widget and its static figure
    w = pointlabeller.PointLabeller(s2)
    w.click(int(s2.table.map_class[s2.current()]))
    assert pd.read_csv(out / "points.csv").reference_class.gt(0).sum() == 6
    import matplotlib.pyplot as plt

    plt.close(w.figure())


def test_the_sample_surveys_reference_is_the_generators():
    from conftest import SAMPLE
    from sscnb.synthetic import make_orthomosaic

    man = json.loads((SAMPLE / "manifest.json").read_text())["orthomosaic"]
    _, label, _ = make_orthomosaic(man["scene_seed"])
    with rasterio.open(SAMPLE / man["reference"]) as ref, rasterio.open(SAMPLE / man["image"]) as img:
        np.testing.assert_array_equal(ref.read(1), label)
        assert ref.transform == img.transform
        assert ref.crs == img.crs


def test_the_command(tmp_path, capsys):
    from sscnb.__main__ import main

    m, _ = synthetic_map()
    path = write_map(tmp_path / "map.tif", m)
    lab = write_map(tmp_path / "ref.tif", m)
    out = tmp_path / "a"
    assert main(["assess", "--map", str(path), "--n", "120", "--min-per-class", "30", "--out", str(out)]) == 0
    assert "drew 120 points" in capsys.readouterr().out
    assert main(["assess", "--map", str(path), "--out", str(out), "--reference", str(lab)]) == 0
    said = capsys.readouterr().out
    assert "reusing the sample" in said
    assert "overall accuracy" in said
    assert (out / "estimates.csv").exists()
    assert main(["assess", "--map", str(path), "--n", "50", "--out", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sscnb assess: n = 50 points cannot give each of the map's 3 classes its minimum of 50")
    assert main(["assess", "--map", str(tmp_path / "nope.tif"), "--n", "50", "--out", str(out)]) == 1
    assert "nope.tif does not exist" in capsys.readouterr().err
