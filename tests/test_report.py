"""Compilation of per-image CSVs on hand-made files with known values."""

import json

import numpy as np
import pandas as pd
import pytest

from sscnb import report


def _csv(path, rows):
    pd.DataFrame(rows, columns=["class", "precision", "recall", "f1_score", "support"]).to_csv(path, index=False)


@pytest.fixture
def results(tmp_path):
    ssc = tmp_path / "run" / "ssc"
    model = tmp_path / "run" / "model"
    ssc.mkdir(parents=True)
    model.mkdir()
    # the CNN was trained on river Alpha only (card lists its tiles); Beta is out of sample
    (model / "cnn_card.json").write_text(
        json.dumps({"model_name": "cnn", "tiles_per_class": {"Alpha": {"water": 3}}, "rivers": ["Alpha"]})
    )
    _csv(ssc / "CNN_Alpha_0001_my_exp.csv", [("water", 1, 1, 0.9, 300), ("dry sediment", 1, 1, 0.6, 100)])
    _csv(ssc / "MLP_Alpha_0001_my_exp.csv", [("water", 1, 1, 1.0, 300), ("dry sediment", 1, 1, 0.8, 100)])
    _csv(ssc / "CNN_Beta_0002_my_exp.csv", [("water", 1, 1, 0.5, 100)])
    _csv(ssc / "MLP_Beta_0002_my_exp.csv", [("water", 1, 1, 0.7, 100)])
    cm = pd.DataFrame(
        [[290, 10, 0], [20, 80, 0]],
        index=pd.Index(["water", "dry sediment"], name="true"),
        columns=["water", "dry sediment", "unclassified"],
    )
    cm.to_csv(ssc / "Confusion_MLP_Alpha_0001_my_exp.csv")
    cm.to_csv(ssc / "Confusion_MLP_Beta_0002_my_exp.csv")
    return ssc


def test_compiled_rows_values_and_sample(results):
    df = report.compile_results(results)
    assert list(df.columns) == report.COMPILED_COLUMNS
    assert len(df) == 3 + 3 + 2 + 2  # class rows + one ALL row per image x type
    a = df[(df.Image == "Alpha_0001") & (df.Type == "CNN")].set_index("Class")
    assert a.loc["water", "F1"] == pytest.approx(0.90)
    assert a.loc["water", "Support"] == 300
    assert a.loc["ALL", "F1"] == pytest.approx((0.9 * 300 + 0.6 * 100) / 400)  # 0.825
    assert a.loc["ALL", "Support"] == 400
    assert set(df[df.RiverName == "Alpha"].Sample) == {"InSample"}
    assert set(df[df.RiverName == "Beta"].Sample) == {"OutOfSample"}
    assert set(df.Experiment) == {"my_exp"}
    assert set(df.Model) == {"cnn"}


def test_weighted_summaries_by_pixels_not_images(results):
    df = report.compile_results(results, experiment="my_exp")
    overall = report.weighted_summary(df, ["Type"]).set_index("Type")
    # CNN: (0.9*300 + 0.6*100 + 0.5*100) / 500 = 0.76 (the mean over images would be 0.6625)
    assert overall.loc["CNN", "F1"] == pytest.approx(0.76)
    assert overall.loc["MLP", "F1"] == pytest.approx((300 + 80 + 70) / 500)
    by_sample = report.weighted_summary(df, ["Sample", "Type"]).set_index(["Sample", "Type"])
    assert by_sample.loc[("OutOfSample", "MLP"), "F1"] == pytest.approx(0.70)
    by_class = report.weighted_summary(df, ["Class", "Type"]).set_index(["Class", "Type"])
    assert by_class.loc[("water", "CNN"), "F1"] == pytest.approx((0.9 * 300 + 0.5 * 100) / 400)
    assert by_class.loc[("water", "CNN"), "Support"] == 400
    text = report.narrative(df)
    assert "InSample" in text
    assert "OutOfSample" in text
    assert "worst dry sediment" in text
    # macro F1: water (0.9*300 + 0.5*100)/400 = 0.8 and sediment 0.6 count the same: 0.70
    macro = report.macro_summary(df, ["Type"]).set_index("Type")
    assert macro.loc["CNN", "Macro_F1"] == pytest.approx(0.70)
    assert macro.loc["CNN", "Classes"] == 2
    assert report.macro_summary(df[df.Type == "CNN"], []).Macro_F1.iloc[0] == pytest.approx(0.70)
    assert "macro F1 0.700" in text


def test_class_scores_pool_the_confusion_matrices(results):
    from sscnb.evaluation import class_scores

    s = class_scores(results, "my_exp", "mlp").set_index(["map", "class"])
    # two images of [[290, 10], [20, 80]]: water precision 580/620, recall 580/600; sediment 160/180, 160/200
    w = s.loc[("MLP", "water")]
    assert w.precision == pytest.approx(580 / 620)
    assert w.recall == pytest.approx(580 / 600)
    assert w.support == 600
    sed = s.loc[("MLP", "dry sediment")]
    f1_sed = 2 * (160 / 180) * (160 / 200) / (160 / 180 + 160 / 200)
    assert sed.f1_score == pytest.approx(f1_sed)
    f1_w = 2 * (580 / 620) * (580 / 600) / (580 / 620 + 580 / 600)
    assert s.loc[("MLP", "macro F1"), "f1_score"] == pytest.approx((f1_w + f1_sed) / 2)
    assert s.loc[("MLP", "pixel-weighted F1"), "f1_score"] == pytest.approx((600 * f1_w + 200 * f1_sed) / 800)
    assert "CNN" not in s.index.get_level_values(0)  # no CNN matrices in this folder
    assert len(class_scores(results, "my_exp", "mlp", images={"Alpha_0001"})) == 4


