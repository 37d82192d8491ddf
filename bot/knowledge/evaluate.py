"""Score question sets against the engine: the same rules the team's development sets are written to."""

from __future__ import annotations

from datetime import datetime

from bot.core.engine import Engine
from bot.core.model import Incoming

ANSWER_LIMIT = 800  # an eval answer longer than this is a wall of text, not an answer


def evaluate(engine: Engine, cases: list[dict], now: datetime) -> tuple[int, list[str]]:
    """Score a question set: every expect group present, no forbid, fallback cases fall back."""
    passed = 0
    failures: list[str] = []
    for case in cases:
        question = str(case.get("q", ""))
        reply = engine.answer(Incoming(question, "cli"), now)
        problems = []
        if case.get("fallback"):
            if not reply.fallback:
                problems.append("should fall back")
        else:
            if reply.fallback:
                problems.append("fell back")
            for group in case.get("expect", []) or []:
                if not any(alt in reply.text for alt in str(group).split("|")):
                    problems.append(f"missing {group!r}")
        for bad in case.get("forbid", []) or []:
            if str(bad) in reply.text:
                problems.append(f"contains forbidden {bad!r}")
        if len(reply.text) > ANSWER_LIMIT:
            problems.append(f"answer has {len(reply.text)} characters (limit {ANSWER_LIMIT})")
        if problems:
            top = reply.sources[0].id if reply.sources else "-"
            snippet = reply.text.replace("\n", " ")[:80]
            failures.append(f"FAIL {question!r}: {'; '.join(problems)} [intent={reply.intent} top={top}] {snippet}")
        else:
            passed += 1
    return passed, failures
