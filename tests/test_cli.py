"""Commands staff run by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.cli import main
from bot.state.store import Store


def test_forget_deletes_what_is_kept_about_one_user(tmp_path: Path, capsys) -> None:
    db = tmp_path / "bot.sqlite3"
    now = datetime.now(UTC)
    with Store(db) as store:
        store.subscribe("wechat", "oAsked", "oAsked", now)
        store.log_question(now, "wechat", "oAsked", "我的问题", "deadline", None, None, False)
        store.log_question(now, "wechat", "oOther", "别人的问题", "deadline", None, None, False)
    assert main(["forget", "wechat", "oAsked", "--db", str(db)]) == 0
    assert "2" in capsys.readouterr().out
    with Store(db) as store:
        assert not store.is_subscribed("wechat", "oAsked")
        assert store.stats()["questions"] == 1
