import numpy as np
import pytest

from sscnb.data._check import check_dataset
from sscnb.data._classes import DEFAULT_CLASSES
from sscnb.data._pairs import (
    DataError,
    DataWarning,
    find_pairs,
    parse_image_name,
    read_image,
    read_label,
    read_pair,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("StMarg_26607.jpg", ("StMarg", "26607")),
        ("Sainte_Marguerite_0012.JPG", ("Sainte_Marguerite", "0012")),
        ("River_0001.tiff", ("River", "0001")),
        ("River_001.jpg", None),  # 3 digits
        ("River0001.jpg", None),  # no underscore
        ("SCLS_River_0001.tif", None),  # a label, not an image
        ("notes.txt", None),
    ],
)
def test_parse_image_name(name, expected):
    assert parse_image_name(name) == expected


def test_pairs_both_label_forms_by_name(tmp_path, make_pair):
    lab = np.ones((60, 80), np.uint8)
    make_pair("Alpha_0002.png", label=lab)  # SCLS_Alpha_0002.tif
    make_pair("Alpha_0010.png", label=lab * 2, label_name="SCLS_Alpha0010.tif")
    make_pair("Beta_0001.jpg")  # no label
    recs = find_pairs(tmp_path)
    assert [r.name for r in recs] == ["Alpha_0002", "Alpha_0010", "Beta_0001"]
    assert recs[0].label_path.name == "SCLS_Alpha_0002.tif"
    assert recs[1].label_path.name == "SCLS_Alpha0010.tif"
    assert recs[2].label_path is None
    assert recs[2].river == "Beta"
    # pairing is by name: the label of 0010 holds 2s, that of 0002 holds 1s
    assert read_pair(recs[1])[1].max() == 2
    assert read_pair(recs[0])[1].max() == 1


