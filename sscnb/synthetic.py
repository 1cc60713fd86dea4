"""Synthetic nadir river scenes with exact labels: the project's own sample data.

Each scene is a top-down view of a meandering channel (textured water), gravel/sand bars on the
inside of bends and along the banks, green vegetation with a canopy texture, patches of senescent
(dry, yellow-brown) vegetation, and a paved road with a centre line. The label raster is exact
(it is what the picture was drawn from), except for a thin unlabelled band along class boundaries,
as in hand-drawn polygons.

Deterministic from a seed: ``make_scene(style, seed)`` always returns the same arrays.
:func:`write_sample_data` writes the ``sample_data/`` folder committed with the project (``sscnb
make-sample-data``): labelled folders, an orthomosaic and a new river with its labels CSV, so this
module stands above :mod:`sscnb.data` and :mod:`sscnb.labels`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import pandas as pd
import rasterio
import tifffile
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin
from scipy import ndimage as ndi

from sscnb.data import _tiles as _tiles
from sscnb.data._classes import ClassScheme
from sscnb.labels import MIXED, empty_labels, write_tile_labels

__all__ = [
    "RiverStyle",
    "STYLES",
    "NEW_RIVER_STYLES",
    "write_new_river",
    "make_scene",
    "make_orthomosaic",
    "write_orthomosaic",
    "write_ortho_reference",
    "write_sample_data",
    "ORTHO_CRS",
    "ORTHO_ORIGIN",
    "ORTHO_PIXEL_M",
]

WATER, SEDIMENT, GREEN, SENESCENT, ROAD = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class RiverStyle:
    """How one synthetic river looks (colours are RGB 0-255)."""

    name: str
    water: tuple
    water_texture: float  # amplitude of ripples / turbidity swirls
    sediment: tuple
    green: tuple
    senescent: tuple
    road: tuple
    channel_width: float  # px, mean
    label_form: str  # "underscore" -> SCLS_River_NNNN.tif, "plain" -> SCLS_RiverNNNN.tif


STYLES = {
    "Clearwater": RiverStyle(
        "Clearwater",
        water=(38, 92, 112),
        water_texture=14,
        sediment=(176, 166, 146),
        green=(58, 112, 48),
        senescent=(164, 142, 84),
        road=(104, 104, 108),
        channel_width=80,
        label_form="underscore",
    ),
    "Muddyford": RiverStyle(
        "Muddyford",
        water=(124, 108, 82),
        water_texture=8,
        sediment=(196, 184, 160),
        green=(70, 104, 44),
        senescent=(176, 150, 96),
        road=(96, 98, 100),
        channel_width=110,
        label_form="plain",
    ),
}

# A river the demo CNN never saw (notebook 07 adapts the CNN to it): late autumn, grey water, pale
# grey gravel, olive-brown canopy and a lot of dead grass.
NEW_RIVER_STYLES = {
    "Greyrun": RiverStyle(
        "Greyrun",
        water=(92, 98, 96),
        water_texture=10,
        sediment=(150, 146, 138),
        green=(84, 96, 52),
        senescent=(140, 118, 80),
        road=(88, 88, 90),
        channel_width=90,
        label_form="underscore",
    ),
}


def _noise(rng, shape, sigma, amp=1.0):
    """Smooth noise field, zero mean, unit-ish std times ``amp``."""
    n = ndi.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    s = n.std()
    return amp * n / (s if s > 0 else 1)


def _scene_classes(style: RiverStyle, rng, shape):
    """Return a scene's classes, with the distance from the channel's centre, its width and the road's axis."""
    H, W = shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    x = np.arange(W, dtype=np.float32)

    # -- geometry: meandering channel along x ---------------------------------------------
    wavelength = rng.uniform(0.7, 1.2) * W
    phase = rng.uniform(0, 2 * np.pi)
    amp = rng.uniform(0.10, 0.17) * H
    centre = H * rng.uniform(0.48, 0.58) + amp * np.sin(2 * np.pi * x / wavelength + phase)
    centre += 0.03 * H * np.sin(2 * np.pi * x / (wavelength / 2.7) + 1.3 * phase)
    width = style.channel_width * (1 + 0.18 * np.sin(2 * np.pi * x / (wavelength / 1.6) + phase))
    slope = np.gradient(centre)
    d = yy - centre[None, :]  # signed distance (vertical) from the centre line
    label = np.full(shape, GREEN, np.uint8)

    # bars: inside of bends (where the centre line curves), plus thin bank strips
    curv = np.gradient(slope)
    side = np.sign(curv)[None, :]  # +1: bar below the channel, -1: above
    bar_w = (np.abs(curv) / (np.abs(curv).max() + 1e-9)) * rng.uniform(80, 120) + 10
    bank = _noise(rng, shape, 6, 4)
    inside = (d * side > 0) & (np.abs(d) < width[None, :] / 2 + bar_w[None, :] + bank)
    outer_strip = np.abs(d) < width[None, :] / 2 + 6 + bank
    label[inside | outer_strip] = SEDIMENT
    water = np.abs(d) < width[None, :] / 2 + 0.6 * bank
    label[water] = WATER
    # a mid-channel bar now and then
    if rng.random() < 0.8:
        cx = rng.uniform(0.2, 0.8) * W
        cy = np.interp(cx, x, centre)
        ax_, ay_ = rng.uniform(70, 130), np.interp(cx, x, width) * 0.3
        bar = ((xx - cx) / ax_) ** 2 + ((yy - cy) / ay_) ** 2 + 0.15 * bank / 4 < 1
        label[bar] = SEDIMENT

    # senescent vegetation: blobs of a low-frequency field, away from the channel
    field = _noise(rng, shape, 28)
    sen = (field > rng.uniform(0.55, 0.85)) & (label == GREEN)
    label[sen] = SENESCENT

    # paved road: a straight band near the top or bottom edge, clear of the channel
    top = rng.random() < 0.5
    road_w = rng.uniform(88, 104)  # a wide road: enough for pure 50 px tiles
    y0 = road_w / 2 + rng.uniform(2, 12)
    road_y = (y0 if top else H - y0) + rng.uniform(-6, 6) * (x / W)
    road = np.abs(yy - road_y[None, :]) < road_w / 2
    label[road & (label != WATER)] = ROAD
    return label, d, width, road_y


