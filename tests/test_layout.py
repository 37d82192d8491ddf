"""The house rules a newcomer relies on: small files, layers held, the core free of platforms."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

MAX_LINES = 600


def python_files() -> list[Path]:
    return sorted((ROOT / "bot").rglob("*.py"))


def test_no_file_over_the_line_cap() -> None:
    long = {str(p.relative_to(ROOT)): n for p in python_files() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_every_public_function_is_typed_and_documented() -> None:
    missing: list[str] = []
    for path in python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                if node.returns is None:
                    missing.append(f"{where}: no return type")
    assert not missing, "\n".join(missing)


def test_nothing_reads_outside_the_repository() -> None:
    """A user's clone has no sibling folders: code, tests and benchmarks use only what the project carries."""
    needles = ("/".join(["..", "shared"]), "parent / " + '"shared"')
    files = [*python_files(), *(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py"), ROOT / "Makefile"]
    offenders = [str(p.relative_to(ROOT)) for p in files if any(n in p.read_text(encoding="utf-8") for n in needles)]
    assert offenders == []
