"""The running process: hot reload of knowledge, keeping the last good snapshot, and the serve loop."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import aiohttp.test_utils
import pytest

from bot.app import Reloader, build_services, serve
from bot.config import load_settings
from bot.core.model import Incoming
from bot.state.store import Store
from tests.conftest import CAMPAIGN_NOW, INTENTS, KNOWLEDGE, ROOT

NOTICE = "gd-2021-quality-month.yaml"


@pytest.fixture
def live(tmp_path: Path):
    """Service over a private copy of the knowledge, so the test can edit it."""
    kdir = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, kdir)
    intents = tmp_path / "intents.yaml"
    shutil.copy(INTENTS, intents)
    settings = load_settings({}, knowledge_dir=kdir, intents_file=intents, db=tmp_path / "bot.sqlite3")
    services = build_services(settings, CAMPAIGN_NOW)
    yield services
    services.store.close()


def phone_answer(services) -> str:
    return services.ask(Incoming("联系电话是多少", "web")).text


async def wait_for(predicate, timeout: float = 8.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()


async def test_good_edit_changes_answers_within_seconds(live) -> None:
    told: list[str] = []
    reloader = Reloader(live, told.append)
    watcher = asyncio.create_task(reloader.watch(interval=0.2))
    try:
        path = live.settings.knowledge_dir / NOTICE
        assert "020-83133733" in phone_answer(live)
        path.write_text(path.read_text(encoding="utf-8").replace("83133733", "83139999"), encoding="utf-8")
        assert await wait_for(lambda: "020-83139999" in phone_answer(live))
        assert await wait_for(lambda: bool(told)), "staff were not told of the reload"  # told just after the swap
        assert "重新加载" in told[-1] and "失败" not in told[-1]
    finally:
        watcher.cancel()


async def test_broken_edit_keeps_old_answers_and_tells_admins(live) -> None:
    told: list[str] = []
    reloader = Reloader(live, told.append)
    watcher = asyncio.create_task(reloader.watch(interval=0.2))
    try:
        version = live.engine.version
        path = live.settings.knowledge_dir / NOTICE
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("83133733", "83139999").replace("date: 2021-09-30", "date: 下周", 1), encoding="utf-8")
        assert await wait_for(lambda: bool(told))
        assert "失败" in told[-1] and f"{NOTICE}:" in told[-1] and "deadlines[0].date" in told[-1]
        assert live.engine.version == version
        assert "020-83133733" in phone_answer(live)  # still the last good knowledge
        assert reloader.last is not None and not reloader.last.ok
    finally:
        watcher.cancel()


async def test_reload_on_demand_reports_problems(live) -> None:
    path = live.settings.knowledge_dir / NOTICE
    path.write_text("document: [unclosed\n", encoding="utf-8")
    result = await Reloader(live).reload()
    assert not result.ok
    assert any(p.startswith(f"{NOTICE}:") or f"/{NOTICE}:" in p for p in result.problems)
    assert "9月30日" in live.ask(Incoming("总结几时交", "web")).text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_serve_answers_on_defaults_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    settings = load_settings({}, port=port, db=tmp_path / "data" / "bot.sqlite3")
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, CAMPAIGN_NOW, stop))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
                        health = await r.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            assert health["status"] == "ok" and health["projects"] == 6
            async with session.post(f"http://127.0.0.1:{port}/api/ask", json={"text": "总结材料什么时候交"}) as r:
                body = await r.json()
            assert "9月30日" in body["answer"] and body["deadlines"][0]["days_left"] == 5
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert (tmp_path / "data" / "bot.sqlite3").exists()


async def wait_health(session: aiohttp.ClientSession, port: int) -> dict:
    for _ in range(200):
        try:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
                return await r.json()
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)
    raise AssertionError("server did not come up")


async def test_healthz_says_degraded_after_a_broken_reload_until_a_good_one(live) -> None:
    from bot.app import create_app

    reloader = Reloader(live)
    live.reload = reloader.reload
    server = aiohttp.test_utils.TestServer(create_app(live))
    async with aiohttp.test_utils.TestClient(server) as client:
        assert (await (await client.get("/healthz")).json())["status"] == "ok"
        path = live.settings.knowledge_dir / NOTICE
        good = path.read_text(encoding="utf-8")
        path.write_text(good.replace("date: 2021-09-30", "date: 下周", 1), encoding="utf-8")
        await reloader.reload()
        health = await (await client.get("/healthz")).json()
        assert health["status"] == "degraded"
        assert f"{NOTICE}:" in health["error"] and "deadlines[0].date" in health["error"]
        path.write_text(good, encoding="utf-8")
        await reloader.reload()
        assert (await (await client.get("/healthz")).json())["status"] == "ok"


async def test_a_broken_file_at_start_up_serves_the_last_good_knowledge(tmp_path: Path) -> None:
    kdir = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, kdir)
    intents = tmp_path / "intents.yaml"
    shutil.copy(INTENTS, intents)
    port = free_port()
    settings = load_settings({}, port=port, knowledge_dir=kdir, intents_file=intents, db=tmp_path / "data" / "bot.sqlite3")
    async with aiohttp.ClientSession() as session:
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, CAMPAIGN_NOW, stop))  # a good start keeps a copy
        assert (await wait_health(session, port))["status"] == "ok"
        stop.set()
        await asyncio.wait_for(task, 10)
        path = kdir / NOTICE
        path.write_text(path.read_text(encoding="utf-8").replace("83133733", "83139999").replace("date: 2021-09-30", "date: 下周", 1), encoding="utf-8")
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, CAMPAIGN_NOW, stop))
        try:
            health = await wait_health(session, port)
            assert health["status"] == "degraded"
            assert f"{NOTICE}:" in health["error"] and "deadlines[0].date" in health["error"]
            async with session.post(f"http://127.0.0.1:{port}/api/ask", json={"text": "联系电话是多少"}) as r:
                assert "020-83133733" in (await r.json())["answer"]  # the last good knowledge answers
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


def run_serve(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "run_bot.py"), "serve", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_a_busy_port_is_one_line_naming_the_port_and_the_way_out(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_serve("--port", str(port), "--db", str(tmp_path / "bot.sqlite3"), cwd=tmp_path)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if "INFO" not in line]
    assert len(lines) == 1, done.stderr
    assert str(port) in lines[0] and "占用" in lines[0] and "PORT=" in lines[0]
    assert "Traceback" not in done.stderr


def test_broken_knowledge_without_a_good_copy_exits_with_the_check_messages(tmp_path: Path) -> None:
    kdir = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, kdir)
    path = kdir / NOTICE
    path.write_text(path.read_text(encoding="utf-8").replace("date: 2021-09-30", "date: 下周", 1), encoding="utf-8")
    common = ["--knowledge", str(kdir), "--intents", str(INTENTS), "--db", str(tmp_path / "data" / "bot.sqlite3")]
    check = subprocess.run(
        [sys.executable, str(ROOT / "run_bot.py"), "check", *common], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    done = run_serve("--port", str(free_port()), *common, cwd=tmp_path)
    assert done.returncode == 1 and check.returncode == 1
    problem = next(line for line in check.stderr.splitlines() if "deadlines[0].date" in line)
    assert problem in done.stderr
    assert "Traceback" not in done.stderr


async def test_the_server_deletes_questions_older_than_the_retention(tmp_path: Path) -> None:
    db = tmp_path / "data" / "bot.sqlite3"
    real = datetime.now(UTC)
    with Store(db) as store:
        store.log_question(real - timedelta(days=200), "web", "s1", "半年前的问题", "fallback", None, None, True)
        store.log_question(real - timedelta(days=5), "web", "s1", "上周的问题", "fallback", None, None, True)
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(load_settings({"BOT_LOG_DAYS": "180"}, port=port, db=db), CAMPAIGN_NOW, stop))
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    with Store(db) as store:
        assert store.unanswered() == [("上周的问题", 1)]
