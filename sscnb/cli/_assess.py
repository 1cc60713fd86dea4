"""The command: areas and accuracy with confidence intervals from a sample, as notebook 08 does (``sscnb assess``)."""

from __future__ import annotations


def add_parser(sub) -> None:
    from sscnb.assess._defaults import DEFAULT_MIN_PER_CLASS

    e = sub.add_parser(
        "assess",
        help="class areas and accuracy with 95%% confidence intervals from a sample of points (what notebook 08 does)",
        description="Draw a stratified random sample of points from a final map (Olofsson et al. "
        "2014: a minimum per class, the rest by area), take their reference classes "
        "from a label raster (--reference) or from points labelled in QGIS or notebook "
        "08 (--points), and estimate each class's area and the map's accuracies with "
        "95% confidence intervals. Writes points.csv (+ points.gpkg), estimates.csv and "
        "error_matrix.csv under OUT. Without a reference it draws the sample and stops: "
        "label the points, then run again with --points.",
    )
    e.add_argument("--map", required=True, dest="map_path", help="the final map (a class GeoTIFF)")
    e.add_argument("--out", required=True, help="folder for the sample and the estimates")
    e.add_argument("--n", type=int, default=None, help="points to draw (an existing sample in OUT is reused)")
    x = e.add_mutually_exclusive_group()
    x.add_argument("--reference", default=None, help="a label raster on the map's grid (0 = unlabelled)")
    x.add_argument("--points", default=None, help="labelled points: a GeoPackage, shapefile or CSV, in any CRS")
    e.add_argument(
        "--class-field", default="reference_class", help="the reference class field of --points (default: %(default)s)"
    )
    e.add_argument("--points-crs", default=None, help="the CRS of a CSV's x, y (default: the map's)")
    e.add_argument(
        "--min-per-class",
        type=int,
        default=DEFAULT_MIN_PER_CLASS,
        metavar="N",
        help="points in each map class at least, the rest by area (default: %(default)s)",
    )
    e.add_argument("--seed", type=int, default=0, metavar="N", help="random seed of the sample (default: %(default)s)")
    e.add_argument("--class-csv", default=None, help="CSV of class codes, names and colours (default classes)")
    e.add_argument("--overwrite", action="store_true", help="draw a new sample over one drawn with other settings")


def handle(a) -> int:
    from sscnb.assess._estimate import assess_map
    from sscnb.data._classes import ClassScheme

    res = assess_map(
        a.map_path,
        a.out,
        a.n,
        reference=a.reference,
        points=a.points,
        min_per_class=a.min_per_class,
        seed=a.seed,
        scheme=ClassScheme.load(a.class_csv),
        class_field=a.class_field,
        points_crs=a.points_crs,
        overwrite=a.overwrite,
        log=print if a.verbosity >= 0 else (lambda *_: None),
        out_setting="--out",
    )
    if res["estimates"] is not None:
        print(res["estimates"].to_string(index=False, float_format=lambda v: f"{v:.4g}"))  # every column, unwrapped
        print(f"wrote {res['files']['estimates']}")
    return 0
