"""Check the answers of docs/workshop.md against the notebooks' own output.

Runs notebook 06_explore (papermill, static figures) once per setting an exercise asks about, with
the model `make demo` trained, and reads the numbers from what the executed notebooks print: the
explorer's F1 table (CNN tile map and final map, per class) and its one-line description (tiles,
tiles left unclassified, errors in the less and the more confident half of the tiles). Prints one
table per exercise, to compare with the guide.

    make demo                                   # once: trains the model in outputs/sample_demo
    python benchmarks/workshop_answers.py [--run outputs/sample_demo]

The executed notebooks are kept in outputs/workshop_check/<case>/ for reading.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "06_explore.ipynb"

CASES = {  # name: (image, settings)
    "radius0": ("Clearwater_0005", {"median_radius": 0}),
    "radius2": ("Clearwater_0005", {"median_radius": 2}),
    "radius5": ("Clearwater_0005", {"median_radius": 5}),
    "radius9": ("Clearwater_0005", {"median_radius": 9}),
    "muddy_mlp": ("Muddyford_0005", {"phase2": "mlp"}),
    "muddy_rf": ("Muddyford_0005", {"phase2": "rf"}),
    "muddy_mlp_rf": ("Muddyford_0005", {"phase2": "mlp_rf"}),
    "thresh0": ("Clearwater_0006", {"recog_thresh": 0.0}),
    "thresh0.9": ("Clearwater_0006", {"recog_thresh": 0.9}),
    "thresh0.99": ("Clearwater_0006", {"recog_thresh": 0.99}),
}


def _html_table(cell) -> dict:
    """Return the DataFrame a cell displayed, read from its HTML output: {row name: {column: value}}."""
    from bs4 import BeautifulSoup

    html = next(o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {}))
    soup = BeautifulSoup(html, "html.parser")
    columns = [th.get_text(strip=True) for th in soup.find("thead").find("tr").find_all("th")][1:]
    rows = {}
    for tr in soup.find("tbody").find_all("tr"):
        name = tr.find("th").get_text(strip=True)
        rows[name] = {c: float(td.get_text(strip=True)) for c, td in zip(columns, tr.find_all("td"), strict=True)}
    return rows


def run_case(name, image, settings, run_dir: Path, out_root: Path) -> dict:
    import nbformat
    import papermill as pm

    out = out_root / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    params = {
        "data_dir": str(REPO / "sample_data" / "Validate"),
        "train_dir": str(REPO / "sample_data" / "Train"),
        "output_dir": str(out),
        "model_path": str(Path(run_dir).resolve() / "model"),
        "image": image,
        "widgets": False,
        **settings,
    }
    t0 = time.perf_counter()
    pm.execute_notebook(str(NOTEBOOK), str(out / NOTEBOOK.name), parameters=params, cwd=str(NOTEBOOK.parent), progress_bar=False)
    seconds = time.perf_counter() - t0
    nb = nbformat.read(out / NOTEBOOK.name, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "explore.MapExplorer(" in c.source)
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    f1 = _html_table(cell)
    browser = _html_table(next(c for c in nb.cells if c.cell_type == "code" and "explore.TileBrowser" in c.source))
    desc = text.strip().splitlines()[0] if text.strip() else ""
    nums = re.search(
        r"(\d+) tiles, (\d+) left unclassified.*?CNN tile map ([0-9.]+)% / ([0-9.]+)%, "
        r"final map ([0-9.]+)% / ([0-9.]+)%",
        desc,
    )
    final = next(k for k in next(iter(f1.values())) if k != "CNN")
    return {
        "f1": f1,
        "final": final,
        "tiles": int(nums[1]),
        "unclassified": int(nums[2]),
        "cnn_err": (float(nums[3]), float(nums[4])),
        "final_err": (float(nums[5]), float(nums[6])),
        "seconds": seconds,
        "description": desc,
        "browser": browser,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=str(REPO / "outputs" / "sample_demo"), help="a run folder with model/ (make demo)")
    ap.add_argument("--out", default=str(REPO / "outputs" / "workshop_check"))
    args = ap.parse_args(argv)
    run_dir = Path(args.run).resolve()
    if not (run_dir / "model").is_dir():
        raise SystemExit(f"no model in {run_dir / 'model'}: run `make demo` first (or pass --run)")
    print(f"{os.cpu_count()} CPU cores; model {run_dir / 'model'}; notebook {NOTEBOOK.name}")
    res = {}
    for name, (image, settings) in CASES.items():
        res[name] = run_case(name, image, settings, run_dir, Path(args.out))
        print(f"  ran {name:<11} ({image}, {settings}) in {res[name]['seconds']:.0f} s")

    def f1(case, cls, col=None):
        r = res[case]
        return r["f1"][cls][col or r["final"]]

    print("\nExercise 1: Clearwater_0005, mlp_rf; median_radius -> dry sediment F1, all classes F1")
    for r in (0, 2, 5, 9):
        c = f"radius{r}"
        print(f"  {r}: dry sediment {f1(c, 'dry sediment'):.3f}, all {f1(c, 'ALL (pixel-weighted)'):.3f}")
    c = "radius5"
    print("\nExercise 2: Clearwater_0005 (radius 5): CNN tile map vs final map, F1")
    print(
        f"  CNN all {f1(c, 'ALL (pixel-weighted)', 'CNN'):.3f} (dry sediment {f1(c, 'dry sediment', 'CNN'):.3f}, "
        f"senescent vegetation {f1(c, 'senescent vegetation', 'CNN'):.3f}); final {f1(c, 'ALL (pixel-weighted)'):.3f}"
    )
    print("\nExercise 3: Muddyford_0005: MLP vs RF vs both averaged (mlp_rf, the default), all classes F1")
    print(
        f"  MLP {f1('muddy_mlp', 'ALL (pixel-weighted)'):.3f}, RF {f1('muddy_rf', 'ALL (pixel-weighted)'):.3f}, "
        f"MLPRF {f1('muddy_mlp_rf', 'ALL (pixel-weighted)'):.3f}"
    )
    print("\nExercise 4: Clearwater_0006, mlp_rf; recog_thresh -> unclassified tiles, CNN F1, final F1")
    for t in ("0", "0.9", "0.99"):
        c = f"thresh{t}"
        r = res[c]
        print(
            f"  {t}: {r['unclassified']} of {r['tiles']} tiles, CNN {f1(c, 'ALL (pixel-weighted)', 'CNN'):.3f}, "
            f"final {f1(c, 'ALL (pixel-weighted)'):.3f}"
        )
    r = res["radius5"]
    print("\nExercise 5: Clearwater_0005 (radius 5): final-map errors by CNN confidence half")
    print(
        f"  labelled pixels wrong, less / more confident half of the tiles: CNN tile map {r['cnn_err'][0]:.2f}% / "
        f"{r['cnn_err'][1]:.2f}%, final map {r['final_err'][0]:.2f}% / {r['final_err'][1]:.2f}%"
    )
    print("\nExercise 7: the tile browser on the training tiles: per class, tiles, misclassified, mean confidence")
    for cls, b in res["radius5"]["browser"].items():
        print(
            f"  {cls}: {b['tiles']:.0f} tiles, {b['misclassified']:.0f} misclassified, mean confidence {b['mean_confidence']:.3f}"
        )
    print(f"\nExecuted notebooks: {args.out}/<case>/06_explore.ipynb")


if __name__ == "__main__":
    main()
