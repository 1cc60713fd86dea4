"""The model shipped with sscnb ("rivers"): present, described by its card, reachable by name everywhere."""

import json

import numpy as np
import pytest
import yaml

from conftest import SAMPLE
from sscnb.batch import _config as runconfig
from sscnb.cnn import _bundled as bundled
from sscnb.cnn import _files as modelfiles
from sscnb.provenance import file_sha256


def _card(name: str = "rivers") -> dict:
    return json.loads((bundled.MODELS_DIR / f"{name}_card.json").read_text())


@pytest.mark.parametrize(("name", "backbone"), [("rivers", "efficientnet_lite0"), ("rivers_compact", "compact")])
def test_the_shipped_file_is_the_one_its_card_describes(name, backbone):
    card = _card(name)
    model = bundled.bundled_model(name)
    assert file_sha256(model) == card["model_file_sha256"]  # rebuilt without its card, or the card edited: caught here
    assert model.stat().st_size < 3e6  # small enough for the wheel
    assert card["model_name"] == name
    assert card["backbone"] == backbone
    assert card["rivers"] == ["StMarg", "Wildcat"]
    assert {s["river"]: s["licence"] for s in card["data_sources"]} == {"StMarg": "MIT", "Wildcat": "LGPL-3.0"}
    assert all(s["attribution"] for s in card["data_sources"])
    assert sum(sum(v.values()) for v in card["tiles_per_class"].values()) == card["n_tiles"]
    assert any(i.startswith("Wildcat_") for i in card["images"])
    assert any(i.startswith("StMarg_") for i in card["images"])
    scores = card["scores"]
    assert scores["stmarg/Validate (5 images, never trained on)"]["f1_final"] > 0.9
    assert set(scores["leave_one_out"]) == {"left_out_Wildcat_0003", "left_out_Wildcat_0004"}
    assert (bundled.MODELS_DIR / card["replay_file"]).is_file()


@pytest.mark.slow  # loads a Keras model (rivers, on EfficientNet, loads in the map test below)
def test_the_compact_model_loads_by_name_with_its_class_key():
    name = "rivers_compact"
    m = modelfiles.load_model(name)  # checks model, class key and card belong together
    assert m.path == bundled.bundled_model(name)
    assert m.tile_size == 50
    x = np.zeros((3, 50, 50, 3), np.uint8)
    x[1] = (40, 90, 40)  # green
    codes, proba, classes = modelfiles.predict_codes(m, None, x)
    assert set(codes) <= set(m.scheme.labelled_codes)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)


def test_a_folder_of_that_name_comes_first_and_a_missing_model_names_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rivers").mkdir()
    with pytest.raises(modelfiles.ModelMismatchError, match="rivers holds 0 model files"):
        modelfiles.load_model("rivers")
    with pytest.raises(FileNotFoundError, match=r"nope.keras does not exist: .* shipped with sscnb \(rivers, rivers_compact\)"):
        modelfiles.load_model(tmp_path / "nope.keras")


def test_a_run_yaml_keeps_the_name_rivers(tmp_path):
    cfg = tmp_path / "run.yml"
    cfg.write_text(yaml.safe_dump({"experiment": "e", "parameters": {"model_path": "rivers", "data_dir": "d"}}))
    params = runconfig.load_config(cfg)["parameters"]
    assert params["model_path"] == "rivers"
    assert params["data_dir"] == str((tmp_path / "d").resolve())
    (tmp_path / "rivers").mkdir()  # a folder of that name beside the YAML is a path
    assert runconfig.load_config(cfg)["parameters"]["model_path"] == str((tmp_path / "rivers").resolve())


@pytest.mark.slow  # maps a survey with EfficientNet on 2 cores: about 6 s
def test_sscnb_map_with_the_shipped_model_and_adapt_starts_from_it(tmp_path):
    from sscnb.__main__ import main
    from sscnb.cli import build_parser

    assert main(["-q", "map", "--model", "rivers", "--out", str(tmp_path / "maps"), str(SAMPLE / "Survey")]) == 0
    manifest = json.loads(next((tmp_path / "maps").rglob("*_MLPRF.json")).read_text())
    assert manifest["recipe"]["model"]["path"] == str(bundled.bundled_model("rivers"))  # rivers.npz on EfficientNet
    maps = sorted(p.name for p in (tmp_path / "maps").rglob("*.tif"))
    assert "Clearwater_ortho_map_MLPRF.tif" in maps, maps
    assert build_parser().parse_args(["adapt", "--labels", "l.csv", "--out", "o", "img"]).model == "rivers"


@pytest.mark.slow  # trains a CNN
def test_sscnb_adapt_starts_from_rivers_and_replays_its_shipped_tiles(tmp_path, capsys):
    import shutil

    from sscnb import labels
    from sscnb.__main__ import main
    from sscnb.data._classes import DEFAULT_CLASSES
    from sscnb.data._pairs import find_pairs, read_pair

    rec = next(r for r in find_pairs(SAMPLE / "Validate") if r.name == "Clearwater_0005")
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    shutil.copy(rec.image_path, imgs / rec.image_path.name)
    _, lab = read_pair(rec, DEFAULT_CLASSES, 50)
    lp = labels.write_tile_labels(tmp_path / "l.csv", labels.labels_from_raster(lab, rec.name, 50, DEFAULT_CLASSES), 50)
    args = ["-q", "adapt", "--labels", str(lp), "--out", str(tmp_path / "m"), "--epochs", "1", "--replay", "0.02", str(imgs)]
    rc = main(args)  # no --model: rivers
    assert rc == 0, capsys.readouterr().err
    adapted = modelfiles.load_model(tmp_path / "m" / "cnn_adapted.keras")
    lineage = adapted.card["lineage"]
    assert lineage["parent_model"] == "rivers.npz"
    # 2% of its 10 377 tiles, drawn from rivers_replay.npz by river and class (each share rounded)
    assert abs(lineage["replayed_tiles"] - round(0.02 * _card()["n_tiles"])) <= 7
    assert "Clearwater" in adapted.key.rivers