def test_every_phase2s_results_are_compiled_mlprf_too(results):
    """The files of phase2 mlp_rf (MLPRF_...) are compiled beside the MLP's, not skipped."""
    _csv(results / "MLPRF_Alpha_0001_my_exp.csv", [("water", 1, 1, 0.95, 300), ("dry sediment", 1, 1, 0.7, 100)])
    df = report.compile_results(results, experiment="my_exp")
    assert set(df.Type) == {"CNN", "MLP", "MLPRF"}
    overall = report.weighted_summary(df, ["Type"]).set_index("Type")
    assert overall.loc["MLPRF", "F1"] == pytest.approx((0.95 * 300 + 0.7 * 100) / 400)
    assert "MLPRF" in report.narrative(df)


def test_class_key_gives_sample_when_no_card(tmp_path):
    ssc = tmp_path / "r" / "ssc"
    ssc.mkdir(parents=True)
    (tmp_path / "r" / "model").mkdir()
    pd.DataFrame(
        {"LocalClass": [0, 1], "HierarchClass": [1, 1], "River": ["Alpha", "Gamma"], "ClassName": ["water", "water"]}
    ).to_csv(tmp_path / "r" / "model" / "m_classkey.csv", index=False)
    _csv(ssc / "CNN_Gamma_0001_e.csv", [("water", 1, 1, 0.9, 10)])
    _csv(ssc / "CNN_Beta_0001_e.csv", [("water", 1, 1, 0.9, 10)])
    df = report.compile_results(ssc)
    assert dict(zip(df.RiverName, df.Sample, strict=True)) == {"Gamma": "InSample", "Beta": "OutOfSample"}


def test_aggregated_confusion_sums_images(results):
    cms = report.aggregated_confusion(results, "my_exp")
    assert list(cms) == ["MLP"]
    assert cms["MLP"].loc["water", "water"] == 580
    assert cms["MLP"].loc["dry sediment", "water"] == 40


def test_errors_name_the_file_or_folder(tmp_path, results):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(report.ReportError, match="no CNN_\\*, MLP_\\*, RF_\\* or MLPRF_\\* result CSV files in .*empty"):
        report.compile_results(empty)
    (results / "RF_Alpha_0001_my_exp.csv").write_text("class,precision,recall\nwater,1,1\n")
    with pytest.raises(report.ReportError, match="RF_Alpha_0001_my_exp.csv"):
        report.compile_results(results)
    (results / "RF_Alpha_0001_my_exp.csv").write_text("class,precision,recall,f1_score,support\nwater,1,1,,\n")
    with pytest.raises(report.ReportError, match="RF_Alpha_0001_my_exp.csv has empty values"):
        report.compile_results(results)


def test_save_compiled(tmp_path, results):
    df = report.compile_results(results)
    p = report.save_compiled(df, tmp_path / "rep", "my_exp")
    assert p.name == "Compiled_my_exp.csv"
    back = pd.read_csv(p)
    np.testing.assert_allclose(back.F1, df.F1)


def test_experiments_whose_names_end_alike_never_mix(tmp_path):
    """Experiments 'run' and 'test_run', 'demo' and 'x_demo', in one folder; images with underscores."""
    d = tmp_path / "ssc"
    d.mkdir()
    files = {
        ("Lake_0001", "demo"): 0.1,
        ("Lake_0001", "x_demo"): 0.2,
        ("Clearwater_0005", "run"): 0.3,
        ("Clearwater_0005", "test_run"): 0.4,
        ("Big_Lake_0002", "run"): 0.5,
    }
    for (image, exp), f1 in files.items():
        for typ in ("CNN", "MLP"):
            _csv(d / f"{typ}_{image}_{exp}.csv", [("water", 1, 1, f1, 100)])
        pd.DataFrame([[100, 0]], index=pd.Index(["water"], name="true"), columns=["water", "unclassified"]).to_csv(
            d / f"Confusion_MLP_{image}_{exp}.csv"
        )
        (d / f"Summary_{exp}.csv").write_text("image\n")
    for exp in ("demo", "x_demo", "run", "test_run"):
        got = {(img, e) for _, _, img, e in report.find_result_files(d, exp)}
        assert got == {k for k in files if k[1] == exp}, exp
        df = report.compile_results(d, experiment=exp)
        assert set(df.Experiment) == {exp}
        want = {f1 for (_, e), f1 in files.items() if e == exp}
        assert set(df[df.Class != "ALL"].F1.round(6)) == {round(f, 6) for f in want}
        cm = report.aggregated_confusion(d, exp)["MLP"]
        assert cm.to_numpy().sum() == 100 * sum(1 for k in files if k[1] == exp)
    # without an experiment: every file, each with its own experiment and image
    got = {(img, e) for _, _, img, e in report.find_result_files(d)}
    assert got == set(files)
