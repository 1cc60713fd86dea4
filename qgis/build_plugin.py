"""Build the zip that QGIS's Plugins > Install from ZIP takes (``make qgis-plugin``).

The zip holds ``sscnb_qgis/`` and, in ``sscnb_qgis/default_command.txt``, the sscnb command that the
plugin runs when nothing else is set (this repository's ``.venv/bin/sscnb`` by default): a user who
built it from their clone needs to set nothing in QGIS.

    python qgis/build_plugin.py --out outputs/qgis/sscnb_qgis.zip [--command /path/to/bin/sscnb]
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLUGIN = HERE / "sscnb_qgis"


def build(out: Path, command: str) -> Path:
    """Write the plugin's zip to ``out`` (complete or not at all) with ``command`` as its default; return ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(PLUGIN.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.name != "default_command.txt":
                z.write(path, Path("sscnb_qgis") / path.relative_to(PLUGIN))
        z.writestr("sscnb_qgis/default_command.txt", command + "\n")
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Build the zip from the command line; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE.parent / "outputs" / "qgis" / "sscnb_qgis.zip")
    ap.add_argument(
        "--command", default=str(HERE.parent / ".venv" / "bin" / "sscnb"), help="the sscnb command it runs by default"
    )
    a = ap.parse_args(argv)
    if not Path(a.command).is_file():
        print(
            f"build_plugin: the sscnb command {a.command} does not exist: run make install first, or give --command",
            file=sys.stderr,
        )
        return 1
    print(
        f"wrote {build(a.out, str(Path(a.command).resolve()))}: in QGIS, Plugins > Manage and Install Plugins > Install from ZIP"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
