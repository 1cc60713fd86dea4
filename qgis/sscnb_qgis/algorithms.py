"""The sscnb Processing algorithms: each one builds an ``sscnb`` command line, runs it, and loads what it wrote.

- ``sscnb:map``: map a survey (``sscnb map``), load the final map with its style, the CNN map, the
  CNN's confidence and the polygons;
- ``sscnb:adapt``: adapt a model to polygons drawn over a new river's images (``sscnb adapt``);
  its output MODEL is the adapted model's path, which ``sscnb:map`` takes in a graphical model;
- ``sscnb:sample``: draw a stratified accuracy sample of a map (``sscnb assess --n``): a point
  layer whose ``reference_class`` you fill in its attribute table;
- ``sscnb:estimate``: class areas and accuracies with 95% intervals from the filled points
  (``sscnb assess --points``), as a table layer.

Every input is checked before sscnb starts: a bad one is one error in the log, and nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

from processing.core.ProcessingConfig import ProcessingConfig
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputFile,
    QgsProcessingOutputFolder,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
    QgsRendererCategory,
    QgsSymbol,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

from .sscnb_command import FEATURES, PHASE2, SETTING, SHIPPED, SscnbCommandError, check_command, find_command, run_sscnb


class SscnbAlgorithm(QgsProcessingAlgorithm):
    """What the four algorithms share: the command, its run, its inputs as files, its outputs loaded."""

    NAME = ""
    LABEL = ""
    HELP = ""

    def createInstance(self):
        return type(self)()

    def name(self) -> str:
        return self.NAME

    def displayName(self) -> str:
        return self.LABEL

    def group(self) -> str:
        return "River classification"

    def groupId(self) -> str:
        return "river"

    def shortHelpString(self) -> str:
        return self.HELP

    def flags(self):
        # run in QGIS's main thread: the dialog's progress updates let its Cancel button through (sscnb
        # works in its own process either way)
        return super().flags() | QgsProcessingAlgorithm.FlagNoThreading

    # -- running sscnb ---------------------------------------------------------------------------
    def _command(self, feedback) -> list[str]:
        try:
            command = find_command(ProcessingConfig.getSetting(SETTING) or "")
            feedback.pushInfo(f"{check_command(command)}: {' '.join(command)}")
        except SscnbCommandError as exc:
            raise QgsProcessingException(str(exc)) from None
        return command

    def _run(self, command: list[str], args: list[str], feedback) -> list[str]:
        feedback.pushCommandInfo(" ".join([*command, *args]))

        shown = [""]

        def progress(desc: str, pct: int) -> None:
            if desc != shown[0]:  # each bar's name once, its percentage in the bar
                feedback.setProgressText(desc)
                shown[0] = desc
            feedback.setProgress(pct)

        def warning(line: str) -> None:
            line = line.removeprefix("warning:").strip()
            feedback.pushWarning(line) if hasattr(feedback, "pushWarning") else feedback.reportError(line)

        try:
            return run_sscnb(
                command,
                args,
                on_progress=progress,
                on_text=feedback.pushConsoleInfo,
                on_warning=warning,
                is_cancelled=feedback.isCanceled,
            )
        except SscnbCommandError as exc:
            raise QgsProcessingException(str(exc)) from None

    def _model(self, parameters, name: str, context) -> str:
        """Return the model file chosen, or the name of the shipped one (``SHIPPED``) where none is."""
        return self.parameterAsFile(parameters, name, context) or SHIPPED[self.parameterAsEnum(parameters, "SHIPPED", context)]

    # -- inputs as files ---------------------------------------------------------------------------
    def _raster_files(self, parameters, name: str, context) -> list[str]:
        layers = self.parameterAsLayerList(parameters, name, context)
        if not layers:
            raise QgsProcessingException(f"{name}: choose at least one raster layer")
        return [self._raster_file(layer, name) for layer in layers]

    @staticmethod
    def _raster_file(layer, name: str) -> str:
        source = layer.source().split("|")[0]
        if layer.providerType() != "gdal" or not Path(source).is_file():
            raise QgsProcessingException(
                f"{name}: the layer {layer.name()} is not a raster file ({layer.source()}): sscnb reads "
                "image files; save the layer as a GeoTIFF (Export > Save As) and choose that"
            )
        return source

    def _vector_file(self, parameters, name: str, field_name: str, default: str, context, feedback) -> tuple[str, str]:
        """Return the layer as a file sscnb reads (exported to a GeoPackage where it is not one), and its class field."""
        layer = self.parameterAsVectorLayer(parameters, name, context)
        if layer is None:
            raise QgsProcessingException(f"{name}: choose a vector layer")
        # its CRS is checked by sscnb against each image's (a plain image's polygons are in pixels, with none)
        if layer.isEditable() and layer.isModified():
            raise QgsProcessingException(f"{name}: the layer {layer.name()} has unsaved edits: save them first")
        field = self.parameterAsString(parameters, field_name, context) or default
        if layer.fields().indexOf(field) < 0:
            have = ", ".join(layer.fields().names())
            raise QgsProcessingException(f"{field_name}: the layer {layer.name()} has no field {field!r} (it has: {have})")
        path = self.parameterAsCompatibleSourceLayerPath(parameters, name, context, ["gpkg", "shp", "csv"], "gpkg", feedback)
        return path.split("|")[0], field

    @staticmethod
    def _load(context, path: str, name: str, output: str, style: str | None = None) -> None:
        """Load ``path`` into the project when the algorithm is done, in sscnb's style.

        ``style`` is the ``.qml`` that sscnb wrote for a class map (default: the one beside ``path``); a
        polygon layer is drawn by class in that map's colours.
        """
        if context.project() is not None:
            details = QgsProcessingContext.LayerDetails(name, context.project(), output)
            details.forceName = True  # "Clearwater_ortho: class map", whatever QGIS's setting for file names says
            qml = Path(style or Path(path.split("|")[0]).with_suffix(".qml"))
            if qml.is_file():
                details.setPostProcessor(StyleLoader.create(str(qml)))
            context.addLayerToLoadOnCompletion(path, details)


def class_renderer(qml: str, layer) -> QgsCategorizedSymbolRenderer:
    """Return a renderer that draws polygons by their ``code`` in the colours and names of a class map's ``.qml``."""
    categories = []
    for entry in ElementTree.parse(qml).iter("paletteEntry"):
        symbol = QgsSymbol.defaultSymbol(layer.geometryType())
        symbol.setColor(QColor(entry.get("color")))
        categories.append(QgsRendererCategory(int(entry.get("value", "0")), symbol, entry.get("label")))
    return QgsCategorizedSymbolRenderer("code", categories)


