"""The teaching widgets, driven from Python (their logic and figures; no browser)."""

import numpy as np
import pytest

from conftest import SAMPLE
from sscnb import explore, ssc
from sscnb.assess import _metrics as metrics
from sscnb.data._pairs import find_pairs

P = ssc.SSCParams(phase2="rf", n_trees=10, min_sample=3000, median_radius=3, min_agreement=0.0)


@pytest.fixture
def model(colour_cnns):
    return colour_cnns(50)


@pytest.fixture(scope="module")
def records():
    return find_pairs(SAMPLE / "Validate")[:2]


def test_layers_are_drawn_from_the_results(model, records):
    res = explore.compute_image_result(records[0], model, P)
    for layer in explore.LAYERS:
        rgb = explore.layer_rgb(res, layer, 0.6)
        assert rgb.shape == res.image.shape
        assert rgb.dtype == np.uint8
    np.testing.assert_array_equal(explore.layer_rgb(res, "final map", 0.0), res.image)  # opacity 0
    full = explore.layer_rgb(res, "final map", 1.0)
    np.testing.assert_array_equal(full, res.scheme.colorize(res.result.final_map))  # opacity 1
    errors = explore.layer_rgb(res, "errors", 1.0)
    wrong = (res.label > 0) & (res.result.final_map != res.label)
    assert wrong.any()
    assert (errors[wrong] == (255, 0, 0)).all()
    assert (errors[~wrong] == res.image[~wrong]).all()
    ref = metrics.weighted_f1(metrics.class_report(res.label, res.result.final_map, [1, 2, 3, 4, 5]))
    assert res.f1("RF") == pytest.approx(ref)
    with pytest.raises(ValueError, match="layer must be one of"):
        explore.layer_rgb(res, "clouds")


def test_map_explorer_follows_its_controls(model, records):
    import matplotlib.pyplot as plt

    ex = explore.MapExplorer(records, model, P)
    ex.show()
    assert ex.name == records[0].name
    assert records[0].name in ex.controls["note"].value
    ex.controls["image"].value = records[1].name  # as a user picking another image
    ex.controls["layer"].value = "CNN confidence"
    ex.controls["opacity"].value = 0.3
    assert (ex.name, ex.layer, ex.opacity) == (records[1].name, "CNN confidence", 0.3)
    assert records[1].name in ex.controls["note"].value  # the picture and its note were drawn again
    assert list(ex.controls["layer"].options) == list(explore.LAYERS)  # labelled images: every layer
    assert set(ex.cache) == {r.name for r in records}
    table = ex.f1_table()
    assert table.loc["ALL (pixel-weighted)", "RF"] == pytest.approx(ex.result().f1("RF"), abs=1e-4)
    fig = ex.figure()
    assert records[1].name in fig.axes[0].get_title()
    plt.close("all")


def test_playground_reruns_phase2_and_compares(model, records):
    import matplotlib.pyplot as plt

    pg = explore.Phase2Playground(records[0], model, P)
    first = pg.run()
    second = pg.run(median_radius=0)
    assert len(pg.history) == 2
    assert pg.params.median_radius == 0
    direct = ssc.classify_image(pg.image, model, ssc.SSCParams(**{**P.to_dict(), "median_radius": 0}))
    np.testing.assert_array_equal(second.result.final_map, direct.final_map)
    assert first.f1("RF") != second.f1("RF")
    fig = pg.figure()
    assert len(fig.axes) == 2
    assert "median_radius=0" in fig.axes[1].get_title()
    assert [t.get_text() for t in fig.legends[0].get_texts()][1:] == [
        f"{c} {model.scheme.name(c)}" for c in model.scheme.labelled_codes
    ]
    pg.show()
    # the controls start at the notebook's settings, not at the last run's (radius 0): changing one
    # control is one setting changed from the notebook's, as the exercises assume
    assert pg.controls["median_radius"].value == P.median_radius
    assert pg.controls["phase2"].value == P.phase2
    assert pg.controls["median_radius"].style.description_width == "initial"  # "median_radius", not "median_r..."
    pg.controls["min_tiles"].value = 2
    pg.controls["run"].click()  # as a user pressing Run
    assert len(pg.history) == 3
    assert pg.params.median_radius == P.median_radius
    assert pg.params.min_tiles == 2
    pg.run(recog_thresh=0.5)
    assert pg.params.min_tiles == P.min_tiles
    assert pg.params.recog_thresh == 0.5
    plt.close("all")


# -- confidence on a grid, zoom ---------------------------------------------------------------


