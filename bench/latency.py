"""Answer latency in process over the dev questions, next to jieba.lcut on the same questions (one run)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jieba
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.model import Incoming  # noqa: E402
from bot.service import load_engine  # noqa: E402

DEV_SET = ROOT / "tests" / "data" / "dev_questions.yaml"


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile: no interpolation on a small sample."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(fn, questions: list[str], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        for q in questions:
            t0 = time.perf_counter()
            fn(q)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", default=str(DEV_SET))
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    questions = [str(c["q"]) for c in yaml.safe_load(Path(args.questions).read_text(encoding="utf-8"))]
    engine = load_engine(ROOT / "knowledge", ROOT / "intents.yaml")
    now = datetime(2021, 9, 25, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    jieba.initialize()
    for q in questions:  # warm both paths
        engine.answer(Incoming(q), now)
        jieba.lcut(q)
    answer = timed(lambda q: engine.answer(Incoming(q), now), questions, args.rounds)
    seg = timed(jieba.lcut, questions, args.rounds)
    rows = [
        ("engine.answer", percentile(answer, 50), percentile(answer, 99), statistics.mean(answer)),
        ("jieba.lcut", percentile(seg, 50), percentile(seg, 99), statistics.mean(seg)),
    ]
    print(f"{len(questions)} questions x {args.rounds} rounds")
    print(f"{'what':<16}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, p50, p99, mean in rows:
        print(f"{name:<16}{p50:>10.3f}{p99:>10.3f}{mean:>10.3f}")
    print(f"ratio answer/lcut p50: {rows[0][1] / rows[1][1]:.1f}x   target p50 <= 1 ms: "
          f"{'met' if rows[0][1] <= 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
