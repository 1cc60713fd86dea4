"""Where each notebook writes inside a run's ``output_dir``: one name per folder, used by the
notebooks, the package and the tests alike."""
from __future__ import annotations

__all__ = ["DATA_CHECK_DIR", "TUNING_DIR", "MODEL_DIR", "SSC_DIR", "REPORT_DIR", "MAP_DIR"]

DATA_CHECK_DIR = "data_check"   # 00: inventory, pixels and tiles per class, thumbnails
TUNING_DIR = "cnn_tuning"       # 01: training history, recommended epochs
MODEL_DIR = "model"             # 02: the CNN, its class key and model card
SSC_DIR = "ssc"                 # 03: per-image scores, figures, timings
REPORT_DIR = "report"           # 04: compiled table and figures
MAP_DIR = "map"                 # 05: class maps of surveys
