"""The per-image pipeline and the folder evaluation, with a hand-made CNN whose answer is known."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import tifffile

from conftest import COLOUR_CNN_TILE
from sscnb import evaluation, ssc
from sscnb.assess._metrics import REPORT_COLUMNS
from sscnb.batch._tasks import ResultsConflictError
from sscnb.cnn import _model as cnn

T = COLOUR_CNN_TILE  # tile size of the colour CNN (conftest)


def scene(h=60, w=85, seed=0):
    """Water on the left (x < 37), vegetation on the right; x = 37 is inside the tile 30-39, which
    is mostly water, so the tile map is wrong on the strip 37-39; the last 5 columns are outside
    every tile (unclassified by the CNN).
    """
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :37] = (30, 80, 140)
    img[:, 37:] = (60, 130, 50)
    img = np.clip(img.astype(int) + rng.integers(-5, 6, img.shape), 0, 255).astype(np.uint8)
    truth = np.where(np.arange(w)[None, :] < 37, 1, 3).repeat(h, 0).astype(np.uint8)
    return img, truth


@pytest.mark.parametrize("phase2", ["mlp", "rf", "mlp_rf"])
def test_pipeline_known_answer(colour_cnn, phase2):
    img, truth = scene()
    p = ssc.SSCParams(phase2=phase2, median_radius=1, mlp_epochs=30, mlp_batch_size=256, n_trees=20, min_sample=2000)
    res = ssc.classify_image(img, colour_cnn, p)
    # phase 1: tiles 0-3 of each row water, 4+ vegetation; margin (x >= 80) unclassified
    expected_cnn = np.where(np.arange(85) < 40, 1, 3)[None, :].repeat(60, 0)
    expected_cnn[:, 80:] = 0
    np.testing.assert_array_equal(res.cnn_map, expected_cnn)
    assert res.cnn_proba.shape == (6, 8, 2)
    assert list(res.classes) == [1, 3]
    # phase 2 follows the colours: the strip 37 <= x < 40 and the margin are now right
    # (a fully grown forest memorises some of the mislabelled strip: it is less robust to the
    # tile map's errors than the MLP)
    assert (res.cnn_map == truth).mean() < 0.91
    assert (res.final_map == truth).mean() > (0.99 if phase2 == "mlp" else 0.97)
    assert set(res.timings) == {"tiles", "check", "cnn", "features", "fit", "predict", "post"}


def test_recog_thresh_and_min_tiles():
    grid = np.array([[1, 1, 1, 1], [1, 3, 1, 1], [1, 1, 1, 3]])
    np.testing.assert_array_equal(ssc.modal_filter_regions(grid, 2), np.ones((3, 4), int))
    np.testing.assert_array_equal(ssc.modal_filter_regions(grid, 1), grid)
    m = np.ones((20, 20), np.uint8)
    m[5:7, 5:7] = 3  # a 4 px speck
    assert (ssc.despeckle(m, 5) == 1).all()
    assert (ssc.despeckle(m, 4) == m).all()


def test_recog_thresh_unclassifies_uncertain_tiles(colour_cnn):
    img, _ = scene()
    grey = np.full_like(img, 100)  # blue == green: probabilities 0.5 / 0.5
    res = ssc.classify_image(grey, colour_cnn, ssc.SSCParams(recog_thresh=0.6))
    assert (res.cnn_map == 0).all()
    assert (res.final_map == 0).all()
    assert "note" in res.info


def test_one_class_image(colour_cnn):
    img = np.zeros((40, 40, 3), np.uint8)
    img[:] = (20, 60, 150)
    res = ssc.classify_image(img, colour_cnn, ssc.SSCParams())
    assert (res.final_map == 1).all()
    assert res.info["one_class"]
    assert res.info["phase2_choice"] == "one class (1): the final map is that class"  # not "MLP on median RGB"


def _folder(tmp_path, geotiff=False):
    d = tmp_path / "data"
    d.mkdir()
    for i in range(2):
        img, truth = scene(seed=i)
        name = f"Lake_{i + 1:04d}"
        if geotiff and i == 0:
            tifffile.imwrite(d / f"{name}.tif", img, photometric="rgb", extratags=[(33550, "d", 3, (0.1, 0.1, 0.0), True)])
        else:
            import imageio.v3 as iio

            iio.imwrite(d / f"{name}.png", img)
        tifffile.imwrite(d / f"SCLS_{name}.tif", truth.astype(np.float64))
    return d


@pytest.mark.slow  # 7-11 s on 2 cores beside another worker (20 MLP epochs, figures): over the fast set's 5 s
def test_evaluate_folder_files_resume_overwrite(tmp_path, colour_cnn):
    d = _folder(tmp_path, geotiff=True)
    out = tmp_path / "ssc"
    p = ssc.SSCParams(median_radius=1, mlp_epochs=20, mlp_batch_size=256, min_sample=2000, n_trees=10)
    msgs = []
    summary, timings = evaluation.evaluate_folder(
        d, colour_cnn, out, "exp", p, save_class_rasters=True, dpi=60, progress=False, log=msgs.append
    )
    assert list(summary.status) == ["done", "done"]
    for name in ("Lake_0001", "Lake_0002"):
        for kind in ("CNN", "MLPRF"):  # the default phase 2, mlp_rf
            rep = pd.read_csv(out / f"{kind}_{name}_exp.csv")
            assert list(rep.columns) == REPORT_COLUMNS
            assert list(rep["class"]) == ["water", "green vegetation"]
            assert rep.support.sum() == 60 * 85
        assert (out / f"SSC_exp_{name}.png").stat().st_size > 5000
        cm = pd.read_csv(out / f"Confusion_CNN_{name}_exp.csv", index_col=0)
        assert cm.loc["green vegetation", "water"] == 3 * 60
        assert cm.loc["water", "water"] == 37 * 60
        assert cm.loc["green vegetation", "unclassified"] == 5 * 60
        assert cm.loc["water", "green vegetation"] == 0
    assert (summary.f1_final > summary.f1_cnn).all()
    overall = evaluation.overall_f1(out, "exp")
    w = summary.labelled_px
    assert overall["CNN"] == pytest.approx((summary.f1_cnn * w).sum() / w.sum())
    assert set(pd.read_csv(out / "Timings_exp.csv").columns) >= {"image", "read", "cnn", "fit", "predict", "figure", "total"}
    # georeferencing kept on the GeoTIFF input
    import rasterio

    with rasterio.open(out / "rasters" / "Lake_0001_exp_MLPRF.tif") as ds:
        assert (ds.transform.a, -ds.transform.e) == (0.1, 0.1)
        assert ds.colormap(1)[1][:3] == (0x1F, 0x78, 0xB4)
    # resume: nothing recomputed, numbers read back
    before = (out / "MLPRF_Lake_0001_exp.csv").stat().st_mtime_ns
    s2, t2 = evaluation.evaluate_folder(d, colour_cnn, out, "exp", p, progress=False)
    assert list(s2.status) == ["skipped (done)"] * 2
    assert len(t2) == 0
    assert (out / "MLPRF_Lake_0001_exp.csv").stat().st_mtime_ns == before
    np.testing.assert_allclose(s2.f1_final, summary.f1_final)
    s3, _ = evaluation.evaluate_folder(d, colour_cnn, out, "exp", p, overwrite=True, save_figures=False, progress=False)
    assert list(s3.status) == ["done", "done"]
    assert (out / "MLPRF_Lake_0001_exp.csv").stat().st_mtime_ns != before


def test_rf_files_are_named_rf(tmp_path, colour_cnn):
    d = _folder(tmp_path)
    out = tmp_path / "ssc"
    evaluation.evaluate_folder(
        d, colour_cnn, out, "e2", ssc.SSCParams(phase2="rf", n_trees=10, median_radius=1), save_figures=False, progress=False
    )
    assert (out / "RF_Lake_0001_e2.csv").exists()
    assert not (out / "MLP_Lake_0001_e2.csv").exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"mlp_depth": "deeep"}, r"mlp_depth must be one of \['deep', 'very_deep', 'compact'\], got 'deeep'"),
        ({"phase2": "RF"}, r"phase2 must be one of \['mlp', 'mlp_rf', 'rf'\], got 'RF'"),
        ({"mlp_epochs": "ten"}, r"mlp_epochs must be int, got 'ten'"),
        ({"subsample": 0}, r"subsample must be in \(0, 1\]"),
        ({"min_sample": 10, "max_sample": 5}, r"max_sample \(5\) must be >= min_sample \(10\)"),
        ({"median_raduis": 3}, r"unknown phase-2 setting.*'median_raduis' \(did you mean median_radius\)"),
        ({"zzz": 3}, r"unknown phase-2 setting\(s\) in my_run.yml: 'zzz'\. Valid: recog_thresh"),  # no empty hint
    ],
)
def test_settings_reject_bad_values_with_the_allowed_ones(values, message):
    with pytest.raises(ValueError, match=message):
        ssc.SSCParams.from_dict(values, source="my_run.yml")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"backbone": "nasnet"}, r"backbone must be one of \['compact', 'efficientnet_lite0', 'nasnet_mobile', 'nasnet_large'\]"),
        ({"class_weight": "balance"}, r"class_weight must be None or 'balanced'"),
        ({"trainable_layers": "some"}, r"trainable_layers must be 'all' or a number"),
        ({"tile_size": 0}, r"tile_size must be a whole number >= 1"),
        ({"tile_szie": 100}, r"unknown CNN setting.*'tile_szie' \(did you mean tile_size\)"),
    ],
)
def test_cnn_settings_reject_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        cnn.CNNParams.from_dict(values)


FAST_P = dict(
    median_radius=1, mlp_epochs=3, mlp_batch_size=256, min_sample=2000, n_trees=10
)  # what is checked is files, not skill


def _snapshot(out):
    """Every result file with its content (PNG figures by size only: their bytes carry a date), but
    the files about one call: its timings and its summary (which says which images it skipped).
    """
    snap = {}
    for f in sorted(out.rglob("*")):
        if f.is_file() and "manifests" not in f.parts and not f.name.startswith(("Timings_", "Summary_")):
            snap[str(f.relative_to(out))] = f.stat().st_size > 0 if f.suffix == ".png" else f.read_bytes()
    return snap


@pytest.mark.slow  # five evaluations of a folder: over 5 s on 2 cores
def test_rerun_asking_for_rasters_makes_them_and_other_settings_are_refused(tmp_path, colour_cnn):
    d = _folder(tmp_path)
    out = tmp_path / "ssc"
    p = ssc.SSCParams(**FAST_P)
    s1, _ = evaluation.evaluate_folder(d, colour_cnn, out, "e", p, save_figures=False, progress=False)
    assert not (out / "rasters").exists()
    s2, t2 = evaluation.evaluate_folder(d, colour_cnn, out, "e", p, save_figures=False, save_class_rasters=True, progress=False)
    assert list(s2.status) == ["done", "done"]
    assert len(t2) == 2
    assert (out / "rasters" / "Lake_0001_e_MLPRF.tif").exists()
    np.testing.assert_allclose(s2.f1_final, s1.f1_final)  # same settings, same numbers
    s3, _ = evaluation.evaluate_folder(d, colour_cnn, out, "e", p, save_figures=False, save_class_rasters=True, progress=False)
    assert list(s3.status) == ["skipped (done)"] * 2
    with pytest.raises(
        ResultsConflictError,
        match=r"(?s)finished with another model or other settings.*"
        r"median_radius: 1 -> 2.*overwrite=True",
    ):
        evaluation.evaluate_folder(
            d, colour_cnn, out, "e", ssc.SSCParams(**{**FAST_P, "median_radius": 2}), save_figures=False, progress=False
        )
    s4, _ = evaluation.evaluate_folder(
        d,
        colour_cnn,
        out,
        "e",
        ssc.SSCParams(**{**FAST_P, "median_radius": 2}),
        save_figures=False,
        overwrite=True,
        progress=False,
    )
    assert list(s4.status) == ["done", "done"]


INTERRUPTED_KW = dict(dpi=40, save_class_rasters=True, progress=False)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, colour_cnn):
    """The two-image folder and a run of it that never failed: its summary and its output folder
    (one run for the three places a failure is injected; each test reads it and never writes to it).
    """
    root = tmp_path_factory.mktemp("uninterrupted")
    d = _folder(root)
    ref_out = root / "ref"
    ref, _ = evaluation.evaluate_folder(d, colour_cnn, ref_out, "e", ssc.SSCParams(**FAST_P), **INTERRUPTED_KW)
    return d, ref, ref_out


@pytest.mark.slow  # two evaluations of a folder per case, figures and rasters: 5-6 s each on 2 cores
@pytest.mark.parametrize("fail_at", ["figure", "final_csv", "raster"])
def test_interrupted_evaluation_resumes_to_the_uninterrupted_result(tmp_path, colour_cnn, monkeypatch, fail_at, uninterrupted):
    """A failure injected while the second image's files are written: the first image is done
    (manifest, timings kept), the second is reported by name and is not done, nothing partial
    remains, and the re-run ends with the same files and numbers as a run that never failed.
    """
    d, ref, ref_out = uninterrupted
    p = ssc.SSCParams(**FAST_P)
    kw = INTERRUPTED_KW

    class Boom(RuntimeError):
        pass

    from sscnb.assess import _metrics as metrics
    from sscnb.maps import _files as mapfiles
    from sscnb.plots import _figures as plots

    def fail_on_second(module, name):
        orig = getattr(module, name)

        def wrapper(*a, **k):
            target = str(a[1] if name in ("save_figure", "write_report") else a[0])
            if "Lake_0002" in target:
                raise Boom(target)
            return orig(*a, **k)

        monkeypatch.setattr(module, name, wrapper)

    if fail_at == "figure":
        fail_on_second(plots, "save_figure")
    elif fail_at == "final_csv":
        fail_on_second(metrics, "write_report")
    else:
        fail_on_second(mapfiles, "write_class_map")
    out = tmp_path / "run"
    from sscnb.batch._tasks import BatchError

    with pytest.raises(BatchError, match=r"1 image\(s\) failed.*\n  - Lake_0002: Boom"):
        evaluation.evaluate_folder(d, colour_cnn, out, "e", p, **kw)
    monkeypatch.undo()
    assert (out / "manifests" / "Lake_0001_e.json").exists()
    assert not (out / "manifests" / "Lake_0002_e.json").exists()
    assert list(pd.read_csv(out / "Timings_e.csv").image) == ["Lake_0001"]
    assert not [f for f in out.rglob(".tmp_*")]
    again, _ = evaluation.evaluate_folder(d, colour_cnn, out, "e", p, **kw)
    assert list(again.status) == ["skipped (done)", "done"]
    np.testing.assert_allclose(again.f1_final, ref.f1_final)
    assert _snapshot(out) == _snapshot(ref_out)
    assert list(pd.read_csv(out / "Timings_e.csv").image) == ["Lake_0001", "Lake_0002"]


def test_unlabelled_images_follow_the_same_rule(tmp_path, colour_cnn):
    import imageio.v3 as iio

    d = tmp_path / "data"
    d.mkdir()
    iio.imwrite(d / "Lake_0003.png", scene(seed=3)[0])
    out = tmp_path / "ssc"
    p = ssc.SSCParams(**FAST_P)
    s1, _ = evaluation.evaluate_folder(d, colour_cnn, out, "u", p, save_figures=False, save_class_rasters=True, progress=False)
    raster = out / "rasters" / "Lake_0003_u_MLPRF.tif"
    stamp = raster.stat().st_mtime_ns
    s2, _ = evaluation.evaluate_folder(d, colour_cnn, out, "u", p, save_figures=False, save_class_rasters=True, progress=False)
    assert list(s2.status) == ["skipped (done)"]
    assert raster.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="other settings"):
        evaluation.evaluate_folder(
            d,
            colour_cnn,
            out,
            "u",
            ssc.SSCParams(**{**FAST_P, "phase2": "mlp", "seed": 7}),
            save_figures=False,
            save_class_rasters=True,
            progress=False,
        )


def test_an_output_folder_that_cannot_be_made_is_refused_before_computing(tmp_path, colour_cnn, monkeypatch):
    from sscnb.layout import OutputFolderError

    d = _folder(tmp_path)
    (tmp_path / "out").write_text("not a folder")
    calls = []
    monkeypatch.setattr(ssc, "classify_image", lambda *a, **k: calls.append(1))
    with pytest.raises(OutputFolderError, match=r"out is a file.*output_dir"):
        evaluation.evaluate_folder(d, colour_cnn, tmp_path / "out" / "ssc", "e", progress=False)
    assert not calls


def test_notes_show_in_the_notebook_log(tmp_path, colour_cnn):
    """An all-zero label (no score) and a one-class tile map are said, not only logged at INFO."""
    import imageio.v3 as iio

    d = tmp_path / "data"
    d.mkdir()
    img = np.full((60, 85, 3), (60, 130, 50), np.uint8)  # vegetation only: one class
    iio.imwrite(d / "Lake_0009.png", img)
    tifffile.imwrite(d / "SCLS_Lake_0009.tif", np.zeros((60, 85), np.uint8))
    msgs = []
    summary, _ = evaluation.evaluate_folder(
        d, colour_cnn, tmp_path / "out", "n", ssc.SSCParams(**FAST_P), save_figures=False, progress=False, log=msgs.append
    )
    assert any("Lake_0009: its label has no labelled pixel (all 0), so it is not scored" in m for m in msgs)
    assert any("Lake_0009: the CNN found one class only (3)" in m for m in msgs)
    assert summary.phase2.iloc[0] == "one class (3): the final map is that class"  # the Summary agrees with the note
    assert np.isnan(summary.f1_final.iloc[0])
    assert summary.status.iloc[0] == "not scored: no labelled pixel"


def test_confidence_per_tile_is_saved_and_shown(tmp_path, colour_cnn):
    """The CNN's top-class probability per tile, beside the results, equals the pipeline's, and the
    figure shows it with the errors.
    """
    import rasterio

    from sscnb.plots._figures import confidence_figure

    d = _folder(tmp_path)
    out = tmp_path / "ssc"
    p = ssc.SSCParams(**FAST_P)
    evaluation.evaluate_folder(d, colour_cnn, out, "c", p, save_figures=False, save_class_rasters=True, progress=False)
    r = evaluation.load_image_results(out, d, "Lake_0002", "c", "mlp_rf", colour_cnn.scheme, colour_cnn.tile_size)
    img, _ = scene(seed=1)
    ref = ssc.classify_image(img, colour_cnn, p)
    np.testing.assert_allclose(r.confidence_tiles, ref.cnn_proba.max(axis=-1), rtol=1e-6)
    assert r.confidence_tiles.shape == (6, 8)
    assert (r.confidence_tiles >= 0.5).all()
    np.testing.assert_array_equal(r.final_map, ref.final_map)
    with rasterio.open(out / "confidence" / "Lake_0002_c_CNN_confidence.tif") as ds:
        assert ds.dtypes[0] == "float32"
        assert ds.nodata == -1
    fig = confidence_figure(r.image, r.confidence_tiles, 10, r.label, r.final_map, title="t")
    assert len(fig.axes) == 3
    assert "errors:" in fig.axes[1].get_xlabel()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_a_resumed_run_removes_temporaries_a_killed_one_left(tmp_path, colour_cnn):
    """A process killed while writing leaves .tmp_<pid>_<name> behind (no finally runs): the next
    run removes those of files it writes, and nothing else.
    """
    d = _folder(tmp_path)
    out = tmp_path / "run"
    (out / "rasters").mkdir(parents=True)
    stale = [
        out / ".tmp_4242_SSC_e_Lake_0002.png",
        out / "rasters" / ".tmp_4242_Lake_0002_e_MLPRF.tif",
        out / ".tmp_4242_MLPRF_Lake_0001_e.csv",
    ]
    for f in stale:
        f.write_bytes(b"half a file")
    other = out / ".tmp_4242_notes_of_mine.txt"
    other.write_text("not sscnb's")
    msgs = []
    evaluation.evaluate_folder(
        d, colour_cnn, out, "e", ssc.SSCParams(**FAST_P), dpi=40, save_class_rasters=True, progress=False, log=msgs.append
    )
    assert not any(f.exists() for f in stale)
    assert other.exists()
    assert "removed 3 temporary file(s) left by an interrupted run" in msgs


def test_evaluate_learns_from_labels_on_the_images_they_cover(tmp_path, colour_cnn, capsys):
    """Sscnb evaluate --labels: the labeller's CSV of one image trains and judges phase 2 there, the
    other image is evaluated as before; the labels are part of that image's recipe. The CNN is right
    on every labelled tile and phase 2, held out, is not: the self-check keeps the tile map.
    """
    from sscnb.__main__ import main

    d = _folder(tmp_path)
    rows = [(0, c, 1) for c in range(3)] + [(5, c, 3) for c in (4, 5, 6, 7)] + [(2, 1, 1), (3, 6, 3)]
    csv = tmp_path / "labels.csv"
    csv.write_text(
        f"# sscnb tile labels, tile_size={COLOUR_CNN_TILE}\nimage,tile_row,tile_col,class_code\n"
        + "".join(f"Lake_0001,{r},{c},{k}\n" for r, c, k in rows)
    )
    out = tmp_path / "ssc"
    base = ["-q", "evaluate", "--model", str(colour_cnn.path), "--out", str(out), "--experiment", "l", "--no-figures"]
    base += ["--phase2", "rf", "--n_trees", "10", "--min_sample", "2000", "--median_radius", "1", str(d)]
    # a forest grown to single pixels (rf_min_leaf 1) learns the tile map's edge noise, so that held out
    # it misses some labelled pixels the CNN has right: the case where the labels must say no
    base += ["--rf_min_leaf", "1"]
    assert main(base + ["--labels", str(csv)]) == 0
    summary = pd.read_csv(out / "Summary_l.csv")
    assert summary.set_index("image").phase2.to_dict() == {"Lake_0001": "CNN tile map", "Lake_0002": "RF on median RGB"}
    m1 = json.loads((out / "manifests" / "Lake_0001_l.json").read_text())
    assert m1["info"]["label_f1"]["CNN tile map"] == 1.0
    assert m1["info"]["label_f1"]["median RGB"] < 1.0
    assert "the CNN tile map is kept" in m1["info"]["phase2_reason"]
    m2 = json.loads((out / "manifests" / "Lake_0002_l.json").read_text())
    assert m1["recipe"]["labels"]["pixels"] == len(rows) * COLOUR_CNN_TILE**2
    assert "labels" not in m2["recipe"]
    assert m1["info"]["labelled_tiles"] == len(rows)
    assert main(base + ["--labels", str(csv)]) == 0  # resumed: the same labels, nothing to redo
    capsys.readouterr()
    assert main(base) == 1  # without them, Lake_0001's results are other results
    err = capsys.readouterr().err
    assert re.search(r"Lake_0001: .*labels", err), err
    assert "Lake_0002:" not in err


def test_results_of_a_version_before_a_setting_existed_resume(tmp_path, colour_cnn):
    """A manifest written before `features` and `label_cnn_share` existed was made as their defaults
    make it: resuming skips the image instead of calling it another recipe; another value still differs.
    """
    d = _folder(tmp_path)
    out = tmp_path / "ssc"
    p = ssc.SSCParams(phase2="rf", n_trees=10, min_sample=2000, median_radius=1)
    kw = dict(save_figures=False, progress=False, log=lambda *_: None)
    evaluation.evaluate_folder(d, colour_cnn, out, "old", p, **kw)
    for m in (out / "manifests").glob("*.json"):
        man = json.loads(m.read_text())
        del man["recipe"]["settings"]["features"], man["recipe"]["settings"]["label_cnn_share"]
        m.write_text(json.dumps(man))
    again, _ = evaluation.evaluate_folder(d, colour_cnn, out, "old", p, **kw)
    assert list(again.status) == ["skipped (done)"] * 2
    with pytest.raises(ResultsConflictError, match=r"settings.label_cnn_share: 0.5 -> 0.2"):
        evaluation.evaluate_folder(d, colour_cnn, out, "old", ssc.SSCParams(**{**p.to_dict(), "label_cnn_share": 0.2}), **kw)
