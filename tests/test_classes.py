import numpy as np
import pytest

from sscnb.data._classes import DEFAULT_CLASSES, ClassScheme, SchemeError


def test_default_scheme_codes_and_names():
    s = ClassScheme.default()
    assert s.codes == (0, 1, 2, 3, 4, 5)
    assert s.name(1) == "water"
    assert s.name(5) == "paved road"
    assert s.name(0) == "unlabelled"
    assert s.labelled_codes == (1, 2, 3, 4, 5)
    assert s.code("dry sediment") == 2


def test_csv_round_trip(tmp_path):
    s = ClassScheme([0, 1, 7], ["none", "water", "ice"], ["#000000", "#0000ff", "#ffffff"])
    p = s.to_csv(tmp_path / "classes.csv")
    assert p.read_text().splitlines()[0] == "code,name,colour"
    assert ClassScheme.from_csv(p) == s
    assert ClassScheme.load(None) == DEFAULT_CLASSES


@pytest.mark.parametrize(
    ("codes", "names", "colours", "msg"),
    [
        ([1, 2], ["a", "b"], ["#000000", "#ffffff"], "code 0"),
        ([0, 1, 1], ["u", "a", "b"], ["#000000"] * 3, "unique"),
        ([0, 1], ["u", "a"], ["#000000", "red"], "#rrggbb"),
        ([0, 300], ["u", "a"], ["#000000", "#000000"], "0-255"),
        ([0], ["u"], ["#000000"], "at least one class"),
    ],
)
def test_bad_schemes(codes, names, colours, msg):
    with pytest.raises(SchemeError, match=msg):
        ClassScheme(codes, names, colours)


def test_bad_csv_names_file(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("id,label\n1,water\n")
    with pytest.raises(SchemeError, match="mine.csv"):
        ClassScheme.from_csv(p)
    p.write_text("code,name,colour\nx,water,#000000\n")
    with pytest.raises(SchemeError, match="integer"):
        ClassScheme.from_csv(p)


def test_colorize_uses_scheme_colours():
    lab = np.array([[0, 1], [3, 5]], np.uint8)
    rgb = DEFAULT_CLASSES.colorize(lab)
    assert rgb.shape == (2, 2, 3)
    assert rgb.dtype == np.uint8
    assert tuple(rgb[0, 1]) == (0x1F, 0x78, 0xB4)
    assert tuple(rgb[0, 0]) == (0, 0, 0)


def test_cmap_maps_codes_to_colours():
    from matplotlib.colors import to_hex

    cmap, norm = DEFAULT_CLASSES.cmap()
    for c in DEFAULT_CLASSES.codes:
        assert to_hex(cmap(norm(c))) == DEFAULT_CLASSES.colour(c)
