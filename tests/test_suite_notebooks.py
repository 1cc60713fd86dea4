"""Notebooks 00-02 run end to end by the runner on the sample data with a tiny budget; the
artefacts each writes are checked, and the model notebook 02 saved loads."""
import json

import pandas as pd
import pytest
import yaml

from conftest import SAMPLE
from sscnb import cnn
from sscnb.runner import run_suite


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("suite")
    cfg = {
        "experiment": "tiny", "output_root": str(tmp / "outputs"),
        "parameters": {"data_dir": str(SAMPLE / "Train"), "backbone": "compact", "seed": 1},
        "notebook_parameters": {
            "01_cnn_tuning": {"epochs": 2, "batch_size": 32},
            "02_cnn_training": {"epochs": "auto", "batch_size": 32, "holdout_fraction": 0.2,
                                "model_name": "tiny_cnn"},
        },
        "notebooks": ["00_data_check", "01_cnn_tuning", "02_cnn_training"],
    }
    p = tmp / "run.yml"
    p.write_text(yaml.safe_dump(cfg))
    return run_suite(p, progress=False, log=lambda *_: None)


def test_run_record(suite_run):
    run = json.loads((suite_run / "run.json").read_text())
    assert run["status"] == "finished"
    assert [n["notebook"] for n in run["notebooks"]] == ["00_data_check.ipynb", "01_cnn_tuning.ipynb",
                                                         "02_cnn_training.ipynb"]


def test_notebook_01_artefacts(suite_run):
    d = suite_run / "cnn_tuning"
    hist = pd.read_csv(d / "history.csv")
    assert list(hist.epoch) == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(hist.columns)
    rec = json.loads((d / "recommended_epochs.json").read_text())
    assert rec["recommended_epochs"] in (1, 2) and rec["epochs_tried"] == 2
    assert rec["recommended_epochs"] == cnn.recommend_epochs(hist)["recommended_epochs"]
    counts = pd.read_csv(d / "tiles_per_class.csv", index_col=0)
    assert set(counts.index) == {"Clearwater", "Muddyford"} and counts.values.sum() > 500
    for png in ("history.png", "tile_samples.png"):
        assert (d / png).stat().st_size > 10_000


def test_notebook_02_model_and_evaluation(suite_run):
    d = suite_run / "model"
    rec = json.loads((suite_run / "cnn_tuning" / "recommended_epochs.json").read_text())
    card = json.loads((d / "tiny_cnn_card.json").read_text())
    assert card["epochs"] == rec["recommended_epochs"] and "notebook 01" in card["epochs_source"]
    assert card["backbone"] == "compact" and card["experiment"] == "tiny"
    loaded = cnn.load_model(d / "tiny_cnn.keras")
    assert loaded.key.local_classes and loaded.key.rivers == ["Clearwater", "Muddyford"]
    assert loaded.key.n_outputs == 10  # 5 classes x 2 rivers
    for name in ("training", "heldout"):
        t = pd.read_csv(d / f"tile_accuracy_{name}.csv")
        assert t["class"].iloc[-1] == "ALL"
        assert t["tiles"].iloc[:-1].sum() == t["tiles"].iloc[-1]
        assert (d / f"confusion_{name}.png").exists()
    assert len(pd.read_csv(d / "history.csv")) == card["epochs"]
