"""No module over 500 lines and no function over 80: the pieces a newcomer must hold in mind at once.

Issue 21 divides what is still over. Until then the pieces below may not grow past the size they
had, no other piece may pass a limit, and a piece divided below its limit must leave the list (the
test says so), so that the list only ever shrinks.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sscnb"
MODULE_LINES, FUNCTION_LINES = 500, 80

# over the limits, each with the size it may not exceed (a ratchet): empty since issue 21 divided the last
# ones. A new entry needs a reason in its commit; remove it once divided.
NOT_YET_DIVIDED: dict[str, int] = {}


def sizes() -> dict:
    """Lines of every module and every function (docstring included) of the package."""
    found = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        text = f.read_text()
        rel = f"sscnb/{f.relative_to(PACKAGE).as_posix()}"
        found[f"module {rel}"] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[f"function {rel}:{node.name}"] = node.end_lineno - node.lineno + 1
    return found


def test_no_module_or_function_passes_the_limits_or_grows():
    over = {k: n for k, n in sizes().items()
            if n > (MODULE_LINES if k.startswith("module") else FUNCTION_LINES)}
    new = {k: n for k, n in over.items() if k not in NOT_YET_DIVIDED}
    grown = {k: (NOT_YET_DIVIDED[k], n) for k, n in over.items() if k in NOT_YET_DIVIDED and n > NOT_YET_DIVIDED[k]}
    divided = sorted(set(NOT_YET_DIVIDED) - set(over))
    assert not new, f"over {MODULE_LINES} lines per module / {FUNCTION_LINES} per function: {new}: divide them"
    assert not grown, f"grew (allowed, now): {grown}: divide them rather than add to them"
    assert not divided, f"now within the limits, so remove from NOT_YET_DIVIDED: {divided}"


def test_the_measure_counts_what_it_should():
    s = sizes()
    assert s["module sscnb/errors.py"] == len((PACKAGE / "errors.py").read_text().splitlines())
    assert "function sscnb/explore/_display.py:show_tool" in s
    assert s["function sscnb/explore/_display.py:show_tool"] > 10
