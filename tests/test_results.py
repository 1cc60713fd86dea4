"""The results folder's one set of rules (sscnb.results): status, removal, refusal, on hand-made folders."""

import json

import pytest

from sscnb import results
from sscnb.errors import ResultsConflictError
from sscnb.params import SSCParams

RECIPE = {"model": {"sha256": "abc"}, "settings": SSCParams().to_dict()}


def _finish(files, recipe, listed=None):
    for f in files.values():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("x")
    man = {"recipe": recipe} | ({"files": listed} if listed is not None else {})
    files["manifest"].write_text(json.dumps(man))


def test_an_item_is_done_todo_or_made_otherwise(tmp_path):
    files = results.map_files(tmp_path, "Ortho", "e", SSCParams())
    assert results.item_status(files, RECIPE) == ("todo", "not finished")
    _finish(files, RECIPE)
    assert results.item_status(files, RECIPE) == ("done", "")
    files["areas"].unlink()
    assert results.item_status(files, RECIPE) == ("todo", "areas not made yet")
    other = {**RECIPE, "settings": SSCParams(median_radius=2).to_dict()}
    state, why = results.item_status(files, other)
    assert state == "other"
    assert "median_radius" in why


def test_a_file_asked_for_must_be_one_its_run_made(tmp_path):
    files = results.result_files(tmp_path, "Lake_0001", "e")
    _finish(files, RECIPE, listed=["confidence", "cnn_csv"])
    assert results.item_status(files, RECIPE, ["confidence", "cnn_csv"]) == ("done", "")
    # the class rasters exist on disk but this run did not make them: made again
    assert results.item_status(files, RECIPE, ["confidence", "cnn_raster"]) == ("todo", "cnn_raster not made yet")


def test_removal_takes_every_phase2s_files_their_sidecars_and_what_a_killed_run_left(tmp_path):
    made = results.every_map_file(tmp_path, "Ortho", "e")
    for files in made.values():
        _finish(files, RECIPE)
        (files["final"].with_name(files["final"].name + ".aux.xml")).write_text("stats")
        files["final"].with_suffix(".qml").write_text("style")
    stale = tmp_path / ".tmp_123_Ortho_e_x"
    stale.mkdir()
    (stale / "scratch.npy").write_text("x")
    keep = tmp_path / "Other_e_MLP.tif"
    keep.write_text("another input's map")
    manifest = made["mlp"]["manifest"]
    removed = results.remove_item(made.values(), manifest=manifest, stale=[stale])
    assert removed[0] == manifest  # first: the item is not done until it is written again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Other_e_MLP.tif"]
    # 7 files per phase 2 (mlp, rf, mlp_rf), of which the CNN map and its confidence are shared: 17;
    # 2 sidecars of each final map; the stale folder
    assert len(removed) == len(set(removed)) == 17 + 6 + 1


def test_conflicts_stop_the_run_naming_each_item(tmp_path):
    results.refuse_conflicts([], "image", tmp_path, "e")  # none: nothing happens
    with pytest.raises(ResultsConflictError, match=r"2 image\(s\) in .* experiment 'e'") as err:
        results.refuse_conflicts(["A: median_radius", "B: phase2"], "image", tmp_path, "e")
    assert err.value.conflicts == ["A: median_radius", "B: phase2"]
    assert "overwrite" in str(err.value)
