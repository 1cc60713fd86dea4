"""The teaching widgets, driven from Python (their logic and figures; no browser)."""
import numpy as np
import pytest

from conftest import SAMPLE
from sscnb import explore, metrics, ssc
from sscnb.data import find_pairs

P = ssc.SSCParams(phase2="rf", n_trees=10, min_sample=3000, median_radius=3)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from test_mapping import colour_model

    return colour_model(tmp_path_factory.mktemp("model"), tile=50)


@pytest.fixture(scope="module")
def records():
    return find_pairs(SAMPLE / "Validate")[:2]


def test_layers_are_drawn_from_the_results(model, records):
    res = explore.compute_image_result(records[0], model, P)
    for layer in explore.LAYERS:
        rgb = explore.layer_rgb(res, layer, 0.6)
        assert rgb.shape == res.image.shape and rgb.dtype == np.uint8
    np.testing.assert_array_equal(explore.layer_rgb(res, "final map", 0.0), res.image)   # opacity 0
    full = explore.layer_rgb(res, "final map", 1.0)
    np.testing.assert_array_equal(full, res.scheme.colorize(res.result.final_map))      # opacity 1
    errors = explore.layer_rgb(res, "errors", 1.0)
    wrong = (res.label > 0) & (res.result.final_map != res.label)
    assert wrong.any() and (errors[wrong] == (255, 0, 0)).all()
    assert (errors[~wrong] == res.image[~wrong]).all()
    ref = metrics.weighted_f1(metrics.class_report(res.label, res.result.final_map, [1, 2, 3, 4, 5]))
    assert res.f1("RF") == pytest.approx(ref)
    with pytest.raises(ValueError, match="layer must be one of"):
        explore.layer_rgb(res, "clouds")


def test_map_explorer_follows_its_controls(model, records):
    import matplotlib.pyplot as plt

    ex = explore.MapExplorer(records, model, P)
    ex.show()
    assert ex.renders == 1 and ex.name == records[0].name
    ex.controls["image"].value = records[1].name        # as a user picking another image
    ex.controls["layer"].value = "CNN confidence"
    ex.controls["opacity"].value = 0.3
    assert ex.renders == 4 and (ex.name, ex.layer, ex.opacity) == (records[1].name, "CNN confidence", 0.3)
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
    assert len(pg.history) == 2 and pg.params.median_radius == 0
    direct = ssc.classify_image(pg.image, model, ssc.SSCParams(**{**P.to_dict(), "median_radius": 0}))
    np.testing.assert_array_equal(second.result.final_map, direct.final_map)
    assert first.f1("RF") != second.f1("RF")
    fig = pg.figure()
    assert len(fig.axes) == 2 and "median_radius=0" in fig.axes[1].get_title()
    pg.show()
    pg.controls["median_radius"].value = 5
    pg.controls["run"].click()                           # as a user pressing Run
    assert len(pg.history) == 3 and pg.params.median_radius == 5
    plt.close("all")
