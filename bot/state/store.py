"""SQLite state that must survive restarts: subscriptions, reminders sent, question log, WeChat dedupe.

One file, WAL mode, schema versioned with ``PRAGMA user_version``. One connection guarded by a
lock, so the asyncio process (and the odd worker thread) can share a single ``Store``.
Every write runs in its own ``BEGIN IMMEDIATE`` transaction.

Times are stored as UTC ISO-8601 text, so string order equals time order; callers pass aware
datetimes (a naive one is refused, because guessing its zone would shift reminders by hours).

Durability: ``synchronous = NORMAL`` with WAL means a committed transaction survives a crash of
the process (the commit is in the WAL file, which the OS keeps); only a power loss or OS crash can
drop the last commits before a checkpoint. That is what exactly-once reminders need, since the
failure they guard against is the bot dying between claiming and sending.
Subscriptions, reminders and WeChat dedupe rows are written synchronously. The question log is
statistics: rows are buffered in memory and written in one transaction every second (or every
100 rows, and on close), so a hard crash may lose under a second of logged questions.

Privacy: question rows are dated by the real clock and deleted after the retention period the caller
passes to ``prune``; ``delete_user`` removes everything kept about one user, their questions included.
Rows logged from a preview (an answer "as of" another time) are kept apart and never counted.

Reminder rows make delivery exactly-once across crashes (see ``claim_reminder``): a row is
claimed as ``pending`` before the message is sent and finished after. Policy for a row left
``pending`` by a crash is implemented in ``bot.state.reminders`` with ``stale_pending`` and
``reclaim_reminder``: it is retried once, after it has been pending for a few minutes, and marked
``failed`` if it is still pending after that retry.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.core.model import Outcome
from bot.state.records import PlatformRecords
from bot.state.sqltime import day as _day
from bot.state.sqltime import dt as _dt
from bot.state.sqltime import ts as _ts
from bot.state.staff_schema import STAFF_TABLES

log = logging.getLogger(__name__)

QUESTION_FLUSH_ROWS = 100  # buffered question-log rows written in one transaction at the latest
QUESTION_FLUSH_SECONDS = 1.0  # ... or after this long, so a crash loses under a second of statistics
OUTCOMES = frozenset(o.value for o in Outcome if o is not Outcome.BLOCKED)  # blocked is stored as undeliverable

# Each entry is one schema version; entry i brings the file from version i to i + 1.
# Never edit a released entry: append a new one.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE subscriptions (
            channel TEXT NOT NULL,
            chat TEXT NOT NULL,
            user TEXT NOT NULL DEFAULT '',
            created TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            reason TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (channel, chat)
        )""",
        """CREATE TABLE dedupe (
            key TEXT PRIMARY KEY,
            reply TEXT NOT NULL,
            created TEXT NOT NULL
        )""",
        "CREATE INDEX dedupe_created ON dedupe (created)",
        """CREATE TABLE questions (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            channel TEXT NOT NULL,
            user TEXT NOT NULL DEFAULT '',
            question TEXT NOT NULL,
            intent TEXT NOT NULL DEFAULT '',
            top_source TEXT,
            score REAL,
            fallback INTEGER NOT NULL DEFAULT 0
        )""",
    ],
    [
        # for_date is part of the key: moving a deadline makes fresh reminders for the new date.
        """CREATE TABLE reminders (
            deadline_id TEXT NOT NULL,
            for_date TEXT NOT NULL DEFAULT '',
            offset INTEGER NOT NULL,
            channel TEXT NOT NULL,
            chat TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 1,
            claimed TEXT NOT NULL,
            finished TEXT,
            PRIMARY KEY (deadline_id, for_date, offset, channel, chat)
        )""",
        "CREATE INDEX reminders_status ON reminders (status, claimed)",
        "CREATE INDEX questions_fallback ON questions (fallback, question)",
        "ALTER TABLE dedupe ADD COLUMN user TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX dedupe_user ON dedupe (user)",
    ],
    [
        # Feedback (👍/👎) refers to one logged answer by a random id the client was given.
        "ALTER TABLE questions ADD COLUMN answer_id TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX questions_answer ON questions (answer_id)",
        """CREATE TABLE feedback (
            answer_id TEXT PRIMARY KEY,
            vote INTEGER NOT NULL,
            at TEXT NOT NULL,
            channel TEXT NOT NULL,
            user TEXT NOT NULL DEFAULT ''
        )""",
    ],
    [
        # Previews are answered but not counted; the log is pruned by time and deleted per user.
        "ALTER TABLE questions ADD COLUMN preview INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX questions_at ON questions (at)",
        "CREATE INDEX questions_user ON questions (channel, user)",
        # Which way a reminder went (template, customer_service, ...) and what the platform answered;
        # a reminder the platform's quota refused waits for retry_at.
        "ALTER TABLE reminders ADD COLUMN path TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE reminders ADD COLUMN answer TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE reminders ADD COLUMN retry_at TEXT",
        """CREATE TABLE nonces (channel TEXT NOT NULL, timestamp TEXT NOT NULL, nonce TEXT NOT NULL,
            body TEXT NOT NULL, seen TEXT NOT NULL, PRIMARY KEY (channel, timestamp, nonce))""",
        "CREATE INDEX nonces_seen ON nonces (seen)",
        """CREATE TABLE last_messages (
            channel TEXT NOT NULL, user TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (channel, user))""",
        # subscribing was a message: the best known last message of every existing follower
        """INSERT OR IGNORE INTO last_messages (channel, user, at)
           SELECT channel, chat, MAX(created) FROM subscriptions
           WHERE channel IN ('wechat', 'wecom') AND active = 1 GROUP BY channel, chat""",
        "CREATE TABLE notices (key TEXT PRIMARY KEY, at TEXT NOT NULL)",
    ],
    STAFF_TABLES,
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(RuntimeError):
    """The database file cannot be used by this version of the bot."""


