"""Widgets to explore and teach the method in JupyterLab (ipywidgets), each with a static figure.

* :class:`MapExplorer`: pick an image (classified on the spot, or read from the results of
  notebook 03 or the maps of notebook 05); layers RGB, validation labels, CNN tile map, final map,
  CNN confidence, errors (final map against the labels); opacity; zoom to a region; the image's
  per-class F1.
* :class:`TileBrowser`: the tiles of a labelled folder per class, with the CNN's predicted class
  and confidence, and a filter for the misclassified ones.
* :class:`Phase2Playground`: one image, the phase-2 settings as controls and a Run button that
  redoes phase 2 in seconds and shows the new map and its F1 beside the previous run's.

Every tool also draws a static matplotlib figure of its current state (:meth:`figure`), which is
what a notebook run by papermill shows (:func:`show_tool`): a widget never waits for input, so
batch runs never hang. The computation is :func:`sscnb.ssc.classify_image`, :mod:`sscnb.assess`
and :func:`sscnb.cnn.predict_codes`; the tools only hold state and draw.
"""

from __future__ import annotations

from sscnb.explore._display import run_by_papermill, show_tool
from sscnb.explore._mapexplorer import MapExplorer
from sscnb.explore._playground import Phase2Playground
from sscnb.explore._result import compute_image_result, layer_rgb
from sscnb.explore._tilebrowser import TileBrowser
from sscnb.imageresult import LAYERS, ImageResult, tiles_on_grid

__all__ = [
    "LAYERS",
    "ImageResult",
    "compute_image_result",
    "layer_rgb",
    "tiles_on_grid",
    "MapExplorer",
    "TileBrowser",
    "Phase2Playground",
    "show_tool",
    "run_by_papermill",
]
