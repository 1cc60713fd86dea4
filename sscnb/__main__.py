"""``python -m sscnb``: the command line (:mod:`sscnb.cli`)."""

from __future__ import annotations

from sscnb.cli import cli, main

__all__ = ["cli", "main"]

if __name__ == "__main__":
    cli()
