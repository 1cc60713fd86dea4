"""The command: the numbered notebooks copied to a folder (``sscnb notebooks``)."""

from __future__ import annotations


def add_parser(sub) -> None:
    n = sub.add_parser("notebooks", help="copy the numbered notebooks to a folder, to open them in JupyterLab")
    n.add_argument("--out", default="sscnb_notebooks", help="destination folder (default: %(default)s)")
    n.add_argument("--overwrite", action="store_true", help="replace notebooks already there")


def handle(a) -> int:
    from sscnb.batch._runner import copy_notebooks

    files = copy_notebooks(a.out, overwrite=a.overwrite)
    print(f"copied {len(files)} notebooks to {a.out}: open them with  jupyter lab {a.out}")
    return 0