class StyleLoader(QgsProcessingLayerPostProcessorInterface):
    """Give a layer loaded by Processing the style sscnb wrote for it (Processing loads none by itself)."""

    _alive: list = []  # Processing keeps no reference to a post-processor: these are kept until used

    def __init__(self, qml: str) -> None:
        super().__init__()
        self.qml = qml

    @classmethod
    def create(cls, qml: str) -> StyleLoader:
        """Return a post-processor that loads ``qml``, kept alive until it has run."""
        loader = cls(qml)
        cls._alive.append(loader)
        return loader

    def postProcessLayer(self, layer, context, feedback) -> None:
        if isinstance(layer, QgsVectorLayer):
            layer.setRenderer(class_renderer(self.qml, layer))
        else:
            message, ok = layer.loadNamedStyle(self.qml)
            if not ok:
                feedback.reportError(f"{self.qml}: {message}")
        layer.triggerRepaint()
        if self in self._alive:
            self._alive.remove(self)


class MapSurvey(SscnbAlgorithm):
    """``sscnb map``."""

    NAME, LABEL = "map", "Map a survey"
    HELP = (
        "Classifies each raster (an image or an orthomosaic of any size) with a CNN and a phase-2 pixel classifier "
        "trained on that raster, as `sscnb map` does: a class map (Cloud-Optimized GeoTIFF with its QGIS style), "
        "the CNN's tile map and confidence, areas per class and, optionally, polygons. "
        "Model: a .keras file saved by sscnb (notebook 02 or Adapt), or empty for a model shipped with sscnb. "
        "Labels (optional): polygons you drew over the rasters; phase 2 learns from them. "
        "A raster already mapped in the output folder with the same settings is kept (run again to resume); "
        "Overwrite redoes it."
    )

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterMultipleLayers("INPUT", "Rasters to map", QgsProcessing.TypeRaster))
        self.addParameter(
            QgsProcessingParameterFile(
                "MODEL", "Model (.keras; empty: a shipped model)", fileFilter="Keras model (*.keras)", optional=True
            )
        )
        self.addParameter(QgsProcessingParameterEnum("SHIPPED", "Shipped model (when Model is empty)", SHIPPED, defaultValue=0))
        self.addParameter(
            QgsProcessingParameterEnum("PHASE2", "Phase 2 pixel classifier", PHASE2, defaultValue=PHASE2.index("mlp_rf"))
        )
        self.addParameter(QgsProcessingParameterEnum("FEATURES", "Phase 2 features", FEATURES, defaultValue=0))
        self.addParameter(
            QgsProcessingParameterVectorLayer(
                "LABELS", "Your labels: polygons over the rasters (optional)", [QgsProcessing.TypeVectorPolygon], optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterField("CLASS_FIELD", "Class field of the labels", "class_code", "LABELS", optional=True)
        )
        self.addParameter(QgsProcessingParameterBoolean("VECTORS", "Also write polygons per class", defaultValue=True))
        self.addParameter(QgsProcessingParameterBoolean("OVERWRITE", "Overwrite maps made before", defaultValue=False))
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "Output folder"))
        self.addOutput(QgsProcessingOutputRasterLayer("FINAL_MAP", "Class map (of the first raster)"))
        self.addOutput(QgsProcessingOutputRasterLayer("CNN_MAP", "CNN tile map (of the first raster)"))
        self.addOutput(QgsProcessingOutputRasterLayer("CONFIDENCE", "CNN confidence (of the first raster)"))
        self.addOutput(QgsProcessingOutputVectorLayer("POLYGONS", "Polygons (of the first raster)"))
        self.addOutput(QgsProcessingOutputFile("AREAS", "Areas per class, CSV (of the first raster)"))
        self.addOutput(QgsProcessingOutputMultipleLayers("FINAL_MAPS", "Class maps"))

    def processAlgorithm(self, parameters, context, feedback):
        rasters = self._raster_files(parameters, "INPUT", context)
        model = self._model(parameters, "MODEL", context)
        out = self.parameterAsString(parameters, "OUTPUT", context)
        args = ["map", "--model", model, "--out", out]
        args += ["--phase2", PHASE2[self.parameterAsEnum(parameters, "PHASE2", context)]]
        args += ["--features", FEATURES[self.parameterAsEnum(parameters, "FEATURES", context)]]
        if self.parameterAsVectorLayer(parameters, "LABELS", context) is not None:
            labels, field = self._vector_file(parameters, "LABELS", "CLASS_FIELD", "class_code", context, feedback)
            args += ["--labels", labels, "--class-field", field]
        if self.parameterAsBool(parameters, "VECTORS", context):
            args.append("--vectors")
        if self.parameterAsBool(parameters, "OVERWRITE", context):
            args.append("--overwrite")
        command = self._command(feedback)
        self._run(command, [*args, *rasters], feedback)
        results = {"OUTPUT": out, "FINAL_MAPS": []}
        for i, raster in enumerate(rasters):
            files = map_outputs(out, raster)
            stem = Path(raster).stem
            results["FINAL_MAPS"].append(files["final"])
            self._load(context, files["final"], f"{stem}: class map", "FINAL_MAP")
            self._load(context, files["cnn"], f"{stem}: CNN tile map", "CNN_MAP")
            self._load(context, files["confidence"], f"{stem}: CNN confidence", "CONFIDENCE")
            if "vectors" in files:
                polygons = files["vectors"] + "|layername=classes"
                self._load(context, polygons, f"{stem}: polygons", "POLYGONS", style=files["final"][:-4] + ".qml")
            if i == 0:
                results.update(FINAL_MAP=files["final"], CNN_MAP=files["cnn"], CONFIDENCE=files["confidence"])
                results.update(POLYGONS=files.get("vectors"), AREAS=files["areas"])
        return results


