"""Store: what survives a restart, what an admin sees, what a leaving user takes with them."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.state.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreError

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2021, 9, 1, 10, 0, tzinfo=SH)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "state" / "bot.sqlite3"


@pytest.fixture
def store(db):
    s = Store(db)
    yield s
    s.close()


# -- file, schema, migrations -----------------------------------------------------------------


def test_fresh_file_is_created_in_wal_mode_at_latest_version(db):
    assert not db.parent.exists()
    with Store(db) as s:
        assert s.version == SCHEMA_VERSION >= 2
    assert db.is_file()
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        raw.close()
    assert {"subscriptions", "dedupe", "questions", "reminders"} <= tables


def test_existing_version_1_file_is_migrated_and_keeps_its_data(db):
    db.parent.mkdir(parents=True)
    raw = sqlite3.connect(db)
    for statement in MIGRATIONS[0]:
        raw.execute(statement)
    raw.execute(
        "INSERT INTO subscriptions (channel, chat, user, created) VALUES (?, ?, ?, ?)",
        ("telegram", "42", "alice", T0.astimezone(UTC).isoformat()),
    )
    raw.execute(
        "INSERT INTO questions (at, channel, question, fallback) VALUES (?, 'web', '天气', 1)",
        (T0.astimezone(UTC).isoformat(),),
    )
    raw.execute("PRAGMA user_version = 1")
    raw.commit()
    raw.close()

    with Store(db) as s:
        assert s.version == SCHEMA_VERSION
        assert [(x.channel, x.chat, x.user) for x in s.subscribers()] == [
            ("telegram", "42", "alice")
        ]
        assert s.subscribers()[0].created == T0
        assert s.unanswered() == [("天气", 1)]
        # the table added by migration 2 works
        assert s.claim_reminder("d", 7, "telegram", "42", T0)
        s.dedupe_put("oX:1", "答", T0, user="oX")
        assert s.dedupe_get("oX:1") == "答"

    with Store(db) as s:  # opening again is a no-op
        assert s.version == SCHEMA_VERSION
        assert len(s.reminder_rows()) == 1


def test_file_from_a_newer_bot_is_refused(db):
    db.parent.mkdir(parents=True)
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer"):
        Store(db)


def test_in_memory_store_works():
    with Store(":memory:") as s:
        assert s.subscribe("web", "c", "u", T0)
        assert s.is_subscribed("web", "c")


def test_state_survives_reopening(db):
    with Store(db) as s:
        s.subscribe("telegram", "1", "u1", T0)
        s.claim_reminder("d", 3, "telegram", "1", T0)
        s.log_question(T0, "telegram", "u1", "截止", "deadline", "d", 0.9, False)
    with Store(db) as s:
        assert s.is_subscribed("telegram", "1")
        assert not s.claim_reminder("d", 3, "telegram", "1", T0 + timedelta(days=1))
        assert s.stats()["questions"] == 1


def test_naive_datetime_is_refused(store):
    with pytest.raises(ValueError, match="aware"):
        store.subscribe("web", "c", "u", datetime(2021, 9, 1, 9, 0))


# -- dedupe -----------------------------------------------------------------------------------


def test_dedupe_keeps_the_first_reply_and_forgets_after_a_day(store):
    assert store.dedupe_get("oA:100") is None
    store.dedupe_put("oA:100", "第一次的回答", T0)
    store.dedupe_put("oA:100", "重试时的另一个回答", T0 + timedelta(seconds=5))
    assert store.dedupe_get("oA:100") == "第一次的回答"

    store.dedupe_put("oB:200", "x", T0 + timedelta(days=1, minutes=1))
    assert store.dedupe_get("oA:100") is None
    assert store.dedupe_get("oB:200") == "x"


# -- subscriptions ----------------------------------------------------------------------------


def test_subscribe_unsubscribe_and_resubscribe(store):
    assert store.subscribe("telegram", "42", "alice", T0) is True
    assert store.subscribe("telegram", "42", "alice", T0 + timedelta(hours=1)) is False
    assert store.is_subscribed("telegram", "42")
    assert not store.is_subscribed("wechat", "42")  # channels are separate
    [sub] = store.subscribers()
    assert sub.created == T0  # a repeated /subscribe does not move the start

    assert store.unsubscribe("telegram", "42") is True
    assert store.unsubscribe("telegram", "42") is False
    assert not store.is_subscribed("telegram", "42")
    assert store.subscribers() == []

    later = T0 + timedelta(days=3)
    assert store.subscribe("telegram", "42", "alice", later) is True
    assert store.subscribers()[0].created == later


def test_unsubscribe_of_unknown_chat_is_false(store):
    assert store.unsubscribe("web", "nobody") is False


def test_deactivate_stops_reminders_until_the_user_subscribes_again(store):
    store.subscribe("telegram", "1", "a", T0)
    store.subscribe("telegram", "2", "b", T0)
    store.subscribe("wechat", "oC", "oC", T0)
    store.deactivate("telegram", "1", "blocked")
    assert [s.chat for s in store.subscribers("telegram")] == ["2"]
    assert [s.chat for s in store.subscribers()] == ["2", "oC"]
    assert store.stats()["subscribers"] == {"telegram": 1, "wechat": 1}
    assert store.subscribe("telegram", "1", "a", T0 + timedelta(days=1)) is True
    assert store.stats()["subscribers"] == {"telegram": 2, "wechat": 1}


def test_delete_user_removes_everything_personal(store):
    store.subscribe("wechat", "oUser", "oUser", T0)
    store.subscribe("wechat", "oOther", "oOther", T0)
    store.subscribe("telegram", "oUser", "oUser", T0)  # same id on another channel stays
    store.claim_reminder("d", 7, "wechat", "oUser", T0)
    store.log_question(T0, "wechat", "oUser", "几时截止", "deadline", "d", 0.8, False)
    store.log_question(T0, "wechat", "oOther", "电话", "contact", "c", 0.8, False)
    store.dedupe_put("oUser|wechat|1632900000", "reply", T0)  # key built from FromUserName + MsgId
    store.dedupe_put("oOther:1", "reply", T0, user="oOther")

    changed = store.delete_user("wechat", "oUser")

    assert changed >= 4
    assert not store.is_subscribed("wechat", "oUser")
    assert store.is_subscribed("wechat", "oOther")
    assert store.is_subscribed("telegram", "oUser")
    assert [r["chat"] for r in store.reminder_rows()] == []
    assert store.dedupe_get("oUser|wechat|1632900000") is None
    assert store.dedupe_get("oOther:1") == "reply"
    users = [r[0] for r in store._read("SELECT user FROM questions ORDER BY id")]
    assert users == ["oOther"]  # the user's questions went with the rest of their data
    assert store.stats()["questions"] == 1
    assert store.delete_user("wechat", "oUser") == 0


# -- reminders rows ---------------------------------------------------------------------------


def test_claim_is_exclusive_and_finish_records_the_outcome(store):
    assert store.claim_reminder("d", 7, "telegram", "1", T0, for_date=date(2021, 9, 30))
    assert not store.claim_reminder("d", 7, "telegram", "1", T0, for_date=date(2021, 9, 30))
    # another date of the same deadline is another reminder
    assert store.claim_reminder("d", 7, "telegram", "1", T0, for_date=date(2021, 10, 15))
    [row] = [r for r in store.reminder_rows() if r["for_date"] == date(2021, 9, 30)]
    assert row["status"] == "pending"

    store.finish_reminder("d", 7, "telegram", "1", "sent", T0, for_date=date(2021, 9, 30))
    store.finish_reminder("d", 7, "telegram", "1", "failed", T0, for_date=date(2021, 9, 30))
    [row] = [r for r in store.reminder_rows() if r["for_date"] == date(2021, 9, 30)]
    assert row["status"] == "sent"  # a finished row is not rewritten
    assert row["finished"] == T0

    with pytest.raises(ValueError, match="outcome"):
        store.finish_reminder("d", 3, "telegram", "1", "maybe", T0)


def test_finish_without_claim_records_a_skip_that_blocks_later_claims(store):
    store.finish_reminder("d", 7, "telegram", "1", "skipped", T0)
    assert not store.claim_reminder("d", 7, "telegram", "1", T0)
    assert store.reminder_rows()[0]["status"] == "skipped"


def test_stale_pending_row_can_be_reclaimed_once(store):
    store.claim_reminder("d", 1, "telegram", "1", T0)
    assert store.stale_pending(T0) == []
    later = T0 + timedelta(minutes=10)
    [row] = store.stale_pending(later)
    assert row["attempts"] == 1
    assert store.reclaim_reminder("d", 1, "telegram", "1", later, stale_before=later)
    # just reclaimed: not stale any more, so a concurrent run cannot take it too
    assert not store.reclaim_reminder("d", 1, "telegram", "1", later, stale_before=later)
    much_later = later + timedelta(minutes=10)
    assert not store.reclaim_reminder("d", 1, "telegram", "1", much_later, stale_before=much_later)
    assert store.reminder_rows()[0]["attempts"] == 2


# -- question log -----------------------------------------------------------------------------


def test_stats_and_unanswered(store):
    assert store.stats() == {
        "questions": 0,
        "fallbacks": 0,
        "fallback_rate": 0.0,
        "subscribers": {},
    }
    asked = [
        ("几时截止", False),
        ("今天天气怎么样", True),
        ("今天天气怎么样", True),
        ("今天天气怎么样 ", True),
        ("食堂几点开饭", True),
        ("联系电话", False),
    ]
    for i, (q, fallback) in enumerate(asked):
        store.log_question(
            T0 + timedelta(minutes=i),
            "web",
            f"u{i}",
            q,
            "x",
            None,
            None if fallback else 0.7,
            fallback,
        )
    store.subscribe("web", "c1", "u1", T0)
    stats = store.stats()
    assert stats["questions"] == 6
    assert stats["fallbacks"] == 4
    assert stats["fallback_rate"] == pytest.approx(4 / 6)
    assert stats["subscribers"] == {"web": 1}
    assert store.unanswered() == [("今天天气怎么样", 3), ("食堂几点开饭", 1)]
    assert store.unanswered(limit=1) == [("今天天气怎么样", 3)]


def test_concurrent_writers_from_threads_lose_nothing(store):
    def worker(n: int) -> None:
        for i in range(50):
            store.log_question(T0, "web", f"t{n}", f"q{i}", "x", None, None, i % 2 == 0)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.stats()["questions"] == 200
    assert store.stats()["fallbacks"] == 100


def test_a_failing_migration_leaves_the_file_at_its_old_version(db, monkeypatch):
    import bot.state.store as store_module

    with Store(db) as s:
        s.subscribe("telegram", "1", "a", T0)
    broken = [*MIGRATIONS, ["CREATE TABLE extra (x INTEGER)", "THIS IS NOT SQL"]]
    monkeypatch.setattr(store_module, "MIGRATIONS", broken)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", len(broken))
    with pytest.raises(sqlite3.OperationalError):
        Store(db)
    monkeypatch.undo()

    with Store(db) as s:
        assert s.version == SCHEMA_VERSION
        assert s.is_subscribed("telegram", "1")
        tables = {r[0] for r in s._read("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "extra" not in tables  # the half-applied step was rolled back


# -- buffered question log --------------------------------------------------------------------


def _rows_on_disk(db) -> int:
    raw = sqlite3.connect(db)
    try:
        return raw.execute("SELECT COUNT(*) FROM questions").fetchone()[0]
    finally:
        raw.close()


def test_question_log_is_written_within_about_a_second(store, db):
    import time

    from bot.state.store import QUESTION_FLUSH_SECONDS

    store.log_question(T0, "web", "u", "几时截止", "deadline", "d", 0.9, False)
    assert _rows_on_disk(db) == 0  # buffered, not yet a transaction of its own
    deadline = time.monotonic() + QUESTION_FLUSH_SECONDS + 5
    while _rows_on_disk(db) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _rows_on_disk(db) == 1


def test_question_log_is_written_in_batches_and_on_close(db):
    from bot.state.store import QUESTION_FLUSH_ROWS

    s = Store(db)
    for i in range(QUESTION_FLUSH_ROWS):
        s.log_question(T0, "web", "u", f"q{i}", "x", None, None, False)
    assert _rows_on_disk(db) == QUESTION_FLUSH_ROWS  # a full batch is written at once
    s.log_question(T0, "web", "u", "last", "x", None, None, True)
    s.close()
    assert _rows_on_disk(db) == QUESTION_FLUSH_ROWS + 1


def test_buffered_questions_count_in_stats_and_unanswered(store):
    store.log_question(T0, "web", "u", "食堂几点开饭", "fallback", None, None, True)
    assert store.stats()["questions"] == 1
    assert store.unanswered() == [("食堂几点开饭", 1)]


def test_naive_time_in_question_log_is_refused_at_once(store):
    with pytest.raises(ValueError, match="aware"):
        store.log_question(datetime(2021, 9, 1, 9, 0), "web", "u", "q", "x", None, None, False)


def test_forgetting_one_user_keeps_a_user_whose_id_starts_the_same(tmp_path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = datetime(2021, 9, 20, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    with Store(tmp_path / "s.sqlite3") as store:
        store.dedupe_put("abc|wecom|1", "reply one", now)
        store.dedupe_put("abcd|wecom|2", "reply two", now)
        store.delete_user("wecom", "abc")
        assert store.dedupe_get("abc|wecom|1") is None
        assert store.dedupe_get("abcd|wecom|2") == "reply two"
