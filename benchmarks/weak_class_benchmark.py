"""Fix a weak class on the StMarg mosaic: label tiles of that class, adapt, re-map, compare.

The mosaic of ``map_benchmark.py`` (the five stmarg/Validate images, 12 000 px by default) is mapped
with the StMarg CNN; a simulated user then labels N tiles in the labeller's class order for the
class (``sscnb.labels.LabelSession(order="class")``: the tiles the model calls that class, least
sure first, in turn with those it doubts), each tile's class read from the stitched labels (a tile
not 90% one class is "mixed"); the CNN is fine-tuned on them (``sscnb.adapt.fine_tune``, defaults,
StMarg's tiles replayed) and the mosaic mapped again, with phase 2 learning from the labels and
without. Prints the weighted F1 and the class's precision, recall and F1 of every map.

    python benchmarks/weak_class_benchmark.py                       # dry sediment, 50 tiles
    python benchmarks/weak_class_benchmark.py --n 100 --size 6000

Needs ../shared/data/stmarg and the StMarg model of configs/stmarg.yml (``python -m sscnb run
--config configs/stmarg.yml --only 01 02``). The mosaic is built under outputs/benchmarks/ (never
commit it); the maps go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "stmarg"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "outputs/stmarg/model/cnn_stmarg.keras"))
    ap.add_argument("--size", type=int, default=12_000, help="mosaic side in px (default %(default)s)")
    ap.add_argument("--label-class", default="dry sediment")
    ap.add_argument("--n", type=int, default=50, help="tiles the simulated user labels (default %(default)s)")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"needs {DATA}")

    import map_benchmark as mb
    import numpy as np
    import rasterio

    from sscnb import labels, ssc
    from sscnb.adapt import _finetune as adapt
    from sscnb.cnn import _files as modelfiles
    from sscnb.cnn import machine
    from sscnb.data import _tiles as T
    from sscnb.labels import _labeller as labeller
    from sscnb.maps import _batch as mapping
    from sscnb.phase2._choose import PixelLabels

    work = ROOT / "outputs" / "benchmarks"
    work.mkdir(parents=True, exist_ok=True)
    img, lab = mb.build_mosaic(DATA / "Validate", work, a.size)
    parent = modelfiles.load_model(a.model)
    scheme, tile = parent.scheme, parent.tile_size
    codes = list(scheme.labelled_codes)
    named = {scheme.name(c): c for c in codes}
    if a.label_class not in named:
        sys.exit(f"--label-class {a.label_class!r} is not a class of the model: choose one of {sorted(named)}")
    target = named[a.label_class]
    print(f"machine: {machine()} ({os.cpu_count()} cores); model {parent.path.name}; {a.label_class}, {a.n} tiles")
    out = Path(tempfile.mkdtemp(prefix="weak_class_"))

    def mapped(model, name, user=None):
        t0 = time.perf_counter()
        res = mapping.map_inputs(
            [img], model, out / name, name, ssc.SSCParams(), progress=False, log=lambda *_: None, labels=user
        )[0]
        for kind in ("cnn", "final"):
            f1, rep = mb.score(res.files[kind], lab, codes)
            r = rep.set_index("class").loc[target] if target in set(rep["class"]) else None
            cls = "no such pixels" if r is None else f"precision {r.precision:.3f} recall {r.recall:.3f} F1 {r.f1_score:.3f}"
            print(f"{name:>28} {kind:>5}: weighted F1 {f1:.4f}; {a.label_class}: {cls}", flush=True)
        print(f"{'':>28} phase 2: {res.info.get('phase2_choice')} ({time.perf_counter() - t0:.0f} s)", flush=True)
        # why: each candidate's agreement with the CNN on the held-out tiles, overall and per class (the check's numbers)
        for cand, by_class in res.info.get("agreement_by_class", {}).items():
            shares = ", ".join(f"{scheme.name(int(c))} {v:.0%}" for c, v in sorted(by_class.items()))
            print(f"{'':>28} held out, {cand}: {res.info['agreement'].get(cand, float('nan')):.1%} of tiles; {shares}")

    mapped(parent, "before")
    with rasterio.open(lab) as ds:
        truth = T.purity_labels(ds.read(1), tile, codes, 0.9).reshape(T.grid_shape((ds.height, ds.width), tile))
    t0 = time.perf_counter()
    sess = labeller.LabelSession(
        {img.stem: img},
        out / "labels.csv",
        parent,
        order="class",
        label_class=a.label_class,
        seed=a.seed,
        max_tiles_per_image=None,
    )
    while len(sess.table) < a.n and sess.current() is not None:
        _, r, c = sess.current()
        sess.label(int(truth[r, c]) if truth[r, c] > 0 else labels.MIXED)
    tab = sess.table
    said = {("mixed" if k == labels.MIXED else scheme.name(int(k))): int(v) for k, v in tab.class_code.value_counts().items()}
    print(f"labelled {len(tab)} tiles in {time.perf_counter() - t0:.0f} s: {said}", flush=True)
    res = adapt.fine_tune(
        parent, labels.tile_set(tab, {img.stem: img}, tile), replay_dir=DATA / "Train", seed=a.seed, progress=False
    )
    print(f"fine-tuned in {res.seconds:.0f} s", flush=True)
    model = modelfiles.LoadedModel(res.model, res.key, res.card, parent.path, scheme)
    grid = np.zeros(truth.shape, np.int64)
    mine = tab[tab.class_code > 0]
    grid[mine.tile_row.to_numpy(), mine.tile_col.to_numpy()] = mine.class_code.to_numpy()
    mapped(model, "after")
    mapped(model, "after_with_labels", {img.stem: PixelLabels.from_tile_grid(grid, tile, learnt=True)})


if __name__ == "__main__":
    main()