def map_outputs(folder: str, raster: str) -> dict[str, str]:
    """Return the files ``sscnb map`` wrote for ``raster`` in ``folder``, read from its manifest."""
    want = Path(raster).resolve()
    for manifest in sorted(Path(folder).glob("*.json")):
        try:
            doc = json.loads(manifest.read_text())
            found = Path(doc["recipe"]["input"]["path"]).resolve() == want and doc.get("experiment") == "map"
        except (ValueError, KeyError, TypeError, OSError):
            continue
        if found:
            return {key: str(Path(folder) / name) for key, name in doc["outputs"].items()}
    raise QgsProcessingException(f"sscnb map wrote no manifest for {raster} in {folder}")


class AdaptToPolygons(SscnbAlgorithm):
    """``sscnb adapt``."""

    NAME, LABEL = "adapt", "Adapt a model to labelled polygons"
    HELP = (
        "Fine-tunes a CNN on a new river from polygons you drew over its images (a class field holding sscnb's class "
        "codes: 1 water, 2 dry sediment, 3 green vegetation, 4 senescent vegetation, 5 paved road), with a sample of "
        "the parent's training tiles replayed, as `sscnb adapt` does. Output: the adapted model (.keras with its class "
        "key and card), which Map a survey takes as its Model."
    )

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterMultipleLayers("IMAGES", "The new river's images", QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterVectorLayer("POLYGONS", "Labelled polygons", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterField("CLASS_FIELD", "Class field", "class_code", "POLYGONS", optional=True))
        self.addParameter(
            QgsProcessingParameterFile(
                "PARENT", "Parent model (.keras; empty: a shipped model)", fileFilter="Keras model (*.keras)", optional=True
            )
        )
        self.addParameter(QgsProcessingParameterEnum("SHIPPED", "Shipped parent (when Parent is empty)", SHIPPED, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber("EPOCHS", "Epochs", defaultValue=10, minValue=1))
        self.addParameter(
            QgsProcessingParameterNumber(
                "REPLAY",
                "Parent tiles replayed (a fraction 0-1, or a count)",
                QgsProcessingParameterNumber.Double,
                0.2,
                minValue=0,
            )
        )
        self.addParameter(QgsProcessingParameterString("NAME", "File name of the adapted model", "cnn_adapted"))
        self.addParameter(QgsProcessingParameterBoolean("OVERWRITE", "Replace an adapted model of that name", defaultValue=False))
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "Output folder"))
        self.addOutput(QgsProcessingOutputFile("MODEL", "Adapted model"))
        self.addOutput(QgsProcessingOutputFolder("OUTPUT", "Output folder"))

    def processAlgorithm(self, parameters, context, feedback):
        images = self._raster_files(parameters, "IMAGES", context)
        polygons, field = self._vector_file(parameters, "POLYGONS", "CLASS_FIELD", "class_code", context, feedback)
        parent = self._model(parameters, "PARENT", context)
        replay = self.parameterAsDouble(parameters, "REPLAY", context)
        out = self.parameterAsString(parameters, "OUTPUT", context)
        args = ["adapt", "--model", parent, "--labels", polygons, "--class-field", field, "--out", out]
        args += ["--epochs", str(self.parameterAsInt(parameters, "EPOCHS", context))]
        args += ["--replay", str(int(replay)) if replay >= 1 else str(replay)]
        args += ["--name", self.parameterAsString(parameters, "NAME", context)]
        if self.parameterAsBool(parameters, "OVERWRITE", context):
            args.append("--overwrite")
        printed = self._run(self._command(feedback), [*args, *images], feedback)
        model = printed[-1].strip() if printed else ""
        if not Path(model).exists():
            raise QgsProcessingException(f"sscnb adapt finished without naming its model (last line: {model!r})")
        return {"MODEL": model, "OUTPUT": out}


