"""No module over 500 lines and no function over 80: the pieces a newcomer must hold in mind at once.

A line is a line of code as ``ruff format`` writes it: blank lines and comments count, docstrings do not.
Docstrings are the documentation every public function must have (numpydoc: one entry per parameter),
and the formatter's one-argument-per-line layout already makes code longer than it reads.

A piece over a limit may be listed below with the size it may not exceed; it may not grow, no other
piece may pass a limit, and a piece divided below its limit must leave the list (the test says so), so
that the list only ever shrinks. Issue 21 divided the last ones.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sscnb"
MODULE_LINES, FUNCTION_LINES = 500, 80

# over the limits, each with the size it may not exceed (a ratchet); a new entry needs a reason in its
# commit; remove it once divided
NOT_YET_DIVIDED: dict[str, int] = {}


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines |= set(range(first.lineno, first.end_lineno + 1))
    return lines


def sizes_of(text: str, rel: str) -> dict:
    """Lines of code (docstrings left out) of one module and of each of its functions."""
    tree = ast.parse(text)
    docs = _docstring_lines(tree)
    found = {f"module {rel}": len(text.splitlines()) - len(docs)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            span = range(node.lineno, node.end_lineno + 1)
            found[f"function {rel}:{node.name}"] = sum(1 for i in span if i not in docs)
    return found


def sizes() -> dict:
    """Lines of code of every module and every function of the package."""
    found = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        found.update(sizes_of(f.read_text(), f"sscnb/{f.relative_to(PACKAGE).as_posix()}"))
    return found


def test_no_module_or_function_passes_the_limits_or_grows():
    over = {k: n for k, n in sizes().items() if n > (MODULE_LINES if k.startswith("module") else FUNCTION_LINES)}
    new = {k: n for k, n in over.items() if k not in NOT_YET_DIVIDED}
    grown = {k: (NOT_YET_DIVIDED[k], n) for k, n in over.items() if k in NOT_YET_DIVIDED and n > NOT_YET_DIVIDED[k]}
    divided = sorted(set(NOT_YET_DIVIDED) - set(over))
    assert not new, f"over {MODULE_LINES} lines per module / {FUNCTION_LINES} per function: {new}: divide them"
    assert not grown, f"grew (allowed, now): {grown}: divide them rather than add to them"
    assert not divided, f"now within the limits, so remove from NOT_YET_DIVIDED: {divided}"


def test_the_measure_counts_what_it_should():
    text = '''"""A module.

Its docstring: 4 lines.
"""
import os


class Thing:
    """One line."""

    def method(self):
        """Two
        lines."""
        # a comment counts
        return os.sep


def f(a,
      b):
    return a + b
'''
    s = sizes_of(text, "m.py")
    assert s["module m.py"] == 20 - 4 - 1 - 2  # 20 lines, less three docstrings
    assert s["function m.py:method"] == 3  # def, comment, return
    assert s["function m.py:f"] == 3  # a signature on two lines, and its body
    assert "function sscnb/explore/_display.py:show_tool" in sizes()