def _paint_scene(style: RiverStyle, rng, label: np.ndarray, d: np.ndarray, width: np.ndarray, road_y: np.ndarray) -> np.ndarray:
    """Return the RGB image of a scene's classes: each class's colour and texture, and the light."""
    shape = label.shape
    H, W = shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    # -- paint -----------------------------------------------------------------------------
    img = np.zeros(shape + (3,), np.float32)
    light = 1 + 0.08 * (xx / W - 0.5) + 0.05 * _noise(rng, shape, 60)  # illumination

    def paint(mask, rgb, tex):
        img[mask] = np.asarray(rgb, np.float32) + tex[mask][:, None]

    ripples = style.water_texture * (
        0.6 * np.sin(0.35 * (yy + 0.4 * xx) + 3 * _noise(rng, shape, 8)) + 0.7 * _noise(rng, shape, 3)
    )
    depth = -18 * np.clip(1 - 2 * np.abs(d) / width[None, :], 0, 1)  # darker in the thalweg
    paint(label == WATER, style.water, ripples + depth)
    gravel = 22 * _noise(rng, shape, 0.8) + 10 * _noise(rng, shape, 4)
    paint(label == SEDIMENT, style.sediment, gravel)
    canopy = 26 * _noise(rng, shape, 2.5) + 10 * _noise(rng, shape, 10)
    paint(label == GREEN, style.green, canopy)
    grass = 16 * _noise(rng, shape, 1.2) + 8 * _noise(rng, shape, 12)
    paint(label == SENESCENT, style.senescent, grass)
    asphalt = 5 * _noise(rng, shape, 0.7)
    paint(label == ROAD, style.road, asphalt)
    # centre line: dashes on the road's axis
    dash = (np.abs(yy - road_y[None, :]) < 1.5) & ((xx // 18) % 2 == 0) & (label == ROAD)
    img[dash] = (225, 222, 200)

    # vegetation has colour variation between bushes, not only brightness
    hue = _noise(rng, shape, 6)
    veg = (label == GREEN) | (label == SENESCENT)
    img[..., 0][veg] += 8 * hue[veg]
    img *= light[..., None]
    image = np.clip(img, 0, 255).astype(np.uint8)
    return image


def make_scene(
    style: RiverStyle | str, seed: int, shape: tuple[int, ...] = (600, 900), boundary_px: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one synthetic river scene with its exact labels.

    Parameters
    ----------
    style : RiverStyle or str
        A style of :data:`STYLES` or its name.
    seed : int
    shape : (H, W)
    boundary_px : int, px
        Width of the unlabelled band along class boundaries.

    Returns
    -------
    image : (H, W, 3) ndarray of uint8
    label : (H, W) ndarray of uint8
    """
    if isinstance(style, str):
        style = {**STYLES, **NEW_RIVER_STYLES}[style]
    rng = np.random.default_rng(seed)
    label, d, width, road_y = _scene_classes(style, rng, shape)
    image = _paint_scene(style, rng, label, d, width, road_y)

    # -- labels: unlabelled band along class boundaries --------------------------------------
    if boundary_px > 0:
        size = 2 * boundary_px + 1
        edge = ndi.maximum_filter(label, size) != ndi.minimum_filter(label, size)
        label = label.copy()
        label[edge] = 0
    return image, label


ORTHO_CRS = "EPSG:32619"  # WGS 84 / UTM zone 19N (the St Marguerite river's zone)
ORTHO_ORIGIN = (431_250.0, 5_343_800.0)  # map coordinates (m) of the top-left corner
ORTHO_PIXEL_M = 0.05  # 5 cm pixels, a typical drone orthomosaic


def make_orthomosaic(
    seed: int, shape: tuple[int, ...] = (720, 960), style: str = "Clearwater"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return a synthetic orthomosaic: a scene with a no-data border around an irregular flown area.

    Parameters
    ----------
    seed : int
    shape : (H, W)
    style : str

    Returns
    -------
    rgba : (H, W, 4) ndarray of uint8
        Outside the flown area RGB and alpha are 0 (as Metashape, Pix4D and ODM write them).
    label : (H, W) ndarray of uint8
        0 outside the flown area.
    valid : (H, W) ndarray of bool
    """
    image, label = make_scene(style, seed, shape)
    H, W = shape
    rng = np.random.default_rng(seed + 1)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    # a flown area: a rotated, wobbly ellipse-like footprint that leaves corners and edges empty
    ang = rng.uniform(-0.35, 0.35)
    u = ((xx - W / 2) * np.cos(ang) + (yy - H / 2) * np.sin(ang)) / (0.47 * W)
    v = (-(xx - W / 2) * np.sin(ang) + (yy - H / 2) * np.cos(ang)) / (0.45 * H)
    wobble = _noise(rng, shape, 40, 0.05)
    valid = (np.abs(u) ** 4 + np.abs(v) ** 4) < 1 + wobble
    rgba = np.zeros(shape + (4,), np.uint8)
    rgba[..., :3] = np.where(valid[..., None], image, 0)
    rgba[..., 3] = np.where(valid, 255, 0)
    return rgba, np.where(valid, label, 0).astype(np.uint8), valid


def _ortho_profile(shape, count: int, **extra) -> dict:
    """Return the GeoTIFF profile of the sample orthomosaic's grid (UTM, 5 cm, tiled, DEFLATE)."""
    return dict(
        driver="GTiff",
        width=shape[1],
        height=shape[0],
        count=count,
        dtype="uint8",
        crs=ORTHO_CRS,
        transform=from_origin(*ORTHO_ORIGIN, ORTHO_PIXEL_M, ORTHO_PIXEL_M),
        compress="deflate",
        tiled=True,
        blockxsize=256,
        blockysize=256,
        **extra,
    )


def write_orthomosaic(path: str | Path, seed: int, shape: tuple[int, ...] = (720, 960), style: str = "Clearwater") -> Path:
    """Write :func:`make_orthomosaic` as an RGBA GeoTIFF in :data:`ORTHO_CRS` (tiled, DEFLATE).

    Parameters
    ----------
    path : str or Path
    seed : int
    shape : (H, W)
    style : str

    Returns
    -------
    Path
    """
    rgba, _, _ = make_orthomosaic(seed, shape, style)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = _ortho_profile(shape, count=4, predictor=2, photometric="RGB", alpha="YES")
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(np.moveaxis(rgba, -1, 0))
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    return path


def write_ortho_reference(path: str | Path, seed: int, shape: tuple[int, ...] = (720, 960), style: str = "Clearwater") -> Path:
    """Write the true classes of :func:`make_orthomosaic` as a single-band GeoTIFF on its grid.

    0 outside the flown area: the reference of notebook 08's accuracy assessment.

    Parameters
    ----------
    path : str or Path
    seed : int
    shape : (H, W)
    style : str

    Returns
    -------
    Path
    """
    _, label, _ = make_orthomosaic(seed, shape, style)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = _ortho_profile(shape, count=1, nodata=0)
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(label, 1)
    return path


def write_sample_data(
    out_dir: str | Path,
    seed: int = 2026,
    n_train: int = 4,
    n_validate: int = 2,
    shape: tuple[int, ...] = (600, 900),
    force: bool = False,
    quality: int = 90,
) -> list[Path]:
    """Write the sample data.

    ``Train/`` and ``Validate/`` for every style in :data:`STYLES`, the new river of notebook 07
    (:func:`write_new_river`), the orthomosaic ``Survey/Clearwater_ortho.tif`` and its true classes
    ``Reference/Clearwater_ortho_labels.tif`` (notebook 08).

    Images are JPEGs (quality 90), labels single-band uint8 TIFFs (deflate-compressed).

    Parameters
    ----------
    out_dir : str or Path
    seed : int
    n_train, n_validate : int
        Images per river.
    shape : (H, W)
    force : bool
        Write into a folder that already holds images.
    quality : int
        JPEG quality.

    Returns
    -------
    list of Path
    """
    out_dir = Path(out_dir)
    existing = [p for p in out_dir.rglob("*") if p.suffix.lower() in (".jpg", ".tif")] if out_dir.exists() else []
    if existing and not force:
        raise FileExistsError(
            f"{out_dir} already holds {len(existing)} image/label files: pass force=True (--force) to regenerate them"
        )
    written = []
    manifest: dict[str, Any] = {
        "generator": "sscnb.data.write_sample_data",
        "seed": seed,
        "shape": list(shape),
        "images": [],
    }
    for si, (name, style) in enumerate(STYLES.items()):
        for k in range(n_train + n_validate):
            split = "Train" if k < n_train else "Validate"
            number = f"{k + 1:04d}"
            s = seed * 1000 + si * 100 + k
            image, label = make_scene(style, s, shape)
            folder = out_dir / split
            folder.mkdir(parents=True, exist_ok=True)
            ip = folder / f"{name}_{number}.jpg"
            lstem = f"SCLS_{name}_{number}" if style.label_form == "underscore" else f"SCLS_{name}{number}"
            lp = folder / f"{lstem}.tif"
            iio.imwrite(ip, image, quality=quality)
            tifffile.imwrite(lp, label, compression="zlib")
            written += [ip, lp]
            manifest["images"].append(
                {"image": f"{split}/{ip.name}", "label": f"{split}/{lp.name}", "river": name, "scene_seed": s}
            )
    written += write_new_river(out_dir / "NewRiver", seed, shape=shape, quality=quality)
    manifest["new_river"] = {"folder": "NewRiver", "river": "Greyrun", "labels": "NewRiver/tile_labels.csv"}
    ortho_seed = seed * 1000 + 900
    op = write_orthomosaic(out_dir / "Survey" / "Clearwater_ortho.tif", ortho_seed)
    rp = write_ortho_reference(out_dir / "Reference" / "Clearwater_ortho_labels.tif", ortho_seed)
    written += [op, rp]
    manifest["orthomosaic"] = {
        "image": f"Survey/{op.name}",
        "river": "Clearwater",
        "scene_seed": ortho_seed,
        "crs": ORTHO_CRS,
        "pixel_m": ORTHO_PIXEL_M,
        "reference": f"Reference/{rp.name}",
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return written


def write_new_river(
    folder: str | Path,
    seed: int = 2026,
    n_images: int = 2,
    shape: tuple[int, ...] = (600, 900),
    quality: int = 90,
    n_labels: int = 40,
    tile_size: int = 50,
) -> list[Path]:
    """Return the new river of notebook 07.

    Images of :data:`NEW_RIVER_STYLES` with their label rasters (to score the maps before and after adapting),
    and ``tile_labels.csv``: ``n_labels`` tiles of the first image labelled as a user would label them in the
    tile labeller's diverse order (each tile's class read from the label raster): one tile of each class in
    turn, drawn at random, and now and then a "mixed" one (not 90% one class).

    Parameters
    ----------
    folder : str or Path
    seed : int
    n_images : int
    shape : (H, W)
    quality : int
    n_labels : int
    tile_size : int, px

    Returns
    -------
    list of Path
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written, first = [], None
    for si, (name, style) in enumerate(NEW_RIVER_STYLES.items()):
        for k in range(n_images):
            image, label = make_scene(style, seed * 1000 + 500 + si * 100 + k, shape)
            ip, lp = folder / f"{name}_{k + 1:04d}.jpg", folder / f"SCLS_{name}_{k + 1:04d}.tif"
            iio.imwrite(ip, image, quality=quality)
            tifffile.imwrite(lp, label, compression="zlib")
            written += [ip, lp]
            if first is None:
                first = (ip.stem, label)
    if first is None:
        raise ValueError(f"n_images={n_images}: the new river needs at least one image")
    name, label = first
    codes = _tiles.purity_labels(label, tile_size, ClassScheme.default().labelled_codes, 0.9)
    grid = _tiles.grid_shape(label.shape, tile_size)
    rng = np.random.default_rng(seed)
    pools = [list(rng.permutation(np.flatnonzero(codes == c))) for c in np.unique(codes)]  # class 0 = mixed
    picked: list[int] = []
    while len(picked) < n_labels and any(pools):
        for k, pool in enumerate(pools):
            if pool and (k > 0 or len(picked) % 8 == 7) and len(picked) < n_labels:
                picked.append(pool.pop())
    pick = np.asarray(picked, np.int64)

    table = pd.concat(
        [
            empty_labels(),
            pd.DataFrame(
                {
                    "image": name,
                    "tile_row": pick // grid[1],
                    "tile_col": pick % grid[1],
                    "class_code": np.where(codes[pick] > 0, codes[pick], MIXED),
                }
            ),
        ],
        ignore_index=True,
    )
    written.append(write_tile_labels(folder / "tile_labels.csv", table, tile_size))
    return written
