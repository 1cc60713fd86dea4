"""The command: a model fine-tuned on a new river's labels, as notebook 07 does (``sscnb adapt``)."""

from __future__ import annotations

from sscnb.cli import _options


def add_parser(sub) -> None:
    from sscnb.adapt._defaults import DEFAULT_EPOCHS, DEFAULT_REPLAY

    d = sub.add_parser(
        "adapt",
        help="fine-tune a model on labelled tiles of a new river (what notebook 07 does)",
        description="Fine-tune a CNN on a new river's labels (a labels CSV from the tile labeller, "
        "polygons drawn in QGIS, or a folder of SCLS_ rasters) with a sample of the "
        "parent's training tiles replayed, and save the adapted model (.keras, class "
        "key, card with its lineage) under OUT. The last line printed is its path.",
    )
    d.add_argument("images", nargs="+", metavar="IMAGES", help="the new river's images, or folders of them")
    d.add_argument(
        "--model",
        default="rivers",
        help="the parent CNN (.keras file or its folder; default: rivers, the model shipped with sscnb)",
    )
    d.add_argument("--labels", required=True, help="labels CSV, polygon file (.gpkg, .shp) or folder of SCLS_ rasters")
    d.add_argument("--out", required=True, help="folder for the adapted model")
    d.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, metavar="N", help="passes over the tiles (default: %(default)s)")
    d.add_argument(
        "--replay",
        type=_options.replay,
        default=DEFAULT_REPLAY,
        help="parent tiles replayed: a fraction 0-1 or a count (default: %(default)s)",
    )
    d.add_argument("--replay-dir", default=None, help="the parent's training folder (default: from its card)")
    d.add_argument("--name", default="cnn_adapted", help="file name of the adapted model (default: %(default)s)")
    d.add_argument("--class-field", default="class_code", help="class attribute of polygons (default: %(default)s)")
    d.add_argument("--seed", type=int, default=42, metavar="N", help="random seed of the fine-tuning (default: %(default)s)")
    d.add_argument("--overwrite", action="store_true", help="replace an adapted model of that name")


def handle(a) -> int:
    from sscnb.adapt._finetune import adapt_model

    quiet = a.verbosity < 0
    paths = adapt_model(
        a.model,
        a.labels,
        a.images,
        a.out,
        model_name=a.name,
        epochs=a.epochs,
        replay=a.replay,
        replay_dir=a.replay_dir,
        class_field=a.class_field,
        seed=a.seed,
        overwrite=a.overwrite,
        progress=not quiet,
        log=(lambda *_: None) if quiet else print,
        out_setting="--out",
    )
    print(paths["model"])  # last line: the adapted model, for scripts
    return 0
