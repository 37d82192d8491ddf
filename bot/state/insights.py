"""What the question log says to staff: use per day, rates, top questions, and questions to review.

Read-only queries over the Store's tables (plus the ``reviewed`` table staff decisions go to),
sharing its connection and lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from bot.state.store import Store, _dt, _ts


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
