"""Smoke test of the benchmark runner: it must keep working, whatever the figures on this machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_latency_run_prints_the_table(tmp_path: Path) -> None:
    """`bench/run.py --quick --only latency` exits 0 and prints the Markdown table with its rows."""
    out = tmp_path / "results.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", "latency", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "| metric | value | baseline | ratio | target | met |" in lines
    rows = [line for line in lines if line.startswith("| ")]
    for metric in ("answer p50 ms", "answer p99 ms", "fast search = sklearn reference", "sklearn reference_search p50"):
        assert any(row.startswith(f"| {metric}") for row in rows), metric
    assert all(row.rstrip().endswith(("| met |", "| NOT met |", "| info |")) for row in rows[1:])
    agreement = next(row for row in rows if row.startswith("| fast search = sklearn reference"))
    assert agreement.rstrip().endswith("| met |"), agreement  # correctness, not timing
    assert out.read_text(encoding="utf-8").count("| answer p") == 2
