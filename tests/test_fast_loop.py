"""The fast loop's own checks: ``--max-test-seconds`` fails a run whose unmarked test took too long,
names it and says how to mark it; tests marked slow, browser or e2e are never held to it.
"""

import os
import shutil
import subprocess
import sys
import textwrap

import pandas as pd

from conftest import LONG_FILES, REPO, cpu_table, too_slow


def test_too_slow_keeps_unmarked_tests_over_the_limit_slowest_first():
    seconds = {"a": 12.0, "b": 3.0, "c": 30.0, "d": 10.0, "e": 11.0}
    unmarked = {"a", "b", "d", "e"}  # c is marked slow
    assert too_slow(seconds, unmarked, 10) == [(12.0, "a"), (11.0, "e")]  # 10.0 is not over 10
    assert too_slow(seconds, unmarked, 100) == []


def test_the_long_files_given_out_first_exist_longest_first():
    """A renamed test file must not drop out of make test-all's longest-first order unnoticed."""
    assert all((REPO / "tests" / name).is_file() for name in LONG_FILES), sorted(LONG_FILES)
    assert list(LONG_FILES.values()) == sorted(LONG_FILES.values(), reverse=True)


def test_a_run_with_a_slow_unmarked_test_fails_and_says_how_to_mark_it(tmp_path):
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: x\n    browser: x\n    e2e: x\n    realdata: x\n")
    (tmp_path / "test_timing.py").write_text(
        textwrap.dedent(
            """
            import time
            import pytest

            def test_quick():
                pass

            def test_sleepy():
                time.sleep(0.4)

            @pytest.mark.slow
            def test_sleepy_but_marked():
                time.sleep(0.4)

            @pytest.fixture
            def costly():
                time.sleep(0.4)

            def test_with_a_costly_fixture(costly):
                pass
            """
        )
    )
    run = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)]
    env = {**os.environ, "SSCNB_TEST_WARMUP": "0"}  # these tests need no backend
    r = subprocess.run([*run, "--max-test-seconds=0.3"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 1, r.stdout
    assert "4 passed" in r.stdout
    assert "2 test(s) of the fast set took over 0.3 s" in r.stdout
    listed = r.stdout.split("took over 0.3 s", 1)[1]
    assert "test_timing.py::test_sleepy" in listed
    assert "test_timing.py::test_with_a_costly_fixture" in listed  # a fixture's setup counts too
    assert "test_sleepy_but_marked" not in listed
    assert "test_quick" not in listed
    assert "@pytest.mark.slow" in listed
    assert subprocess.run([*run, "--max-test-seconds=5"], capture_output=True, text=True, cwd=tmp_path, env=env).returncode == 0


def test_cpu_table_puts_the_costliest_test_first_its_childrens_cpu_included():
    rows = [
        {"test": "a", "worker": "gw0", "wall_s": 9.0, "cpu_s": 2.0, "children_cpu_s": 0.0},
        {"test": "b", "worker": "gw1", "wall_s": 3.0, "cpu_s": 0.5, "children_cpu_s": 4.0},
        {"test": "c", "worker": "gw0", "wall_s": 1.0, "cpu_s": 1.0, "children_cpu_s": 0.0},
    ]
    t = cpu_table(rows)
    assert list(t.test) == ["b", "a", "c"]
    assert list(t.total_cpu_s) == [4.5, 2.0, 1.0]


def test_cpu_profile_counts_a_tests_child_processes(tmp_path):
    """--cpu-profile DIR: the CPU a test's child process burnt counts as that test's children's."""
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: x\n    browser: x\n    e2e: x\n    realdata: x\n")
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass"
    (tmp_path / "test_cpu.py").write_text(
        textwrap.dedent(
            f"""
            import subprocess, sys

            def test_in_a_child():
                subprocess.run([sys.executable, "-c", {burn!r}], check=True)

            def test_here():
                exec({burn!r})
            """
        )
    )
    env = {**os.environ, "SSCNB_TEST_WARMUP": "0"}
    run = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path), "--cpu-profile", str(tmp_path / "cpu")]
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "tests_gw7.json").write_text('[{"test": "from an earlier run", "worker": "gw7"}]')
    r = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout
    assert "CPU seconds of 2 tests" in r.stdout  # not the rows an earlier run's worker left
    t = pd.read_csv(tmp_path / "cpu" / "cpu_by_test.csv").set_index("test")
    child, here = t.loc["test_cpu.py::test_in_a_child"], t.loc["test_cpu.py::test_here"]
    assert child.children_cpu_s >= 0.45
    assert child.cpu_s < 0.3
    assert here.cpu_s >= 0.45
    assert here.children_cpu_s == 0
