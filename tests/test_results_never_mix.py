"""One results folder, one truth: the files of an image (or a mapped input) and an experiment are
always those of its last run, whatever settings came before; --overwrite replaces everything that
run wrote, and nothing of other experiments. Hand-made CNNs (no training): fast and exact.
"""

import json

import numpy as np
import pytest
from test_mapping import FAST, ORTHO
from test_ssc import FAST_P, _folder

from sscnb import evaluation, results, ssc
from sscnb.batch._tasks import ResultsConflictError
from sscnb.maps import _batch as mapping


def _files(out):
    """The result files of the images (the sidecars of a map - .aux.xml, .qml - only checked to have
    their map; the per-experiment Timings_ and Summary_ tables are not an image's).
    """
    found = [f for f in out.rglob("*") if f.is_file() and not f.name.startswith(("Timings_", "Summary_"))]
    side = [f for f in found if f.name.endswith((".aux.xml", ".qml"))]
    for f in side:
        main = f.with_name(f.name[: -len(".aux.xml")]) if f.name.endswith(".aux.xml") else f.with_suffix(".tif")
        assert main.exists(), f"{f} outlives its map"
    return sorted(str(f.relative_to(out)) for f in found if f not in side)


def _expected_eval(out, names, experiment, phase2, labelled, figures, rasters):
    want = set()
    for n in names:
        files = results.result_files(out, n, experiment, phase2)
        keys = evaluation._wanted(files, labelled, figures, rasters) + ["manifest"]
        want |= {str(files[k].relative_to(out)) for k in keys}
    return want


# -- sscnb map -----------------------------------------------------------------------------------


@pytest.fixture
def model16(colour_cnns):
    return colour_cnns(16)


def test_map_with_other_settings_is_refused_and_overwrite_replaces_everything(model16, tmp_path):
    rf = ssc.SSCParams(**{**FAST, "phase2": "rf", "recog_thresh": 0.99})
    default = ssc.SSCParams(**FAST)
    mapping.map_inputs([ORTHO], model16, tmp_path, "x", rf, vectors=True, progress=False)
    cnn_before = (tmp_path / "Clearwater_ortho_x_CNN.tif").read_bytes()
    # the defaults into the same folder and experiment: refused, nothing touched (the CNN map is shared)
    with pytest.raises(ResultsConflictError, match=r"(?s)made with other inputs or settings.*recog_thresh.*--overwrite"):
        mapping.map_inputs([ORTHO], model16, tmp_path, "x", default, progress=False)
    assert (tmp_path / "Clearwater_ortho_x_CNN.tif").read_bytes() == cnn_before
    # with overwrite: the RF run's files are gone, the default (MLPRF) run's are there, each beside its manifest
    mapping.map_inputs([ORTHO], model16, tmp_path, "x", default, overwrite=True, progress=False)
    names = {f.name for f in tmp_path.iterdir()}
    assert not [n for n in names if "_RF" in n], names
    assert {"Clearwater_ortho_x_MLPRF.tif", "Clearwater_ortho_x_CNN.tif", "Clearwater_ortho_x_MLPRF.json"} <= names
    # the first command again: refused, not "already mapped, skipped"
    with pytest.raises(ResultsConflictError, match="made with other inputs or settings"):
        mapping.map_inputs([ORTHO], model16, tmp_path, "x", rf, vectors=True, progress=False)
    man = json.loads((tmp_path / "Clearwater_ortho_x_MLPRF.json").read_text())
    assert man["recipe"]["settings"]["recog_thresh"] == 0.0
    # another experiment in the same folder is left alone by an overwrite
    mapping.map_inputs([ORTHO], model16, tmp_path, "y", rf, progress=False)
    mapping.map_inputs([ORTHO], model16, tmp_path, "x", rf, overwrite=True, progress=False)
    assert (tmp_path / "Clearwater_ortho_y_RF.json").exists()
    assert not (tmp_path / "Clearwater_ortho_x_MLPRF.tif").exists()


# -- sscnb evaluate / notebook 03 ---------------------------------------------------------------


def test_evaluate_overwrite_with_another_phase2_leaves_no_file_of_the_old_one(tmp_path, colour_cnn):
    d = _folder(tmp_path)
    out = tmp_path / "ssc"
    names = ["Lake_0001", "Lake_0002"]
    rf = ssc.SSCParams(**{**FAST_P, "phase2": "rf", "n_trees": 5})
    evaluation.evaluate_folder(d, colour_cnn, out, "e", rf, save_figures=False, save_class_rasters=True, progress=False)
    evaluation.evaluate_folder(
        d, colour_cnn, out, "e", ssc.SSCParams(**FAST_P), save_figures=False, overwrite=True, progress=False
    )
    assert set(_files(out)) == _expected_eval(out, names, "e", "mlp_rf", True, False, False)
    assert not list(out.glob("RF_*"))
    assert not list(out.glob("Confusion_RF_*"))
    assert not list((out / "rasters").glob("*"))  # the old rasters are gone


