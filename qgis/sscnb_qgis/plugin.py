"""The plugin: registers the sscnb Processing provider (in QGIS and in qgis_process)."""

from __future__ import annotations

from qgis.core import QgsApplication

from .provider import SscnbProvider


class SscnbPlugin:
    """Adds the ``sscnb`` provider to the Processing toolbox; nothing else in the interface."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider: SscnbProvider | None = None

    def initProcessing(self) -> None:
        """Register the provider (qgis_process calls only this)."""
        self.provider = SscnbProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        """Register the provider when QGIS's interface starts."""
        self.initProcessing()

    def unload(self) -> None:
        """Remove the provider."""
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
