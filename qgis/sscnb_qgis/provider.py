"""The ``sscnb`` Processing provider: its algorithms and its one setting, the sscnb command."""

from __future__ import annotations

from processing.core.ProcessingConfig import ProcessingConfig, Setting
from qgis.core import QgsProcessingProvider

from .algorithms import ALGORITHMS
from .sscnb_command import ENV_VAR, SETTING


class SscnbProvider(QgsProcessingProvider):
    """Map a survey, adapt to labelled polygons, draw an accuracy sample, estimate areas."""

    def id(self) -> str:
        return "sscnb"

    def name(self) -> str:
        return "sscnb"

    def longName(self) -> str:
        return "sscnb: CNN-supervised classification of river imagery"

    def load(self) -> bool:
        ProcessingConfig.settingIcons[self.name()] = self.icon()
        ProcessingConfig.addSetting(
            Setting(
                self.name(),
                SETTING,
                f"sscnb command (empty: ${ENV_VAR}, sscnb on PATH, or the .venv beside the plugin)",
                "",
                valuetype=Setting.FILE,
            )
        )
        ProcessingConfig.readSettings()
        self.refreshAlgorithms()
        return True

    def unload(self) -> None:
        ProcessingConfig.removeSetting(SETTING)

    def loadAlgorithms(self) -> None:
        for cls in ALGORITHMS:
            self.addAlgorithm(cls())
