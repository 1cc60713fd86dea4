"""A plain (non-editable) install finds its notebooks: a wheel built here, installed into a fresh
virtual environment that sees this environment's packages (so nothing is downloaded), runs
notebook 00 and copies the suite out for JupyterLab.
"""

import subprocess
import sys
import sysconfig

import pytest
import yaml

from conftest import REPO, SAMPLE


def _run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    return p.stdout


@pytest.mark.e2e  # a wheel installed into a fresh virtual environment
def test_wheel_ships_the_notebooks_and_runs_them(tmp_path):
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)])
    wheel = next(wheels.glob("sscnb-*.whl"))
    env = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(env)])
    py = env / "bin" / "python"
    site = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    # this environment's packages (TensorFlow, papermill, ...) after the new environment's own
    (tmp_path / "venv" / site.split(str(env) + "/", 1)[1] / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)])
    where = _run(
        [
            str(py),
            "-c",
            "import sscnb, sscnb.batch as r; print(sscnb.__file__); print(r.NOTEBOOK_DIR); print(len(r.list_notebooks()))",
        ],
        cwd=tmp_path,
    ).split()
    assert where[0].startswith(str(env))
    assert where[1].startswith(str(env))
    assert int(where[2]) >= 6
    out = _run([str(py), "-m", "sscnb", "notebooks", "--out", str(tmp_path / "nbs")], cwd=tmp_path)
    assert "copied" in out
    assert (tmp_path / "nbs" / "05_map_survey.ipynb").exists()
    cfg = tmp_path / "run.yml"
    cfg.write_text(
        yaml.safe_dump(
            {"experiment": "wheel", "output_root": str(tmp_path / "outputs"), "parameters": {"data_dir": str(SAMPLE / "Train")}}
        )
    )
    _run([str(py), "-m", "sscnb", "-q", "run", "--config", str(cfg), "--only", "00"], cwd=tmp_path)
    assert (tmp_path / "outputs" / "wheel" / "data_check" / "inventory.csv").exists()
    # the model shipped in the wheel maps a survey with no training (issue 37's "from a fresh install")
    _run(
        [str(py), "-m", "sscnb", "-q", "map", "--model", "rivers", "--out", str(tmp_path / "maps"), str(SAMPLE / "Survey")],
        cwd=tmp_path,
    )
    assert list((tmp_path / "maps").rglob("*_MLPRF.tif"))
    shipped = _run([str(py), "-c", "from sscnb.cnn import bundled_model; print(bundled_model('rivers'))"], cwd=tmp_path)
    assert shipped.strip().startswith(str(env))
