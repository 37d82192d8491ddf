"""Commands staff run by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bot.cli import main
from bot.state.store import Store
from tests.conftest import ROOT


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


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "run_bot.py"), *args], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=300
    )


def test_jsonl_lines_of_one_chat_are_one_conversation(tmp_path: Path) -> None:
    lines = [
        {"text": "第3个观摩项目是什么", "chat": "a"},
        {"text": "联系人是谁", "chat": "b"},
        {"text": "下一个呢", "chat": "a"},
        {"text": "他的邮箱呢", "chat": "b"},
        "下一个呢",  # a plain line stands alone
    ]
    stdin = "\n".join(json.dumps(x, ensure_ascii=False) if isinstance(x, dict) else x for x in lines) + "\n"
    done = run("ask", "--jsonl", "--now", "2021-09-20T10:00", "--db", str(tmp_path / "bot.sqlite3"), stdin=stdin)
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o.get("chat") for o in out] == ["a", "b", "a", "b", None]
    assert "新华医院" in out[2]["answer"] and "jt-zac@gd.gov.cn" in out[3]["answer"]
    assert out[4]["fallback"]


def test_eval_scores_every_set_the_project_keeps_each_with_its_clock() -> None:
    done = run("eval")
    assert done.returncode == 0, done.stdout + done.stderr
    specs = yaml.safe_load((ROOT / "tests" / "data" / "eval_sets.yaml").read_text(encoding="utf-8"))
    for spec in specs:
        assert f"{spec['file']}: " in done.stdout and "BELOW" not in done.stdout


def test_eval_plays_a_dialogue_file_in_one_conversation(tmp_path: Path) -> None:
    cases = [
        {"id": "x1", "turns": ["联系人是谁", "他的邮箱呢"], "expect": ["jt-zac@gd.gov.cn"]},
        {"id": "x2", "turns": ["深圳有哪些观摩项目", "那揭阳呢"], "expect": ["保利"], "forbid": ["锦龙苑"]},
    ]
    path = tmp_path / "dialogues.yaml"
    path.write_text(yaml.safe_dump(cases, allow_unicode=True), encoding="utf-8")
    done = run("eval", str(path), "--now", "2021-09-20T10:00")
    assert done.returncode == 0 and "2/2 passed" in done.stdout, done.stdout


def _logged_store(db: Path) -> None:
    now = datetime.now(UTC)
    with Store(db) as store:
        for text, declined in (("主题是什么", False), ("主题是什么", False), ("食堂几点开饭", True)):
            store.log_question(now, "web", "s1", text, "theme", None, None, declined)
        joined = datetime(2021, 9, 1, tzinfo=UTC)  # before the 2021 deadline's reminders
        store.subscribe("wechat", "oA", "oA", joined)
        store.subscribe("telegram", "42", "42", joined)


def test_stats_prints_a_table_with_percentages_and_json_on_request(tmp_path: Path, capsys) -> None:
    db = tmp_path / "bot.sqlite3"
    _logged_store(db)
    assert main(["stats", "--db", str(db)]) == 0
    table = capsys.readouterr().out
    assert "{" not in table
    lines = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    assert lines["提问总数"].split()[-1] == "3"
    assert "2（67%）" in lines["已回答"] and "1（33%）" in lines["未能回答"]
    assert lines["微信公众号"].split()[-1] == "1" and lines["Telegram"].split()[-1] == "1"
    assert main(["stats", "--db", str(db), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["questions"] == 3 and data["fallbacks"] == 1 and data["subscribers"] == {"telegram": 1, "wechat": 1}


def test_unanswered_lists_counts_in_chinese_or_json(tmp_path: Path, capsys) -> None:
    db = tmp_path / "bot.sqlite3"
    assert main(["unanswered", "--db", str(db)]) == 0
    assert "没有未能回答的问题" in capsys.readouterr().out
    _logged_store(db)
    assert main(["unanswered", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "次数" in out and "食堂几点开饭" in out and "主题是什么" not in out
    assert main(["unanswered", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"question": "食堂几点开饭", "count": 1}]


def test_the_reminder_schedule_reads_in_chinese(tmp_path: Path, capsys) -> None:
    db = tmp_path / "bot.sqlite3"
    _logged_store(db)
    assert main(["reminders", "--db", str(db), "--now", "2021-09-20T08:00:00+08:00"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "2021-09-23 09:00  计划中  summary-report（提前 7 天）  微信公众号 oA" in lines
    assert "2021-09-30 09:00  计划中  summary-report（当天）  Telegram 42" in lines