def test_no_images_in_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(DataError, match="no images found"):
        find_pairs(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        find_pairs(tmp_path / "missing")


def test_label_without_image_is_reported(tmp_path, make_pair):
    make_pair("River_0001.png", label=np.ones((60, 80), np.uint8))
    from conftest import write_tif

    write_tif(tmp_path / "SCLS_River0099.tif", np.ones((60, 80), np.uint8))
    recs, probs = find_pairs(tmp_path, return_problems=True)
    assert len(recs) == 1
    assert any(
        "SCLS_River0099.tif" in p.message and "without an image" in p.message and "River_0099.jpg" in p.message for p in probs
    )


def test_bad_name_is_reported_and_skipped(tmp_path, make_pair):
    make_pair("River_0001.png")
    make_pair("holiday photo.png")
    recs, probs = find_pairs(tmp_path, return_problems=True)
    assert [r.name for r in recs] == ["River_0001"]
    assert probs[0].file == "holiday photo.png"
    assert "naming convention" in probs[0].message


def test_size_mismatch_names_both_files(tmp_path, make_pair):
    make_pair("River_0001.png", label=np.ones((60, 81), np.uint8))
    rec = find_pairs(tmp_path)[0]
    with pytest.raises(DataError, match=r"SCLS_River_0001.tif is 81 x 60 px but River_0001.png is 80 x 60 px"):
        read_pair(rec)


def test_undecodable_file(tmp_path):
    p = tmp_path / "River_0001.jpg"
    p.write_bytes(b"this is not a jpeg")
    with pytest.raises(DataError, match="River_0001.jpg cannot be decoded"):
        read_image(p)


def test_grayscale_image(tmp_path, make_pair):
    ip, _ = make_pair("River_0001.png", image=np.zeros((60, 80), np.uint8))
    with pytest.raises(DataError, match="River_0001.png is a grayscale image"):
        read_image(ip)


def test_rgba_drops_alpha_with_warning(tmp_path, make_pair):
    img = np.random.default_rng(1).integers(0, 255, (60, 80, 4), dtype=np.uint8)
    ip, _ = make_pair("River_0001.png", image=img)
    with pytest.warns(DataWarning, match="River_0001.png is RGBA"):
        out = read_image(ip)
    assert out.shape == (60, 80, 3)
    np.testing.assert_array_equal(out, img[..., :3])


def test_16bit_image(tmp_path, make_pair):
    ip, _ = make_pair("River_0001.tif", image=np.zeros((60, 80, 3), np.uint16))
    with pytest.raises(DataError, match="River_0001.tif is a 16-bit image.*convert it to 8-bit"):
        read_image(ip)


def test_label_values_not_in_scheme(tmp_path, make_pair):
    lab = np.ones((60, 80), np.uint8)
    lab[0, 0] = 9
    _, lp = make_pair("River_0001.png", label=lab)
    with pytest.raises(DataError, match=r"SCLS_River_0001.tif holds label values \[9\]"):
        read_label(lp, DEFAULT_CLASSES)


def test_float64_labels_read_as_codes(tmp_path, make_pair):
    lab = np.zeros((60, 80), np.float64)
    lab[:30] = 1.0
    lab[30:] = 3.0
    _, lp = make_pair("River_0001.png", label=lab)
    out = read_label(lp, DEFAULT_CLASSES)
    assert out.dtype == np.uint8
    assert set(np.unique(out)) == {1, 3}
    lab[0, 0] = 1.5
    _, lp = make_pair("River_0002.png", label=lab)
    with pytest.raises(DataError, match="non-integer"):
        read_label(lp)


def test_image_smaller_than_one_tile(tmp_path, make_pair):
    make_pair("River_0001.png", image=np.zeros((40, 80, 3), np.uint8))
    rec = find_pairs(tmp_path)[0]
    with pytest.raises(DataError, match="River_0001.png is 80 x 40 px, smaller than one 50 x 50 px tile"):
        read_pair(rec, tile_size=50)


def test_check_dataset_collects_problems_and_counts(tmp_path, make_pair):
    lab = np.zeros((100, 150), np.uint8)
    lab[:50, :50] = 1  # one pure water tile
    lab[:50, 50:100] = 3  # one pure vegetation tile
    lab[:45, 100:150] = 2  # 90% sediment, 10% unlabelled -> pure
    lab[50:, :] = 2
    lab[50:55, :50] = 3  # 90% sediment, 10% vegetation -> pure
    lab[50:56, 50:100] = 3  # 88% sediment -> not pure
    make_pair("Good_0001.png", image=np.zeros((100, 150, 3), np.uint8), label=lab)
    make_pair("Gray_0001.png", image=np.zeros((100, 150), np.uint8))
    make_pair("Nolabel_0001.png", image=np.zeros((100, 150, 3), np.uint8))
    chk = check_dataset(tmp_path, progress=False)
    inv = chk.inventory.set_index("image")
    assert list(inv.index) == ["Good_0001.png", "Nolabel_0001.png"]
    g = inv.loc["Good_0001.png"]
    assert (g.width, g.height) == (150, 100)
    assert g["px_water"] == 2500
    assert g["px_green vegetation"] == 2500 + 250 + 300
    assert g["tiles_water"] == 1
    assert g["tiles_green vegetation"] == 1
    assert g["tiles_dry sediment"] == 3
    assert g.labelled_fraction == pytest.approx(1 - 250 / 15000)
    assert not chk.ok
    assert [p.file for p in chk.errors] == ["Gray_0001.png"]
    assert any("Nolabel_0001.png has no label" in p.message for p in chk.warnings)
    tot = chk.totals("tiles")
    assert tot.loc["ALL", "dry sediment"] == 3
    with pytest.raises(DataError, match="Gray_0001.png is a grayscale image"):
        chk.raise_for_errors()
    files = chk.save(tmp_path / "out")
    assert all(p.exists() for p in files.values())


def test_check_fails_when_no_tile_is_trainable(tmp_path, make_pair, capsys):
    from sscnb.__main__ import main

    lab = np.zeros((60, 80), np.uint8)
    lab[::2] = 1  # stripes: never 90% one class in a 50 px tile
    lab[1::2] = 3
    make_pair("River_0001.png", label=lab)
    chk = check_dataset(tmp_path, progress=False)
    assert not chk.ok
    assert "no class has a single usable tile" in chk.errors[-1].message
    assert main(["check", str(tmp_path)]) == 1
    assert "nothing to train a CNN on" in capsys.readouterr().out


def test_notebooks_see_the_problems_of_the_folder_they_read(tmp_path, make_pair):
    import warnings as _w

    from sscnb.data._pairs import DataWarning, checked_pairs

    lab = np.ones((60, 80), np.uint8)
    make_pair("River_0001.png", label=lab)
    make_pair("nodigits.png")
    msgs = []
    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always")
        recs = checked_pairs(tmp_path, log=msgs.append)
    assert [r.name for r in recs] == ["River_0001"]
    assert any("nodigits.png does not follow the naming convention" in m for m in msgs)
    assert any(issubclass(w.category, DataWarning) for w in caught)
    make_pair("River_0001.jpg")  # the same image twice: an error, before anything is computed
    with pytest.raises(DataError, match=r"River_0001\.(jpg|png) and River_0001\.(jpg|png) are the same image"):
        checked_pairs(tmp_path, log=lambda *_: None)


def test_two_labels_for_one_image_say_which_is_used(tmp_path, make_pair):
    from sscnb.data._pairs import find_pairs

    lab = np.ones((60, 80), np.uint8)
    make_pair("River_0005.png", label=lab)  # SCLS_River_0005.tif
    make_pair("River_0005.png", label=lab * 3, label_name="SCLS_River0005.tif")
    recs, problems = find_pairs(tmp_path, return_problems=True)
    assert len(recs) == 1
    assert recs[0].label_path.name == "SCLS_River_0005.tif"
    msgs = [p.message for p in problems]
    assert msgs == [
        "River_0005.png has two labels, SCLS_River_0005.tif and SCLS_River0005.tif: SCLS_River_0005.tif "
        "is used and SCLS_River0005.tif is ignored; delete or rename the one you do not mean"
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--tile-size", "0"], "--tile-size must be at least 1 px, got 0"),
        (["--purity", "1.5"], "--purity must be more than 0 and at most 1, got 1.5"),
    ],
)
def test_check_refuses_bad_settings_in_one_line(capsys, args, says):
    from conftest import SAMPLE
    from sscnb.__main__ import main

    assert main(["check", str(SAMPLE / "Train"), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"sscnb check: {says}")
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_several_folders_are_one_data_set_of_several_rivers(tmp_path, make_pair):
    from sscnb.data._pairs import checked_pairs, data_dir_record, data_folders

    lab = np.full((60, 80), 1, np.uint8)
    make_pair("Alpha_0001.png", label=lab, folder=tmp_path / "a")
    make_pair("Beta_0001.png", label=lab, folder=tmp_path / "b")
    make_pair("Beta_0002.png", label=lab, folder=tmp_path / "b")
    a, b = tmp_path / "a", tmp_path / "b"
    recs = checked_pairs([a, b], log=lambda s: None)
    assert [r.name for r in recs] == ["Alpha_0001", "Beta_0001", "Beta_0002"]
    assert {r.river for r in recs} == {"Alpha", "Beta"}
    assert data_folders(str(a)) == [a]
    assert data_dir_record(a) == str(a.resolve())
    assert data_dir_record([a, b]) == [str(a.resolve()), str(b.resolve())]
    chk = check_dataset([a, b], tile_size=20, progress=False)
    assert chk.ok
    assert list(chk.inventory.image) == ["Alpha_0001.png", "Beta_0001.png", "Beta_0002.png"]
    make_pair("Beta_0002.png", label=lab, folder=tmp_path / "c")  # the same image in a third folder
    with pytest.raises(DataError, match=r"Beta_0002 is in two data folders, .*b and .*c: keep one"):
        checked_pairs([a, b, tmp_path / "c"], log=lambda s: None)
    chk = check_dataset([a, b, tmp_path / "c"], tile_size=20, progress=False)
    assert [p.message for p in chk.errors] == [f"Beta_0002 is in two data folders, {b} and {tmp_path / 'c'}: keep one of them"]
    with pytest.raises(DataError, match="data_dir is an empty list"):
        checked_pairs([])
