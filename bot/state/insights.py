"""What the question log says to staff: use per day, rates, top questions, and questions to review.

Read-only queries over the Store's tables (plus the ``reviewed`` table staff decisions go to),
sharing its connection and lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from bot.state.store import Store, _dt, _ts

# How staff call the channels and the reminder outcomes, in the console and on the command line alike.
CHANNEL_NAMES = {"telegram": "Telegram", "wechat": "微信公众号", "wecom": "企业微信", "web": "网页", "cli": "命令行"}
REMINDER_NAMES = {"sent": "已发送", "failed": "发送失败", "undeliverable": "无法送达", "skipped": "已跳过", "pending": "发送中"}
# A planned reminder is a stored outcome or one of these states (bot.state.reminders.schedule).
PLAN_NAMES = {
    **REMINDER_NAMES,
    "due": "到期待发",
    "planned": "计划中",
    "superseded": "被更近的提醒取代",
    "before-subscription": "订阅之前（不发）",
    "expired": "已过截止日",
}
# The counters of one sending run (bot.state.reminders.SendReport).
SEND_NAMES = {
    **{k: REMINDER_NAMES[k] for k in ("sent", "failed", "undeliverable", "skipped")},
    "blocked": "对方已退订或拉黑",
    "retried": "重试",
    "deferred": "额度用完、次日再发",
    "waiting": "渠道未开通、暂缓",
}


def pct(part: int, whole: int) -> str:
    """A share as a whole percentage ('—' when there is nothing to share)."""
    return f"{part / whole:.0%}" if whole else "—"


@dataclass(frozen=True)
class Day:
    """Questions asked on one local day."""

    day: date
    total: int
    declined: int


@dataclass(frozen=True)
class Asked:
    """One distinct question text from the log, with how often it was declined or voted down."""

    question: str
    count: int
    declined: int
    down: int
    last: datetime


def questions_per_day(store: Store, today: date, days: int, zone: tzinfo) -> list[Day]:
    """The last `days` local days up to `today`, every day present (zero when quiet)."""
    store.flush()
    start = today - timedelta(days=days - 1)
    midnight = datetime(start.year, start.month, start.day, tzinfo=zone)
    offset = midnight.utcoffset() or timedelta(0)
    shift = f"{int(offset.total_seconds())} seconds"
    rows = store._read(
        """SELECT date(at, ?) AS day, COUNT(*) AS n, COALESCE(SUM(fallback), 0) AS f
           FROM questions WHERE at >= ? AND preview = 0 GROUP BY day""",
        (shift, _ts(midnight)),
    )
    counts = {r["day"]: (int(r["n"]), int(r["f"])) for r in rows}
    out = []
    for i in range(days):
        day = start + timedelta(days=i)
        total, declined = counts.get(day.isoformat(), (0, 0))
        out.append(Day(day, total, declined))
    return out


def feedback_counts(store: Store) -> tuple[int, int]:
    """👍 and 👎 votes so far."""
    rows = store._read("SELECT COALESCE(SUM(vote > 0), 0) AS up, COALESCE(SUM(vote < 0), 0) AS down FROM feedback")
    return int(rows[0]["up"]), int(rows[0]["down"])


def top_questions(store: Store, limit: int = 10) -> list[tuple[str, int]]:
    """The questions asked most often, answered or not."""
    store.flush()
    rows = store._read(
        """SELECT question, COUNT(*) AS n FROM questions WHERE question != '' AND preview = 0
           GROUP BY question ORDER BY n DESC, MAX(at) DESC LIMIT ?""",
        (int(limit),),
    )
    return [(r["question"], int(r["n"])) for r in rows]


def reminder_counts(store: Store) -> dict[str, int]:
    """Reminder rows by status: sent, failed, undeliverable, skipped, pending."""
    rows = store._read("SELECT status, COUNT(*) AS n FROM reminders GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}


def to_review(store: Store, limit: int = 500) -> list[Asked]:
    """Distinct questions that were declined or got a 👎, most recent first."""
    store.flush()
    rows = store._read(
        """SELECT q.question AS question, COUNT(*) AS n, COALESCE(SUM(q.fallback), 0) AS declined,
                  COALESCE(SUM(f.vote < 0), 0) AS down, MAX(q.at) AS last
           FROM questions q LEFT JOIN feedback f ON f.answer_id = q.answer_id AND q.answer_id != ''
           WHERE q.question != '' AND q.preview = 0 AND (q.fallback = 1 OR f.vote < 0)
           GROUP BY q.question ORDER BY last DESC LIMIT ?""",
        (int(limit),),
    )
    return [
        Asked(r["question"], int(r["n"]), int(r["declined"]), int(r["down"]), _dt(r["last"]) or datetime.min)
        for r in rows
    ]


def mark_reviewed(store: Store, normalized: str, action: str, detail: str, who: str, now: datetime) -> None:
    """Staff dealt with this question: it leaves the review list until it is declined again."""
    with store._tx() as conn:
        conn.execute(
            """INSERT INTO reviewed (normalized, action, detail, who, at) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (normalized) DO UPDATE SET
                 action = excluded.action, detail = excluded.detail, who = excluded.who, at = excluded.at""",
            (normalized, action, detail, who, _ts(now)),
        )


def reviewed(store: Store) -> dict[str, dict[str, Any]]:
    """Staff decisions by normalised question text."""
    rows = store._read("SELECT normalized, action, detail, who, at FROM reviewed")
    return {r["normalized"]: {**dict(r), "at": _dt(r["at"])} for r in rows}


def usage(store: Store) -> dict[str, Any]:
    """Everything `stats` reports, as plain data: questions, answer and feedback rates, subscribers, reminders."""
    stats = store.stats()
    up, down = feedback_counts(store)
    questions, declined = int(stats["questions"]), int(stats["fallbacks"])
    reminders = reminder_counts(store)
    return {
        "questions": questions,
        "answered": questions - declined,
        "fallbacks": declined,
        "fallback_rate": stats["fallback_rate"],
        "feedback": {"up": up, "down": down},
        "subscribers": stats["subscribers"],
        "reminders": {k: reminders.get(k, 0) for k in REMINDER_NAMES},
    }


def usage_table(report: dict[str, Any]) -> str:
    """The same report as aligned lines a staff member reads in a terminal, rates as percentages."""
    total, answered, declined = report["questions"], report["answered"], report["fallbacks"]
    up, down = report["feedback"]["up"], report["feedback"]["down"]
    rows: list[tuple[str, str]] = [
        ("提问总数", str(total)),
        ("已回答", f"{answered}（{pct(answered, total)}）"),
        ("未能回答", f"{declined}（{pct(declined, total)}）"),
        ("有用 / 没用", f"{up} / {down}（有用 {pct(up, up + down)}）"),
    ]
    subscribers = report["subscribers"]
    rows.append(("订阅者", f"共 {sum(subscribers.values())}" if subscribers else "0"))
    rows += [(f"  {CHANNEL_NAMES.get(k, k)}", str(v)) for k, v in sorted(subscribers.items())]
    rows.append(("提醒", ""))
    rows += [(f"  {REMINDER_NAMES[k]}", str(v)) for k, v in report["reminders"].items()]
    width = max(_width(label) for label, _ in rows)
    return "\n".join(f"{label}{' ' * (width - _width(label))}  {value}".rstrip() for label, value in rows) + "\n"


def _width(text: str) -> int:
    """Terminal columns: a Chinese character takes two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)
