"""matplotlib's pyplot, imported only when a figure is drawn.

The backend is chosen by the environment (inline in JupyterLab, Agg in a batch run), and modules that import
sscnb's figure functions stay light.
"""

from __future__ import annotations


def _plt():
    import matplotlib.pyplot as plt  # imported late: the backend is chosen by the environment

    return plt
