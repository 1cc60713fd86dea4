"""The command: images and orthomosaics to class maps, as notebook 05 does (``sscnb map``)."""

from __future__ import annotations

from sscnb.cli import _options


def add_parser(sub) -> None:
    m = sub.add_parser(
        "map",
        help="map images or orthomosaics to GIS-ready class maps (what notebook 05 does)",
        description="Classify every input (an image, an orthomosaic, a folder or a glob) with a "
        "CNN from notebook 02 and a phase-2 pixel classifier trained on that input, "
        "and write Cloud-Optimized GeoTIFF class maps, areas per class and, with "
        "--vectors, polygons.",
    )
    m.add_argument("inputs", nargs="+", metavar="INPUT", help="image, orthomosaic, folder or glob pattern")
    _options.add_model_option(m)
    m.add_argument("--out", required=True, help="output folder")
    m.add_argument("--experiment", default="map", help="name in every output file (default: %(default)s)")
    m.add_argument("--vectors", action="store_true", help="also write polygons per class to a GeoPackage")
    m.add_argument(
        "--min-polygon-area",
        type=float,
        default=None,
        metavar="AREA",
        help="patches smaller than this (m2; px without a projected CRS) are merged before polygons are made (default: 1)",
    )
    m.add_argument(
        "--window-mpx",
        type=float,
        default=None,
        metavar="MPX",
        help="megapixels read at a time: sets peak memory (about 0.1 GB per Mpx), not results (default: 8)",
    )
    m.add_argument("--overwrite", action="store_true", help="redo inputs whose maps exist")
    _options.add_label_options(m)
    _options.add_cluster_options(m)
    _options.add_phase2_options(m)


def handle(a) -> int:
    from sscnb.maps._malloc import limit_malloc_arenas

    limit_malloc_arenas()  # before the mapping's threads allocate: less resident memory, the same maps
    from sscnb.cnn._files import load_model
    from sscnb.maps import _batch as mapping

    params = _options.phase2_settings(a)
    cnn = load_model(a.model)
    kw = {}
    if a.min_polygon_area is not None:
        kw["min_polygon_area"] = a.min_polygon_area
    if a.window_mpx is not None:
        kw["window_mpx"] = a.window_mpx
    results = mapping.map_inputs(
        a.inputs,
        cnn,
        a.out,
        a.experiment,
        params,
        vectors=a.vectors,
        overwrite=a.overwrite,
        progress=a.verbosity >= 0,
        scheduler=a.scheduler,
        workers=a.workers,
        labels=a.labels,
        class_field=a.class_field,
        **kw,
    )
    for r in results:
        cols = [c for c in ("class", "pixels", "percent", "area_ha") if c in r.areas]
        print(f"\n{r.input.name} ({r.status}): {r.files['final']}")
        print(r.areas[cols].round(3).to_string(index=False))
    print(f"\nmaps, areas and styles are in {a.out}")
    return 0
