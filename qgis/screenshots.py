"""Run inside QGIS (``qgis --code qgis/screenshots.py``): map a survey with the sscnb plugin and photograph it.

What a user sees: the "Map a survey" dialog filled in, then QGIS's window with the final map (in
its sscnb style), the CNN map, the confidence and the polygons loaded over the image. Used by
tests/test_qgis.py under Xvfb and for the pictures of docs/qgis.md. Reads its settings from the
environment: ``SSCNB_SHOT_INPUT`` (a raster), ``SSCNB_SHOT_MODEL`` (a ``.keras`` file, or empty
for the shipped ``rivers_compact``), ``SSCNB_SHOT_OUT`` (the output folder; the pictures go to its
``screenshots/``). QGIS exits when done, with status 0, or 1 after writing what went wrong to
``screenshots/error.txt``.
"""

import os
import traceback
from pathlib import Path

import processing
from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.utils import iface

INPUT = os.environ["SSCNB_SHOT_INPUT"]
MODEL = os.environ.get("SSCNB_SHOT_MODEL", "")
OUT = Path(os.environ["SSCNB_SHOT_OUT"])
SHOTS = OUT / "screenshots"
SHOTS.mkdir(parents=True, exist_ok=True)
PARAMS = {"INPUT": [INPUT], "MODEL": MODEL, "SHIPPED": 1, "VECTORS": True, "OUTPUT": str(OUT / "maps")}


def guarded(step):
    """Run ``step``; on an error, write it down and leave QGIS with status 1."""

    def run():
        try:
            step()
        except Exception:  # noqa: BLE001 - whatever it is goes to error.txt for the test to show
            (SHOTS / "error.txt").write_text(traceback.format_exc())
            os._exit(1)  # QGIS 3.22 can crash while it tears itself down: leave at once

    return run


def open_dialog():
    """Open the algorithm's dialog as a user does from the toolbox, filled in."""
    iface.mainWindow().resize(1400, 900)
    image = QgsRasterLayer(INPUT, Path(INPUT).stem)
    QgsProject.instance().addMapLayer(image)
    dialog = processing.createAlgorithmDialog("sscnb:map", PARAMS)
    dialog.resize(900, 700)
    dialog.show()
    QTimer.singleShot(2500, guarded(lambda: photograph_dialog(dialog)))


def photograph_dialog(dialog):
    """Keep the dialog's picture, close it, and map the survey as its Run button does."""
    dialog.grab().save(str(SHOTS / "qgis_map_dialog.png"))
    dialog.close()
    processing.runAndLoadResults("sscnb:map", PARAMS)
    QTimer.singleShot(1000, guarded(show_map))


def show_map():
    """Show the final map over the image, the other layers hidden, zoomed to the survey."""
    root = QgsProject.instance().layerTreeRoot()
    for layer in QgsProject.instance().mapLayers().values():
        node = root.findLayer(layer.id())
        if node is not None:
            node.setItemVisibilityChecked("class map" in layer.name() or layer.name() == Path(INPUT).stem)
    iface.mapCanvas().zoomToFullExtent()
    iface.mapCanvas().refreshAllLayers()
    QTimer.singleShot(4000, guarded(photograph_window))


def photograph_window():
    """Keep QGIS's window with the map loaded, and leave."""
    iface.mainWindow().grab().save(str(SHOTS / "qgis_map_loaded.png"))
    layers = QgsProject.instance().mapLayers().values()
    rows = sorted(f"{layer.name()}\t{layer.renderer().type() if hasattr(layer, 'renderer') else ''}" for layer in layers)
    (SHOTS / "layers.txt").write_text("\n".join(rows) + "\n")  # each layer and how it is drawn
    os._exit(0)


QTimer.singleShot(3000, guarded(open_dialog))