def test_evaluate_overwrite_without_rasters_removes_an_unlabelled_images_earlier_maps(tmp_path, colour_cnn):
    """An image without a label is skipped when no class rasters are asked for: with overwrite, its maps and
    manifest of an earlier run (other settings) must not stay beside the new run's results.
    """
    d = _folder(tmp_path)
    (d / "SCLS_Lake_0002.tif").unlink()  # Lake_0002: no label
    out = tmp_path / "ssc"
    rf = ssc.SSCParams(**{**FAST_P, "phase2": "rf", "n_trees": 5})
    evaluation.evaluate_folder(d, colour_cnn, out, "e", rf, save_figures=False, save_class_rasters=True, progress=False)
    assert (out / "manifests" / "Lake_0002_e.json").exists()
    said = []
    p = ssc.SSCParams(**{**FAST_P, "phase2": "rf", "n_trees": 5, "median_radius": 2})
    evaluation.evaluate_folder(d, colour_cnn, out, "e", p, save_figures=False, overwrite=True, progress=False, log=said.append)
    assert set(_files(out)) == _expected_eval(out, ["Lake_0001"], "e", "rf", True, False, False)
    assert not list(out.rglob("*Lake_0002*"))
    assert "Lake_0002: overwrite: its earlier results in this experiment (class rasters, manifest) removed" in said


@pytest.mark.slow  # 6-9 s on 2 cores beside another worker: over the fast set's 5 s
def test_random_sequences_of_runs_leave_the_last_runs_files(tmp_path, colour_cnn):
    """A property test: runs with random settings, experiments and overwrite flags, refused or
    done; after each, the files of every experiment are exactly those of its last finished run.
    """
    d = _folder(tmp_path)
    out = tmp_path / "ssc"
    names = ["Lake_0001", "Lake_0002"]
    rng = np.random.default_rng(7)
    last = {}
    seen = {"refused": 0, "replaced": 0, "added to": 0}
    for step in range(10):
        exp = str(rng.choice(["a", "b"]))
        phase2 = str(rng.choice(["mlp", "rf"]))
        kw = dict(save_figures=bool(rng.random() < 0.3), save_class_rasters=bool(rng.random() < 0.5), dpi=30)
        p = ssc.SSCParams(**{**FAST_P, "phase2": phase2, "n_trees": 5, "median_radius": int(rng.choice([1, 2]))})
        overwrite = bool(rng.random() < 0.6)
        try:
            evaluation.evaluate_folder(d, colour_cnn, out, exp, p, overwrite=overwrite, progress=False, **kw)
        except ResultsConflictError as exc:
            assert "finished with another model or other settings" in str(exc)  # noqa: PT017 - refused or not by the draw
            assert not overwrite
            seen["refused"] += 1
        else:
            prev = last.get(exp)
            if prev is None or overwrite or prev[0] != p:
                seen["replaced"] += prev is not None
                last[exp] = (p, kw)
            else:
                seen["added to"] += 1  # the same settings again: what it asks for now is added to what is there
                last[exp] = (p, {k: prev[1][k] or kw[k] if k != "dpi" else kw[k] for k in kw})
        want = set()
        for e, (pp, kk) in last.items():
            want |= _expected_eval(out, names, e, pp.phase2, True, kk["save_figures"], kk["save_class_rasters"])
        assert set(_files(out)) == want, f"step {step}: {exp} {phase2} {kw} overwrite={overwrite}"
    assert seen["refused"], seen  # the sequence met both cases
    assert seen["replaced"], seen


# -- notebook 04 -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_notebook_04_reports_its_own_experiment_only(tmp_path):
    """Two experiments' results in one folder: the report of one, run as sscnb run runs it
    (results_experiment left at None), holds that one's images only.
    """
    import pandas as pd
    import papermill as pm

    from conftest import REPO

    ssc_dir = tmp_path / "run" / "ssc"
    ssc_dir.mkdir(parents=True)
    rows = [("water", 1, 1, 0.9, 300), ("dry sediment", 1, 1, 0.6, 100)]
    for exp in ("mine", "theirs"):
        for kind in ("CNN", "MLP"):
            pd.DataFrame(rows, columns=["class", "precision", "recall", "f1_score", "support"]).to_csv(
                ssc_dir / f"{kind}_Alpha_0001_{exp}.csv", index=False
            )
    pm.execute_notebook(
        str(REPO / "notebooks" / "04_report.ipynb"),
        str(tmp_path / "04.ipynb"),
        parameters={"output_dir": str(tmp_path / "run"), "experiment": "mine", "dpi": 40},
        cwd=str(REPO / "notebooks"),
        progress_bar=False,
        kernel_name="python3",
    )
    compiled = pd.read_csv(tmp_path / "run" / "report" / "Compiled_mine.csv")
    assert set(compiled.Experiment) == {"mine"}
    assert compiled.Image.nunique() == 1
    overall = pd.read_csv(tmp_path / "run" / "report" / "F1_overall.csv")
    assert (overall.Images == 1).all()  # not the same image counted twice