def test_tiles_on_grid_by_hand():
    conf = np.array([[0.9, 0.5], [0.2, -1.0]])  # 2 x 2 tiles of 2 px; -1: not classified
    full = explore.tiles_on_grid(conf, 2, (5, 4))  # a 1-px margin below the last tile row
    expect = np.array(
        [[0.9, 0.9, 0.5, 0.5], [0.9, 0.9, 0.5, 0.5], [0.2, 0.2, np.nan, np.nan], [0.2, 0.2, np.nan, np.nan], [np.nan] * 4],
        np.float32,
    )
    np.testing.assert_array_equal(full, expect)
    half = explore.tiles_on_grid(conf, 2, (4, 4), (2, 2))  # a preview: one pixel per tile
    np.testing.assert_array_equal(half, np.array([[0.9, 0.5], [0.2, np.nan]], np.float32))
    from sscnb.data._tiles import tiles_to_raster  # the reference on the full grid

    ref = tiles_to_raster(np.where(conf < 0, np.nan, conf).ravel(), conf.shape, 2, out_shape=(5, 4), fill=np.nan)
    np.testing.assert_array_equal(full, ref.astype(np.float32))


def test_zoom_shows_the_region(model, records):
    import matplotlib.pyplot as plt

    ex = explore.MapExplorer(records[:1], model, P, layer="final map", opacity=1.0, zoom=(50, 100, 0, 25))
    res = ex.result()
    H, W = res.image.shape[:2]
    np.testing.assert_array_equal(ex.picture(), res.scheme.colorize(res.final_map)[H // 2 :, : -(-W // 4)])
    assert "rows" in ex.figure().axes[0].get_title()
    ex.show()
    assert tuple(ex.controls["rows"].value) == (50, 100)
    ex.controls["rows"].value = (0, 10)  # as a user dragging the slider
    assert ex.zoom == (0, 10, 0, 25)
    assert ex.picture().shape[0] == -(-H // 10)
    ex.controls["whole image"].click()
    assert ex.zoom is None
    assert ex.picture().shape[:2] == (H, W)
    for bad in [(10, 5, 0, 100), (0, 120, 0, 100), "top"]:
        with pytest.raises(ValueError, match="zoom must be"):
            explore.MapExplorer(records, model, P, zoom=bad)
    plt.close("all")


# -- results of notebooks 03 and 05 ---------------------------------------------------------------


@pytest.mark.parametrize("rasters", [True, False])
def test_explorer_reads_the_results_of_03(model, records, tmp_path, rasters):
    from sscnb import evaluation

    data = SAMPLE / "Validate"
    names = [r.name for r in records]
    evaluation.evaluate_folder(data, model, tmp_path, "t", P, save_figures=False, save_class_rasters=rasters, progress=False)
    ex = explore.MapExplorer.from_evaluation(tmp_path, data, "t", model, P, images=names)
    res = ex.result(names[0])
    direct = explore.compute_image_result(records[0], model, P)  # RF with a seed: the same maps
    np.testing.assert_array_equal(res.final_map, direct.final_map)
    np.testing.assert_array_equal(res.cnn_map, direct.cnn_map)
    np.testing.assert_allclose(res.confidence, direct.confidence, atol=1e-6)
    assert ("read from" in res.note) == rasters
    assert ("classified again" in res.note) != rasters
    summary = evaluation.load_image_results(tmp_path, data, names[0], "t", "rf", model.scheme, model.tile_size)
    assert res.f1("RF") == pytest.approx(direct.f1("RF"))
    assert summary.confidence_tiles.shape == (res.image.shape[0] // 50, res.image.shape[1] // 50)
    with pytest.raises(ValueError, match="run notebook 03 first"):
        explore.MapExplorer.from_evaluation(tmp_path, data, "other", model, P)


def test_explorer_reads_the_maps_of_05(model, tmp_path):
    import matplotlib.pyplot as plt
    import rasterio

    from sscnb.maps import _batch as mapping

    ortho = SAMPLE / "Survey" / "Clearwater_ortho.tif"
    results = mapping.map_inputs([ortho], model, tmp_path, "t", P, progress=False, log=lambda *_: None)
    with rasterio.open(results[0].files["final"]) as ds:
        full = ds.read(1)
    with rasterio.open(results[0].files["confidence"]) as ds:
        conf = ds.read(1)
    whole = explore.MapExplorer.from_maps(results, model.scheme, model.tile_size, max_px=960).result()
    np.testing.assert_array_equal(whole.final_map, full)  # at full size: the map itself
    ref = explore.tiles_on_grid(conf, 50, full.shape)
    np.testing.assert_array_equal(whole.confidence[np.isfinite(ref)], ref[np.isfinite(ref)])
    ex = explore.MapExplorer.from_maps(results, model.scheme, model.tile_size, max_px=480)
    res = ex.result()  # from the overviews
    assert res.name == "Clearwater_ortho"
    assert res.label is None
    assert res.image.shape[:2] == (360, 480)
    assert res.final_map.shape == res.confidence.shape == (360, 480)
    assert set(np.unique(res.final_map)) <= set(np.unique(full))
    # the preview's centre (180, 240) is full px (360, 480), inside the flown area: tile (7, 9)
    assert np.isfinite(res.confidence[180, 240])
    assert res.confidence[180, 240] == pytest.approx(conf[7, 9])
    assert np.isnan(res.confidence[0, 0])  # the no-data border has none
    # a survey has no labels: no "labels" or "errors" layer is offered, and asking for one says why
    assert res.layers == ["RGB", "CNN tiles", "final map", "CNN confidence"]
    ex.layer = "errors"
    with pytest.raises(ValueError, match="has no labels"):
        ex.figure()
    assert "no label" in ex.f1_table().iloc[0, 0]
    ex.show()
    assert list(ex.controls["layer"].options) == res.layers
    assert ex.layer == "final map"
    # its axes are the map's coordinates (UTM metres), not pixels
    with rasterio.open(ortho) as ds:
        b = ds.bounds
    ax = ex.figure().axes[0]
    assert ax.get_xlabel() == "easting (m)"
    assert ax.get_ylabel() == "northing (m)"
    assert ax.get_xlim() == pytest.approx((b.left, b.right))
    assert ax.get_ylim() == pytest.approx((b.bottom, b.top))
    ex.zoom = (0, 50, 50, 100)  # the top right quarter
    ax = ex.figure().axes[0]
    assert ax.get_xlim() == pytest.approx(((b.left + b.right) / 2, b.right))
    assert ax.get_ylim() == pytest.approx(((b.bottom + b.top) / 2, b.top))
    # the no-data border's tiles are not "unclassified by the CNN"
    text = whole.describe()
    border = int((conf < 0).sum())
    assert border > 0
    assert f"{conf.size} tiles ({border} on the no-data border), 0 left unclassified" in text
    plt.close("all")


# -- tile browser -----------------------------------------------------------------------------------


def test_tile_browser_marks_what_the_cnn_gets_wrong(model):
    import matplotlib.pyplot as plt

    from sscnb.cnn._files import predict_codes

    tb = explore.TileBrowser.from_folder(SAMPLE / "Train", model.scheme, 50, 0.9, cnn=model, per_page=8)
    ref, proba, _ = predict_codes(model, None, tb.tiles.x)
    wrong = ref != tb.tiles.y
    assert wrong.any()
    assert (~wrong).any()
    table = tb.summary()
    for code in model.scheme.labelled_codes:
        m = tb.tiles.y == code
        assert table.loc[model.scheme.name(code), "tiles"] == m.sum()
        assert table.loc[model.scheme.name(code), "misclassified"] == (wrong & m).sum()
    tb.cls, tb.only_wrong, tb.order = "all", True, "least confident first"
    sel = tb.selection()
    assert set(sel) == set(np.flatnonzero(wrong))
    assert np.all(np.diff(proba.max(axis=1)[sel]) >= 0)
    fig = tb.figure()
    first = fig.axes[0]
    assert first.title.get_color() == "red"
    assert "CNN:" in first.get_title()
    tb.show()
    tb.controls["misclassified only"].value = False  # as a user ticking the box off
    tb.controls["class"].value = model.scheme.labelled_codes[0]
    tb.controls["page"].value = 2
    assert tb.page == 1
    assert tb.controls["page"].max == tb.pages
    tb.controls["class"].value = "all"  # a new selection starts at page 1
    assert tb.page == 0
    assert tb.controls["page"].value == 1
    tb.predicted = tb.tiles.y.copy()  # a CNN that gets every tile right
    tb.only_wrong = True
    assert "none misclassified: the CNN gets all" in tb.figure().axes[0].get_title(loc="left")
    plt.close("all")


def test_tile_browser_without_a_cnn_shows_labels_only():
    import matplotlib.pyplot as plt

    from sscnb.data._classes import ClassScheme

    scheme = ClassScheme.default()
    tb = explore.TileBrowser.from_folder(SAMPLE / "Train", scheme, 50, 0.9)
    assert tb.predicted is None
    assert not tb.wrong.any()
    assert list(tb.summary().columns) == ["tiles"]
    assert "CNN" not in tb.figure().axes[0].get_title()
    tb.show()
    assert tb.controls["misclassified only"].disabled
    plt.close("all")


def test_show_tool_draws_a_figure_in_batch_runs(model, records, tmp_path):
    import matplotlib.pyplot as plt

    ex = explore.MapExplorer(records[:1], model, P)
    assert explore.show_tool(ex, widgets=False, save=tmp_path / "x.png") is None  # nothing shown twice
    assert ex.widget is None
    assert (tmp_path / "x.png").stat().st_size > 5000
    explore.show_tool(ex, widgets=True)
    assert ex.widget is not None
    assert records[0].name in ex.controls["note"].value
    plt.close("all")


def test_describe_counts_unclassified_tiles(model, records):
    res = explore.compute_image_result(records[0], model, ssc.SSCParams(**{**P.to_dict(), "recog_thresh": 0.9}))
    g = res.result.cnn_proba.max(axis=-1)
    text = res.describe()
    assert f"{g.size} tiles, {int((g < 0.9).sum())} left unclassified" in text
    e = metrics.errors_by_confidence(res.label, res.final_map, g, 50)
    c = metrics.errors_by_confidence(res.label, res.cnn_map, g, 50)
    assert (
        f"CNN tile map {100 * c['low']:.2f}% / {100 * c['high']:.2f}%, final map {100 * e['low']:.2f}% / {100 * e['high']:.2f}%"
    ) in text
