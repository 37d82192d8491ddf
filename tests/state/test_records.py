"""The small records behind the WeChat rules and the privacy promises, on a real SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.state.store import MIGRATIONS, SCHEMA_VERSION, Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "bot.sqlite3"


def test_a_nonce_is_remembered_with_its_body_across_a_restart(db: Path) -> None:
    with Store(db) as s:
        assert s.remember_nonce("wechat", "1714564800", "abc", "body-1", T0)
        assert s.remember_nonce("wechat", "1714564800", "abc", "body-1", T0)  # WeChat's retry
        assert not s.remember_nonce("wechat", "1714564800", "abc", "body-2", T0)
        assert s.remember_nonce("wecom", "1714564800", "abc", "body-2", T0)  # another endpoint
    with Store(db) as s:
        assert not s.remember_nonce("wechat", "1714564800", "abc", "forged", T0 + timedelta(minutes=1))


def test_last_message_times_are_kept_per_channel_and_user(db: Path) -> None:
    with Store(db) as s:
        assert s.last_message("wechat", "o1") is None
        s.touch_user("wechat", "o1", T0)
        s.touch_user("wechat", "o1", T0 + timedelta(hours=2))
        assert s.last_message("wechat", "o1") == T0 + timedelta(hours=2)
        assert s.last_message("wecom", "o1") is None


def test_a_notice_is_noted_once(db: Path) -> None:
    with Store(db) as s:
        assert not s.noted("template-invalid:T1")
        assert s.note_once("template-invalid:T1", T0)
        assert not s.note_once("template-invalid:T1", T0)
    with Store(db) as s:
        assert s.noted("template-invalid:T1") and not s.noted("template-invalid:T2")


def test_questions_older_than_the_retention_are_deleted(db: Path) -> None:
    with Store(db) as s:
        s.log_question(T0 - timedelta(days=200), "wechat", "o1", "很久以前的问题", "fallback", None, None, True)
        s.log_question(T0 - timedelta(days=10), "wechat", "o1", "最近的问题", "fallback", None, None, True)
        s.remember_nonce("wechat", "1", "n", "b", T0 - timedelta(hours=1))
        s.dedupe_put("o1|wechat|1", "答", T0 - timedelta(days=3), user="o1")
        removed = s.prune(T0, log_days=180)
        assert removed["questions"] == 1
        assert s.unanswered() == [("最近的问题", 1)]
        assert s.remember_nonce("wechat", "1", "n", "other", T0)  # the old pair was forgotten
        assert s.dedupe_get("o1|wechat|1") is None


def test_a_users_questions_go_with_the_rest_of_their_data(db: Path) -> None:
    with Store(db) as s:
        s.subscribe("wechat", "o1", "o1", T0)
        s.touch_user("wechat", "o1", T0)
        s.log_question(T0, "wechat", "o1", "我的问题", "deadline", None, None, False)
        s.log_question(T0, "wechat", "o2", "别人的问题", "deadline", None, None, False)
        s.delete_user("wechat", "o1")
        assert s.stats()["questions"] == 1
        assert s.last_message("wechat", "o1") is None
        with s._lock:
            left = [r["question"] for r in s._conn.execute("SELECT question FROM questions")]
        assert left == ["别人的问题"]


def test_preview_questions_are_not_counted(db: Path) -> None:
    with Store(db) as s:
        s.log_question(T0, "web", "s1", "预览的问题", "fallback", None, None, True, preview=True)
        s.log_question(T0, "web", "s1", "真的问题", "fallback", None, None, True)
        assert s.stats()["questions"] == 1 and s.stats()["fallbacks"] == 1
        assert s.unanswered() == [("真的问题", 1)]


def test_a_reminder_keeps_the_path_and_the_platforms_answer(db: Path) -> None:
    with Store(db) as s:
        assert s.claim_reminder("d", 7, "wechat", "o1", T0)
        s.finish_reminder("d", 7, "wechat", "o1", "sent", T0, path="template", answer="0 ok")
        (row,) = s.reminder_rows()
        assert (row["status"], row["path"], row["answer"]) == ("sent", "template", "0 ok")


def test_a_file_of_the_previous_version_is_migrated(db: Path) -> None:
    db.parent.mkdir(parents=True)
    raw = sqlite3.connect(db)
    for statements in MIGRATIONS[:2]:  # the released schema, version 2
        for statement in statements:
            raw.execute(statement)
    raw.execute(
        "INSERT INTO subscriptions (channel, chat, user, created) VALUES ('wechat', 'o1', 'o1', ?)",
        (T0.isoformat(timespec="microseconds"),),
    )
    raw.execute("PRAGMA user_version = 2")
    raw.commit()
    raw.close()
    with Store(db) as s:
        assert s.version == SCHEMA_VERSION
        assert s.last_message("wechat", "o1") == T0  # subscribing was the follower's last message
        assert s.stats()["subscribers"] == {"wechat": 1}
