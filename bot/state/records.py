"""Records the platform rules need, mixed into ``Store``: retry replies, nonces, last messages, notices, retention.

* Retry replies (dedupe): WeChat resends a message it got no answer to within 5 s; the first reply
  is kept for a day and given again.

* Nonces: a WeChat plaintext-mode signature covers token, timestamp and nonce but not the body, so a
  captured query string could carry any body. Each (timestamp, nonce) seen is kept with a digest of
  its body for longer than the callback's timestamp window; a reuse with another body is refused,
  WeChat's own retries (same body) are not. In SQLite, so a restart does not forget them.
* Last messages: WeChat delivers a customer-service message only within 48 hours of the user's last
  message, so the time of each user's last message is kept, and only for as long as it matters.
* Notices: things the admins must be told once, not on every send (a template id WeChat refuses).
* Deferred reminders: WeChat refused one for its daily quota (45009); it waits for the next day
  without using one of its attempts, since the platform never took it.
* Retention: ``prune`` deletes what is kept longer than needed, the question log after the days the
  caller passes (BOT_LOG_DAYS).
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from typing import Any

from bot.state.sqltime import day, dt, ts

DEDUPE_TTL = timedelta(days=1)
NONCE_KEEP = timedelta(minutes=10)  # a timestamp up to 5 min ahead stays valid until 5 min after it
LAST_MESSAGE_KEEP = timedelta(hours=48)  # WeChat's customer-service window; older times say nothing more


class PlatformRecords:
    """Nonces, last-message times and one-time notices; Store supplies the connection, lock and transactions."""

    _lock: threading.RLock

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover - Store's
        raise NotImplementedError

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:  # pragma: no cover - Store's
        raise NotImplementedError

    @staticmethod
    def _reminder_dict(row: sqlite3.Row) -> dict[str, Any]:  # pragma: no cover - Store's
        raise NotImplementedError

    def flush(self) -> None:  # pragma: no cover - Store's
        raise NotImplementedError

    # -- retry replies ------------------------------------------------------------------------

    def dedupe_get(self, key: str) -> str | None:
        """The reply already given to this message, so a WeChat retry gets the same answer."""
        rows = self._read("SELECT reply FROM dedupe WHERE key = ?", (key,))
        return rows[0]["reply"] if rows else None

    def dedupe_put(self, key: str, reply: str, now: datetime, user: str = "") -> None:
        """Remember the first reply to a message; old rows go, since WeChat retries within seconds."""
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO dedupe (key, reply, created, user) VALUES (?, ?, ?, ?)",
                (key, reply, ts(now), user),
            )
            conn.execute("DELETE FROM dedupe WHERE created < ?", (ts(now - DEDUPE_TTL),))

    # -- nonces -------------------------------------------------------------------------------

    def remember_nonce(self, channel: str, timestamp: str, nonce: str, body: str, now: datetime) -> bool:
        """Record a (timestamp, nonce) with its body digest; False if it was seen before with another body."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT body FROM nonces WHERE channel = ? AND timestamp = ? AND nonce = ?",
                (channel, timestamp, nonce),
            ).fetchone()
            if row is not None:
                return bool(row["body"] == body)
            conn.execute(
                "INSERT INTO nonces (channel, timestamp, nonce, body, seen) VALUES (?, ?, ?, ?, ?)",
                (channel, timestamp, nonce, body, ts(now)),
            )
            return True

    # -- last messages ------------------------------------------------------------------------

    def touch_user(self, channel: str, user: str, now: datetime) -> None:
        """The user just wrote to the account: their customer-service window starts again."""
        with self._tx() as conn:
            conn.execute(
                """INSERT INTO last_messages (channel, user, at) VALUES (?, ?, ?)
                   ON CONFLICT (channel, user) DO UPDATE SET at = excluded.at
                   WHERE excluded.at > last_messages.at""",
                (channel, user, ts(now)),
            )

    def last_message(self, channel: str, user: str) -> datetime | None:
        """When the user last wrote, if that is still known (kept for 48 hours)."""
        rows = self._read("SELECT at FROM last_messages WHERE channel = ? AND user = ?", (channel, user))
        return dt(rows[0]["at"]) if rows else None

    # -- notices ------------------------------------------------------------------------------

    def note_once(self, key: str, now: datetime) -> bool:
        """Record that something was told; True only the first time, so it is told once."""
        with self._tx() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO notices (key, at) VALUES (?, ?)", (key, ts(now)))
            return cur.rowcount == 1

    def noted(self, key: str) -> bool:
        """Whether note_once(key) happened, in this process or an earlier one."""
        return bool(self._read("SELECT 1 FROM notices WHERE key = ?", (key,)))

    # -- reminders the platform's quota deferred ----------------------------------------------

    def note_reminder(
        self, deadline_id: str, offset: int, channel: str, chat: str, answer: str, *, for_date: date | None = None
    ) -> None:
        """Keep the platform's answer on a reminder that stays pending (a send that raised, retried later)."""
        with self._tx() as conn:
            conn.execute(
                """UPDATE reminders SET answer = ? WHERE deadline_id = ? AND for_date = ? AND offset = ?
                   AND channel = ? AND chat = ? AND status = 'pending'""",
                (answer, deadline_id, day(for_date), offset, channel, chat),
            )

    def deferred_due(self, now: datetime) -> list[dict[str, Any]]:
        """Deferred rows whose retry time has come (a used-up daily quota has been renewed)."""
        rows = self._read(
            """SELECT * FROM reminders WHERE status = 'deferred' AND retry_at <= ?
               ORDER BY retry_at, deadline_id, offset, channel, chat""",
            (ts(now),),
        )
        return [self._reminder_dict(r) for r in rows]

    def reclaim_deferred(
        self, deadline_id: str, offset: int, channel: str, chat: str, now: datetime, *, for_date: date | None = None
    ) -> bool:
        """Claim a deferred row for its next try (no attempt is used: the platform never took it)."""
        with self._tx() as conn:
            cur = conn.execute(
                """UPDATE reminders SET status = 'pending', claimed = ?, retry_at = NULL
                   WHERE deadline_id = ? AND for_date = ? AND offset = ? AND channel = ? AND chat = ?
                     AND status = 'deferred' AND retry_at <= ?""",
                (ts(now), deadline_id, day(for_date), offset, channel, chat, ts(now)),
            )
            return cur.rowcount == 1

    # -- retention ----------------------------------------------------------------------------

    def prune(self, now: datetime, log_days: int) -> dict[str, int]:
        """Delete what is kept longer than needed: questions (and votes on them) after `log_days`, old records."""
        cutoff = ts(now - timedelta(days=max(0, log_days)))
        with self._lock:
            self.flush()
            with self._tx() as conn:
                return {
                    "questions": conn.execute("DELETE FROM questions WHERE at < ?", (cutoff,)).rowcount,
                    "feedback": conn.execute("DELETE FROM feedback WHERE at < ?", (cutoff,)).rowcount,
                    "dedupe": conn.execute("DELETE FROM dedupe WHERE created < ?", (ts(now - DEDUPE_TTL),)).rowcount,
                    "nonces": conn.execute("DELETE FROM nonces WHERE seen < ?", (ts(now - NONCE_KEEP),)).rowcount,
                    "last_messages": conn.execute(
                        "DELETE FROM last_messages WHERE at < ?", (ts(now - LAST_MESSAGE_KEEP),)
                    ).rowcount,
                }

    @staticmethod
    def _forget_records(conn: sqlite3.Connection, channel: str, user: str) -> int:
        """Inside Store.delete_user's transaction: the user's last-message time and votes."""
        return (
            conn.execute("DELETE FROM last_messages WHERE channel = ? AND user = ?", (channel, user)).rowcount
            + conn.execute("DELETE FROM feedback WHERE channel = ? AND user = ?", (channel, user)).rowcount
        )
