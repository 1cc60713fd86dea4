"""The command: a folder of labelled images classified and scored, as notebook 03 does (``sscnb evaluate``)."""

from __future__ import annotations

from pathlib import Path

from sscnb.cli import _options


def add_parser(sub) -> None:
    e = sub.add_parser(
        "evaluate",
        help="classify and score a folder of labelled images (what notebook 03 does)",
        description="Phase 1 and phase 2 on every image of DATA_DIR, scored against its labels: "
        "the same files as notebook 03 (per-image CSVs, confusion matrices, "
        "figures, Summary_<experiment>.csv, Timings_<experiment>.csv).",
    )
    e.add_argument("data_dir", metavar="DATA_DIR", help="images RiverName_NNNN.jpg with labels SCLS_*.tif")
    _options.add_model_option(e)
    e.add_argument("--out", required=True, help="output folder (notebook 03 writes to output_dir/ssc)")
    e.add_argument("--experiment", default="evaluate", help="name in every output file (default: %(default)s)")
    e.add_argument("--overwrite", action="store_true", help="redo finished images")
    e.add_argument("--no-figures", dest="save_figures", action="store_false", help="do not draw the 4-part figures")
    e.add_argument("--dpi", type=int, default=150, help="resolution of the figures (default: %(default)s)")
    e.add_argument("--class-rasters", action="store_true", help="also write the CNN and final maps as COGs")
    _options.add_label_options(e)
    _options.add_cluster_options(e)
    _options.add_phase2_options(e)


def handle(a) -> int:
    from sscnb.cnn._files import load_model
    from sscnb.evaluation import class_scores, evaluate_folder, overall_f1

    quiet = a.verbosity < 0
    say = (lambda *_: None) if quiet else print
    params = _options.phase2_settings(a)
    cnn = load_model(a.model)
    summary, _ = evaluate_folder(
        a.data_dir,
        cnn,
        a.out,
        a.experiment,
        params,
        overwrite=a.overwrite,
        save_figures=a.save_figures,
        dpi=a.dpi,
        save_class_rasters=a.class_rasters,
        progress=not quiet,
        scheduler=a.scheduler,
        workers=a.workers,
        log=say,
        labels=a.labels,
        class_field=a.class_field,
    )
    out = Path(a.out)  # evaluate_folder wrote Summary_<experiment>.csv there
    overall = overall_f1(out, a.experiment, params.phase2, images=set(summary.image))
    if not quiet:
        print(summary.round(4).to_string(index=False))
        scores = class_scores(out, a.experiment, params.phase2, images=set(summary.image), scheme=cnn.scheme)
        if len(scores):
            print("\nEvery class over all images (pooled confusion matrices):")
            print(scores.round(4).to_string(index=False))
        print(
            f"\nOverall pixel-weighted F1: CNN {overall['CNN']:.4f}, final ({params.phase2_name}) "
            f"{overall[params.phase2_name]:.4f}\nfiles in {out}"
        )
    return 0
