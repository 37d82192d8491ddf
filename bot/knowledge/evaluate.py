"""Score question sets and dialogues against the engine, by the rules the team's question sets are written to.

A case passes when every `expect` group ("a|b": either) occurs in the answer, no `forbid` string
does, and a `fallback: true` case gets an honest "not found". The source line (——摘自《…》) is
removed before matching, so a fact must be in the answer itself. A dialogue sends its `turns` in
one conversation and judges the last answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bot.core.engine import Engine
from bot.core.model import Context, Incoming, Reply

ANSWER_LIMIT = 800  # an eval answer longer than this is a wall of text, not an answer
SOURCE_PREFIX = "——摘自"


@dataclass
class Score:
    """The outcome of one set."""

    passed: int = 0
    total: int = 0
    failures: list[str] = field(default_factory=list)
    by_tag: dict[str, list[int]] = field(default_factory=dict)  # tag -> [passed, total]

    @property
    def rate(self) -> float:
        """Share of cases passed (0 for an empty set)."""
        return self.passed / self.total if self.total else 0.0


def body(reply: Reply) -> str:
    """The answer without its source line."""
    return "\n".join(line for line in reply.text.split("\n") if not line.startswith(SOURCE_PREFIX))


def problems_with(case: dict[str, Any], reply: Reply) -> list[str]:
    """What is wrong with a reply to a case (empty: it passes)."""
    text = body(reply)
    problems = []
    if case.get("fallback"):
        if not reply.fallback:
            problems.append("should fall back")
    else:
        if reply.fallback:
            problems.append("fell back")
        for group in case.get("expect", []) or []:
            if not any(alt in text for alt in str(group).split("|")):
                problems.append(f"missing {group!r}")
    for bad in case.get("forbid", []) or []:
        if str(bad) in text:
            problems.append(f"contains forbidden {bad!r}")
    if len(reply.text) > ANSWER_LIMIT:
        problems.append(f"answer has {len(reply.text)} characters (limit {ANSWER_LIMIT})")
    return problems


def run_case(engine: Engine, case: dict[str, Any], now: datetime) -> tuple[str, Reply]:
    """Ask a case's question, or play its turns in one conversation; the label and the last reply."""
    turns = case.get("turns")
    if isinstance(turns, list) and turns:
        ctx = Context()
        reply = Reply(text="", intent="")
        for turn in turns:
            reply, ctx = engine.respond(Incoming(str(turn), "cli", chat="eval"), now, ctx)
        return " → ".join(str(t) for t in turns), reply
    question = str(case.get("q", ""))
    return question, engine.answer(Incoming(question, "cli"), now)


def score(engine: Engine, cases: list[dict[str, Any]], now: datetime) -> Score:
    """Score a question or dialogue set."""
    result = Score()
    for case in cases:
        if not isinstance(case, dict):
            continue
        label, reply = run_case(engine, case, now)
        problems = problems_with(case, reply)
        tag = str(case.get("tag", "")) or "-"
        counts = result.by_tag.setdefault(tag, [0, 0])
        counts[1] += 1
        result.total += 1
        if problems:
            top = reply.sources[0].id if reply.sources else "-"
            snippet = reply.text.replace("\n", " ")[:80]
            result.failures.append(f"FAIL {label!r}: {'; '.join(problems)} [intent={reply.intent} top={top}] {snippet}")
        else:
            result.passed += 1
            counts[0] += 1
    return result


def evaluate(engine: Engine, cases: list[dict[str, Any]], now: datetime) -> tuple[int, list[str]]:
    """Passed count and failure lines (the shape tests use)."""
    result = score(engine, cases, now)
    return result.passed, result.failures


def load_cases(path: Path) -> list[dict[str, Any]]:
    """A question set file; ValueError says why it cannot be read."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except OSError as exc:
        raise ValueError(f"无法读取 {path}：{exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} 不是有效的 YAML：{exc}") from None
    if not isinstance(data, list):
        raise ValueError(f"{path} 应当是问题列表")
    return [c for c in data if isinstance(c, dict)]


@dataclass(frozen=True)
class SetSpec:
    """One question set the project keeps, with the clock it is written for and the rate it must reach."""

    path: Path
    now: str
    min_rate: float


def load_manifest(path: Path) -> list[SetSpec]:
    """tests/data/eval_sets.yaml: every set the project keeps."""
    entries = load_cases(path)
    specs = []
    for entry in entries:
        specs.append(SetSpec(path.parent / str(entry["file"]), str(entry.get("now", "")), float(entry.get("min", 0.0))))
    return specs
