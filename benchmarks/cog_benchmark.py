"""COG benchmark: the time and memory of finishing a class map as a COG, by the number of threads.

    python benchmarks/cog_benchmark.py                      # 1, 2, 4, 8 and 16 threads
    python benchmarks/cog_benchmark.py --threads 4 16 --repeat 3

Each run is a fresh process that writes the map window by window with ``sscnb.maps.ClassMapWriter``
and finishes it as ``sscnb map`` does (overviews by mode, DEFLATE), with ``SSCNB_THREADS`` and
``COG_THREADS`` set to the thread count, under the map command's two malloc arenas. It prints the
seconds the COG took and the peak resident memory above the process's own before it. The map is the
final map of ``benchmarks/map_benchmark.py`` (run that first: default
outputs/benchmarks/map_12000_mlp/stmarg_mosaic_12000_bench_MLP.tif), or any class-map GeoTIFF.
sscnb makes its COGs on at most ``sscnb.maps.COG_THREADS`` threads, as GDAL's overviews take
memory per thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ONE_RUN = """
import json, resource, sys, time
import rasterio
from rasterio.windows import Window
from sscnb.data import _geo as geo  # noqa: E402
from sscnb.maps import _files as mapfiles  # noqa: E402
from sscnb.data._classes import ClassScheme  # noqa: E402

src, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
mapfiles.COG_THREADS = threads
raster = geo.georeferencing_of(src)
with rasterio.open(src) as ds:
    codes = ds.read(1)

def rss_mib():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024

with rasterio.Env(GDAL_CACHEMAX=256, GDAL_NUM_THREADS=str(threads)):
    with mapfiles.ClassMapWriter(out, raster, ClassScheme.default()) as w:
        for y0 in range(0, codes.shape[0], 1024):
            block = codes[y0 : y0 + 1024]
            w.write(Window(0, y0, block.shape[1], block.shape[0]), block)
        base = rss_mib()
        t0 = time.perf_counter()
    seconds = time.perf_counter() - t0  # the COG is made as the writer closes
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "above_mib": peak - base}))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--map", default=str(ROOT / "outputs/benchmarks/map_12000_mlp/stmarg_mosaic_12000_bench_MLP.tif"), help="a class map"
    )
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--work", default=str(ROOT / "outputs/benchmarks/cog"), help="where the COGs are written")
    a = ap.parse_args(argv)
    src = Path(a.map)
    if not src.exists():
        sys.exit(f"{src} not found: make it with python benchmarks/map_benchmark.py, or pass --map")
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    import rasterio

    from sscnb.maps._files import COG_THREADS

    with rasterio.open(src) as ds:
        print(f"machine: {os.cpu_count()} CPU cores; GDAL {rasterio.__gdal_version__}; sscnb's COG_THREADS = {COG_THREADS}")
        print(f"map: {src} ({ds.width} x {ds.height} px)")
    for n in a.threads:
        runs = []
        for i in range(a.repeat):
            out = work / f"cog_{n}_{i}.tif"
            env = dict(os.environ, SSCNB_THREADS=str(n), MALLOC_ARENA_MAX="2", PYTHONPATH=str(ROOT))
            proc = subprocess.run(
                [sys.executable, "-c", ONE_RUN, str(src), str(out), str(n)], capture_output=True, text=True, env=env
            )
            if proc.returncode:
                sys.exit(f"the run with {n} threads failed:\n{proc.stderr[-3000:]}")
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            out.unlink()
        secs = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        mem = ", ".join(f"{r['above_mib']:.0f}" for r in runs)
        print(f"{n:>3} threads: COG made in {secs} s; peak memory above the process's own: {mem} MiB")


if __name__ == "__main__":
    main()