@dataclass(frozen=True)
class Subscription:
    """An active reminder subscription of one chat on one channel."""

    channel: str
    chat: str
    user: str
    created: datetime


class Store(PlatformRecords):
    """All persistent state of one bot process, behind one locked SQLite connection."""

    def __init__(self, path: str | Path) -> None:
        """Open (creating parent folders) and migrate, so callers never see an old schema."""
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._questions: list[tuple[Any, ...]] = []  # question-log rows not yet written
        self._flush_timer: threading.Timer | None = None
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA busy_timeout = 10000")
            if self.path != ":memory:":
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self.path}: cannot switch to WAL mode (got {mode})")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        """Write buffered questions, checkpoint and release the file so another Store can take over."""
        with self._lock:
            pending = len(self._questions)
            try:
                self.flush()
            except sqlite3.Error:
                log.exception("could not write %d buffered question(s)", pending)
            try:
                self._conn.close()
            except sqlite3.ProgrammingError:
                pass

    def __enter__(self) -> Store:
        """Use as a context manager in scripts and tests."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on leaving the block."""
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; the write lock is taken up front so it cannot deadlock."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Run a query under the lock."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    @property
    def version(self) -> int:
        """Schema version of the open file."""
        return int(self._read("PRAGMA user_version")[0][0])

    def _migrate(self) -> None:
        """Apply missing migrations, each with its version bump in the same transaction."""
        current = self.version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this bot knows "
                f"({SCHEMA_VERSION}); upgrade the bot instead of opening it with an older one"
            )
        for number in range(current, SCHEMA_VERSION):
            with self._tx() as conn:
                for statement in MIGRATIONS[number]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    # -- subscriptions --------------------------------------------------------------------

    def subscribe(self, channel: str, chat: str, user: str, now: datetime) -> bool:
        """Activate reminders for a chat; True only if it was not already active."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT active FROM subscriptions WHERE channel = ? AND chat = ?", (channel, chat)
            ).fetchone()
            if row is not None and row["active"]:
                if user:
                    conn.execute(
                        "UPDATE subscriptions SET user = ? WHERE channel = ? AND chat = ?",
                        (user, channel, chat),
                    )
                return False
            conn.execute(
                """INSERT INTO subscriptions (channel, chat, user, created, active, reason)
                   VALUES (?, ?, ?, ?, 1, '')
                   ON CONFLICT (channel, chat) DO UPDATE SET
                     user = excluded.user, created = excluded.created, active = 1, reason = ''""",
                (channel, chat, user, _ts(now)),
            )
            return True

    def unsubscribe(self, channel: str, chat: str) -> bool:
        """Stop reminders at the user's request; True if there was an active subscription."""
        with self._tx() as conn:
            cur = conn.execute(
                """UPDATE subscriptions SET active = 0, reason = 'unsubscribed'
                   WHERE channel = ? AND chat = ? AND active = 1""",
                (channel, chat),
            )
            return cur.rowcount > 0

    def deactivate(self, channel: str, chat: str, reason: str) -> None:
        """Stop reminders the platform refuses to deliver (e.g. the user blocked the bot)."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE subscriptions SET active = 0, reason = ? WHERE channel = ? AND chat = ?",
                (reason, channel, chat),
            )

    def delete_user(self, channel: str, user: str) -> int:
        """Forget a user who left (WeChat unfollow) or asked to be forgotten: every row about them goes."""
        if not user:
            return 0
        with self._lock:
            self.flush()  # buffered questions of this user must go too
        with self._tx() as conn:
            chats = [
                r["chat"]
                for r in conn.execute(
                    "SELECT chat FROM subscriptions WHERE channel = ? AND (user = ? OR chat = ?)",
                    (channel, user, user),
                )
            ]
            changed = 0
            for chat in chats:
                changed += conn.execute(
                    "DELETE FROM reminders WHERE channel = ? AND chat = ?", (channel, chat)
                ).rowcount
            changed += conn.execute(
                "DELETE FROM subscriptions WHERE channel = ? AND (user = ? OR chat = ?)",
                (channel, user, user),
            ).rowcount
            changed += conn.execute(
                "DELETE FROM questions WHERE channel = ? AND user = ?", (channel, user)
            ).rowcount
            changed += self._forget_records(conn, channel, user)
            # Dedupe keys start with the sender id and a "|" (user|channel|MsgId), so match that
            # prefix too, in case the caller did not pass user= to dedupe_put; the "|" keeps
            # user "abc" from matching user "abcd".
            prefix = f"{user}|"
            changed += conn.execute(
                "DELETE FROM dedupe WHERE user = ? OR substr(key, 1, ?) = ?",
                (user, len(prefix), prefix),
            ).rowcount
            return changed

    def is_subscribed(self, channel: str, chat: str) -> bool:
        """Whether this chat currently gets reminders."""
        rows = self._read(
            "SELECT 1 FROM subscriptions WHERE channel = ? AND chat = ? AND active = 1",
            (channel, chat),
        )
        return bool(rows)

    def subscribers(self, channel: str | None = None) -> list[Subscription]:
        """Active subscriptions, oldest first, optionally of one channel."""
        sql = "SELECT channel, chat, user, created FROM subscriptions WHERE active = 1"
        params: tuple[Any, ...] = ()
        if channel is not None:
            sql += " AND channel = ?"
            params = (channel,)
        rows = self._read(sql + " ORDER BY created, channel, chat", params)
        return [
            Subscription(r["channel"], r["chat"], r["user"], datetime.fromisoformat(r["created"]))
            for r in rows
        ]

    # -- reminders ------------------------------------------------------------------------

    def claim_reminder(
        self,
        deadline_id: str,
        offset: int,
        channel: str,
        chat: str,
        now: datetime,
        *,
        for_date: date | None = None,
    ) -> bool:
        """Durably mark a reminder as being sent BEFORE sending; False if any row exists already.

        The row is keyed by (deadline_id, for_date, offset, channel, chat): a claim that returns
        False means someone (this run, an earlier run, or another process) already owns it.
        """
        with self._tx() as conn:
            cur = conn.execute(
                """INSERT OR IGNORE INTO reminders
                   (deadline_id, for_date, offset, channel, chat, status, attempts, claimed)
                   VALUES (?, ?, ?, ?, ?, 'pending', 1, ?)""",
                (deadline_id, _day(for_date), offset, channel, chat, _ts(now)),
            )
            return cur.rowcount == 1

    def finish_reminder(
        self,
        deadline_id: str,
        offset: int,
        channel: str,
        chat: str,
        outcome: str,
        now: datetime,
        *,
        for_date: date | None = None,
        path: str = "",
        answer: str = "",
        retry_at: datetime | None = None,
    ) -> None:
        """Record how a claimed reminder ended, the path it took and the platform's answer.

        With no claim (a 'skipped' one) it inserts the row; a finished row is left alone, so a late
        duplicate cannot rewrite history. 'deferred' (with `retry_at`) waits for ``reclaim_deferred``.
        """
        if outcome not in OUTCOMES:
            raise ValueError(
                f"unknown reminder outcome {outcome!r}; expected one of {sorted(OUTCOMES)}"
            )
        deferred = outcome == Outcome.DEFERRED.value
        if deferred and retry_at is None:
            raise ValueError("a deferred reminder needs retry_at")
        finished = None if deferred else _ts(now)
        again = _ts(retry_at) if deferred and retry_at is not None else None
        with self._tx() as conn:
            conn.execute(
                """INSERT INTO reminders (deadline_id, for_date, offset, channel, chat, status, attempts,
                                          claimed, finished, path, answer, retry_at)
                   VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)
                   ON CONFLICT (deadline_id, for_date, offset, channel, chat) DO UPDATE SET
                     status = excluded.status, finished = excluded.finished, retry_at = excluded.retry_at,
                     path = CASE WHEN excluded.path != '' THEN excluded.path ELSE reminders.path END,
                     answer = CASE WHEN excluded.answer != '' THEN excluded.answer ELSE reminders.answer END
                   WHERE reminders.status IN ('pending', 'deferred')""",
                (deadline_id, _day(for_date), offset, channel, chat, outcome, _ts(now), finished, path, answer, again),
            )

    def stale_pending(self, before: datetime) -> list[dict[str, Any]]:
        """Rows claimed before `before` and never finished: a run died while sending them."""
        rows = self._read(
            """SELECT * FROM reminders WHERE status = 'pending' AND claimed < ?
               ORDER BY claimed, deadline_id, offset, channel, chat""",
            (_ts(before),),
        )
        return [self._reminder_dict(r) for r in rows]

    def reclaim_reminder(
        self,
        deadline_id: str,
        offset: int,
        channel: str,
        chat: str,
        now: datetime,
        *,
        for_date: date | None = None,
        stale_before: datetime,
        max_attempts: int = 2,
    ) -> bool:
        """Take over a stale pending row for one more attempt; False if another run got there first."""
        with self._tx() as conn:
            cur = conn.execute(
                """UPDATE reminders SET attempts = attempts + 1, claimed = ?
                   WHERE deadline_id = ? AND for_date = ? AND offset = ? AND channel = ? AND chat = ?
                     AND status = 'pending' AND claimed < ? AND attempts < ?""",
                (
                    _ts(now),
                    deadline_id,
                    _day(for_date),
                    offset,
                    channel,
                    chat,
                    _ts(stale_before),
                    max_attempts,
                ),
            )
            return cur.rowcount == 1

    @staticmethod
    def _reminder_dict(row: sqlite3.Row) -> dict[str, Any]:
        """Row as a plain dict with dates and times parsed back."""
        out = dict(row)
        out["for_date"] = date.fromisoformat(out["for_date"]) if out["for_date"] else None
        out["claimed"] = _dt(out["claimed"])
        out["finished"] = _dt(out["finished"])
        out["retry_at"] = _dt(out.get("retry_at"))
        return out

    def reminder_rows(self) -> list[dict[str, Any]]:
        """Every reminder row, for the admin view and for tests."""
        rows = self._read(
            "SELECT * FROM reminders ORDER BY claimed, deadline_id, for_date, offset DESC, channel, chat"
        )
        return [self._reminder_dict(r) for r in rows]

    # -- question log ---------------------------------------------------------------------

    def log_question(
        self,
        now: datetime,
        channel: str,
        user: str,
        question: str,
        intent: str,
        top_source: str | None,
        score: float | None,
        fallback: bool,
        answer_id: str = "",
        preview: bool = False,
    ) -> None:
        """Keep each question so staff can see what goes unanswered (buffered: see the module notes).

        `now` must be the real time; a `preview` row (an answer "as of" another time) is never counted.
        """
        row = (
            _ts(now),
            channel,
            user,
            question.strip(),
            intent,
            top_source,
            None if score is None else float(score),
            1 if fallback else 0,
            answer_id,
            1 if preview else 0,
        )
        with self._lock:
            self._questions.append(row)
            if len(self._questions) >= QUESTION_FLUSH_ROWS:
                self.flush()
            elif self._flush_timer is None:
                timer = threading.Timer(QUESTION_FLUSH_SECONDS, self._flush_in_background)
                timer.daemon = True
                self._flush_timer = timer
                timer.start()

    def flush(self) -> None:
        """Write buffered question-log rows now, in one transaction."""
        with self._lock:
            if self._flush_timer is not None:
                self._flush_timer.cancel()
                self._flush_timer = None
            rows, self._questions = self._questions, []
            if not rows:
                return
            try:
                with self._tx() as conn:
                    conn.executemany(
                        """INSERT INTO questions
                           (at, channel, user, question, intent, top_source, score, fallback, answer_id, preview)
                           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                        rows,
                    )
            except sqlite3.Error:
                self._questions[:0] = rows  # keep them for the next flush instead of losing them
                raise

    def _flush_in_background(self) -> None:
        """The timer's flush: a failure is logged, since no caller is there to see it."""
        try:
            self.flush()
        except sqlite3.ProgrammingError:  # closed meanwhile: close() already wrote what it could
            pass
        except Exception:
            log.exception("could not write the question log")

    def record_feedback(self, answer_id: str, vote: int, now: datetime, channel: str, user: str = "") -> bool:
        """Keep a 👍 (+1) or 👎 (-1) on a logged answer; the latest vote counts. False for an unknown answer."""
        if not answer_id or vote not in (1, -1):
            return False
        with self._lock:
            self.flush()  # the answer may still be in the buffer
            with self._tx() as conn:
                known = conn.execute("SELECT 1 FROM questions WHERE answer_id = ? LIMIT 1", (answer_id,)).fetchone()
                if known is None:
                    return False
                conn.execute(
                    """INSERT INTO feedback (answer_id, vote, at, channel, user) VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT (answer_id) DO UPDATE SET vote = excluded.vote, at = excluded.at""",
                    (answer_id, vote, _ts(now), channel, user),
                )
        return True

    def feedback_rows(self) -> list[dict[str, Any]]:
        """Every vote with the question and the unit that answered it, newest first."""
        self.flush()
        rows = self._read(
            """SELECT f.answer_id, f.vote, f.at, f.channel, q.question, q.top_source, q.intent
               FROM feedback f JOIN questions q ON q.answer_id = f.answer_id ORDER BY f.at DESC"""
        )
        return [dict(r) for r in rows]

    def stats(self) -> dict[str, Any]:
        """Counts for the admin: questions, fallbacks and their rate, active subscribers per channel."""
        with self._lock:
            self.flush()
            row = self._conn.execute(
                "SELECT COUNT(*) AS n, COALESCE(SUM(fallback), 0) AS f FROM questions WHERE preview = 0"
            ).fetchone()
            subs = self._conn.execute(
                """SELECT channel, COUNT(*) AS n FROM subscriptions WHERE active = 1
                   GROUP BY channel ORDER BY channel"""
            ).fetchall()
        questions, fallbacks = int(row["n"]), int(row["f"])
        return {
            "questions": questions,
            "fallbacks": fallbacks,
            "fallback_rate": fallbacks / questions if questions else 0.0,
            "subscribers": {r["channel"]: int(r["n"]) for r in subs},
        }

    def unanswered(self, limit: int = 20) -> list[tuple[str, int]]:
        """Most frequent questions the bot could not answer: what the knowledge should cover next."""
        self.flush()
        rows = self._read(
            """SELECT question, COUNT(*) AS n, MAX(at) AS last FROM questions
               WHERE fallback = 1 AND preview = 0 AND question != ''
               GROUP BY question ORDER BY n DESC, last DESC, question LIMIT ?""",
            (int(limit),),
        )
        return [(r["question"], int(r["n"])) for r in rows]
