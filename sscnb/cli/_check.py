"""The command: a data folder checked as notebook 00 does (``sscnb check``)."""

from __future__ import annotations


def add_parser(sub) -> None:
    c = sub.add_parser("check", help="check a data folder (what notebook 00 does, as text)")
    c.add_argument("data_dir")
    c.add_argument("--tile-size", type=int, default=50, metavar="PX", help="side of a CNN tile in px (default: %(default)s)")
    c.add_argument(
        "--purity",
        type=float,
        default=0.9,
        metavar="X",
        help="share of a tile that must be one class to train on it (default: %(default)s)",
    )
    c.add_argument("--class-csv", default=None, help="CSV of class codes, names and colours (default: the five classes)")


def handle(a) -> int:
    from sscnb.data._check import check_dataset
    from sscnb.data._classes import ClassScheme
    from sscnb.data._pairs import DataError

    if a.tile_size < 1:
        raise DataError(f"--tile-size must be at least 1 px, got {a.tile_size}: use the CNN's tile size (50)")
    if not 0 < a.purity <= 1:
        raise DataError(
            f"--purity must be more than 0 and at most 1, got {a.purity}: the share of a tile that must be one class (0.9)"
        )
    chk = check_dataset(a.data_dir, ClassScheme.load(a.class_csv), a.tile_size, a.purity)
    print(chk.inventory.to_string(index=False))
    print("\nusable tiles per river and class:\n" + chk.totals("tiles").to_string())
    for p in chk.problems:
        print(p)
    return 0 if chk.ok else 1
