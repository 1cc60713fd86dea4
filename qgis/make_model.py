"""Build qgis/models/adapt_then_map.model3: a graphical model that adapts a model to polygons, then maps with it.

Run with QGIS's Python (Debian: ``/usr/bin/python3 qgis/make_model.py``); open the result in QGIS's
Graphical Modeler, or run it with ``qgis_process run qgis/models/adapt_then_map.model3 -- ...``.
The adapted model's path (sscnb:adapt's output MODEL) is the Model of sscnb:map.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, "/usr/share/qgis/python/plugins")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsProcessing,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterEnum,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterVectorLayer,
)
from qgis.PyQt.QtCore import QPointF  # noqa: E402

app = QgsApplication([], False)
app.initQgis()
from processing.core.Processing import Processing  # noqa: E402

Processing.initialize()
from sscnb_qgis.provider import SscnbProvider  # noqa: E402

provider = SscnbProvider()  # kept: the registry holds no Python reference
QgsApplication.processingRegistry().addProvider(provider)

model = QgsProcessingModelAlgorithm("Adapt to polygons, then map", "River classification", "sscnb")
model.setHelpContent(
    {
        "ALG_DESC": "Adapts a model to polygons drawn over a new river's images, then maps rasters with it; "
        "phase 2 learns from the same polygons."
    }
)
params = [
    QgsProcessingParameterMultipleLayers("images", "The new river's images", QgsProcessing.TypeRaster),
    QgsProcessingParameterVectorLayer("polygons", "Labelled polygons (class_code)", [QgsProcessing.TypeVectorPolygon]),
    QgsProcessingParameterEnum("parent", "Shipped parent model", ["rivers", "rivers_compact"], defaultValue=0),
    QgsProcessingParameterNumber("epochs", "Epochs", defaultValue=10, minValue=1),
    QgsProcessingParameterMultipleLayers("rasters", "Rasters to map with the adapted model", QgsProcessing.TypeRaster),
]
for i, p in enumerate(params):  # inputs in a column on the left of the Modeler's canvas
    component = QgsProcessingModelParameter(p.name())
    component.setPosition(QPointF(120, 80 + 90 * i))
    model.addModelParameter(p, component)


def child(child_id, alg, sources, outputs, x):
    """Add the step ``child_id`` running ``alg`` with its inputs' ``sources``, its ``outputs`` named as the model's."""
    c = QgsProcessingModelChildAlgorithm(alg)
    c.setPosition(QPointF(x, 260))
    c.setChildId(child_id)
    c.setDescription(child_id)
    for name, src in sources.items():
        c.addParameterSources(name, [src])
    for name, label in outputs.items():
        out = QgsProcessingModelOutput(label)
        out.setChildOutputName(name)
        out.setChildId(child_id)
        out.setPosition(QPointF(x + 60, 380))
        c.setModelOutputs({**c.modelOutputs(), label: out})
    model.addChildAlgorithm(c)


param = QgsProcessingModelChildParameterSource.fromModelParameter
static = QgsProcessingModelChildParameterSource.fromStaticValue
child(
    "adapt",
    "sscnb:adapt",
    {
        "IMAGES": param("images"),
        "POLYGONS": param("polygons"),
        "SHIPPED": param("parent"),
        "EPOCHS": param("epochs"),
        "CLASS_FIELD": static("class_code"),
        "REPLAY": static(0.2),
        "NAME": static("cnn_adapted"),
        "OVERWRITE": static(False),
    },
    {"OUTPUT": "Adapted model folder"},
    420,
)
child(
    "map",
    "sscnb:map",
    {
        "INPUT": param("rasters"),
        "MODEL": QgsProcessingModelChildParameterSource.fromChildOutput("adapt", "MODEL"),
        "LABELS": param("polygons"),
        "CLASS_FIELD": static("class_code"),
        "PHASE2": static(0),
        "FEATURES": static(0),
        "SHIPPED": static(0),
        "VECTORS": static(True),
        "OVERWRITE": static(False),
    },
    {"OUTPUT": "Maps folder"},
    720,
)
problems = [] if model.validate()[0] else model.validate()[1]
if problems:
    sys.exit("the model does not validate: " + "; ".join(problems))
out = HERE / "models" / "adapt_then_map.model3"
out.parent.mkdir(exist_ok=True)
model.toFile(str(out))
print(f"wrote {out}")