class DrawSample(SscnbAlgorithm):
    """``sscnb assess --n``."""

    NAME, LABEL = "sample", "Draw an accuracy sample"
    HELP = (
        "Draws a stratified random sample of points from a class map (a minimum per class, the rest by area; "
        "Olofsson et al. 2014), as `sscnb assess` does. Fill each point's reference_class in the attribute table "
        "(the class you see on the imagery; 0 or empty: not labelled yet), save, then run Estimate areas and accuracy."
    )

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("MAP", "Class map (sscnb's)"))
        self.addParameter(QgsProcessingParameterNumber("N", "Points", defaultValue=300, minValue=1))
        self.addParameter(QgsProcessingParameterNumber("MIN_PER_CLASS", "Points per class at least", defaultValue=50, minValue=0))
        self.addParameter(QgsProcessingParameterNumber("SEED", "Random seed", defaultValue=0, minValue=0))
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "Output folder"))
        self.addOutput(QgsProcessingOutputVectorLayer("POINTS", "Points to label"))

    def processAlgorithm(self, parameters, context, feedback):
        layer = self.parameterAsRasterLayer(parameters, "MAP", context)
        class_map = self._raster_file(layer, "MAP")
        out = self.parameterAsString(parameters, "OUTPUT", context)
        args = ["assess", "--map", class_map, "--out", out, "--n", str(self.parameterAsInt(parameters, "N", context))]
        args += ["--min-per-class", str(self.parameterAsInt(parameters, "MIN_PER_CLASS", context))]
        args += ["--seed", str(self.parameterAsInt(parameters, "SEED", context))]
        self._run(self._command(feedback), args, feedback)
        points = str(Path(out) / "points.gpkg")
        self._load(context, points, "accuracy points: fill reference_class", "POINTS")
        return {"POINTS": points}


