"""Showing a tool in a notebook: its widget in JupyterLab, its static figure in a batch run."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from sscnb.plots._figures import _plt, save_figure

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


def _display_figure(fig, dpi: int = 100) -> None:
    """Show a figure in the notebook as a PNG, whatever matplotlib's backend, and close it.

    The backend may be inline, or Agg as under some batch runners.
    """
    from IPython.display import Image, display

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _plt().close(fig)
    display(Image(data=buf.getvalue(), format="png"))


def run_by_papermill() -> bool:
    """Whether this kernel runs a notebook for papermill (or ``sscnb run``).

    Papermill's injected parameters cell, which starts with ``# Parameters``, is in the kernel's input
    history.

    Returns
    -------
    bool
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    history = ip.user_ns.get("In", []) if ip is not None else []
    return any(isinstance(src, str) and src.lstrip().startswith("# Parameters") for src in history)


def show_tool(tool: Any, widgets: bool, save: str | Path | None = None) -> None:
    """Show a tool in a notebook: its widget when ``widgets`` is true, else its static figure.

    Under papermill the static figure is shown even with ``widgets`` true (and a note says so):
    nobody is there to use a widget, and widgets can stall papermill's notebook client
    (jupyter/nbclient#312).

    Parameters
    ----------
    tool : MapExplorer, TileBrowser or Phase2Playground
    widgets : bool
        False in batch runs (papermill): nothing waits for input and the figure is in the notebook.
    save : str or Path, optional
        PNG file for the static figure (written either way).

    Returns
    -------
    None
        Nothing, so that a notebook cell ending with this call does not show it twice; the widget
        is ``tool.widget``.
    """
    plt = _plt()
    if widgets and run_by_papermill():
        print(f"{type(tool).__name__}: a static figure, as this notebook runs under papermill (widgets need JupyterLab)")
        widgets = False
    if save is not None or not widgets:
        fig = tool.figure()
        if save is not None:
            save_figure(fig, save)
        if not widgets:
            _display_figure(fig)
            return
        plt.close(fig)
    tool.show()
