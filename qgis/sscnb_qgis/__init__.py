"""sscnb in QGIS: a Processing provider that runs the sscnb command of its own environment."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """Return the plugin (QGIS calls this, with no interface under qgis_process)."""
    from .plugin import SscnbPlugin

    return SscnbPlugin(iface)