class EstimateAreas(SscnbAlgorithm):
    """``sscnb assess --points``."""

    NAME, LABEL = "estimate", "Estimate areas and accuracy"
    HELP = (
        "From the sample's points with their reference_class filled in, estimates each class's area and the map's "
        "user's and producer's accuracies with 95% confidence intervals (Olofsson et al. 2014), as `sscnb assess "
        "--points` does. Output: the estimates as a table layer (and estimates.csv, error_matrix.csv)."
    )

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer("MAP", "Class map (the one the points were drawn from)"))
        self.addParameter(QgsProcessingParameterVectorLayer("POINTS", "Labelled points", [QgsProcessing.TypeVectorPoint]))
        self.addParameter(
            QgsProcessingParameterField("CLASS_FIELD", "Reference class field", "reference_class", "POINTS", optional=True)
        )
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "Output folder"))
        self.addOutput(QgsProcessingOutputVectorLayer("ESTIMATES", "Estimates"))
        self.addOutput(QgsProcessingOutputFile("ERROR_MATRIX", "Error matrix, CSV"))

    def processAlgorithm(self, parameters, context, feedback):
        class_map = self._raster_file(self.parameterAsRasterLayer(parameters, "MAP", context), "MAP")
        points, field = self._vector_file(parameters, "POINTS", "CLASS_FIELD", "reference_class", context, feedback)
        out = self.parameterAsString(parameters, "OUTPUT", context)
        args = ["assess", "--map", class_map, "--out", out, "--points", points, "--class-field", field]
        self._run(self._command(feedback), args, feedback)
        estimates = str(Path(out) / "estimates.csv")
        self._load(context, estimates, "area and accuracy estimates", "ESTIMATES")
        return {"ESTIMATES": estimates, "ERROR_MATRIX": str(Path(out) / "error_matrix.csv")}


ALGORITHMS = [MapSurvey, AdaptToPolygons, DrawSample, EstimateAreas]
