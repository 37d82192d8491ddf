"""`run_bot.py reminders send` killed mid-run, as cron would run it: each subscriber still gets each reminder once.

Real processes: the command runs as a subprocess and talks HTTP to the fake Bot API in this test's
event loop (tests/fakes/bot_api.py), which answers sendMessage slowly, counts what reached each chat,
and SIGKILLs the sender while a message is in flight.

The promise under test is the policy written in bot/reminders.py: a reminder is claimed as a
``pending`` row before the platform is called; a row left pending by a dead run is retried ONCE,
and only after it has been pending for ``stale_after`` (5 minutes), so a restart within those
minutes does not touch it. A message the platform accepted just before the kill may therefore
arrive twice, never more; one lost in transit arrives exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from bot.config import ROOT
from bot.state.reminders import STALE_AFTER
from bot.state.store import Store
from tests.fakes.bot_api import TOKEN, FakeBotApi, _params

SH = ZoneInfo("Asia/Shanghai")
CHATS = [str(5001 + i) for i in range(8)]
SUBSCRIBED = datetime(2021, 9, 1, 10, 0, tzinfo=SH)  # long before the first (7-day) send time
SEVEN_DAYS = "2021-09-23T09:30:00+08:00"  # 7 days before the 9月30日 deadline
TEN_MINUTES_LATER = "2021-09-23T09:40:00+08:00"  # past stale_after, still the 7-day window
RUN_TIMEOUT = 30.0
SLOW = 0.3  # seconds the fake Bot API takes per sendMessage during the crash

assert STALE_AFTER.total_seconds() < 10 * 60, (
    "the restart times below assume a 5-minute stale_after"
)


def offset_of(text: str) -> int:
    """Which reminder a message is, read the way the subscriber reads it."""
    if "今天截止" in text:
        return 0
    found = re.search(r"还有(\d+)天", text)
    assert found, text
    return int(found.group(1))


class SlowBotApi(FakeBotApi):
    """The recording fake, with a slow sendMessage and a hook when a message arrives.

    mode "lost": the message is accepted only after the delay, and only if the sender is still
    connected (a kill during the delay loses it in transit). mode "accepted": the message is
    accepted at once and the answer is slow (a kill then is after delivery, before the sender
    could record it).
    """

    def __init__(self) -> None:
        super().__init__()
        self.delay = 0.0
        self.mode = "lost"
        self.arrivals: list[str] = []
        self.lost: list[str] = []
        self.on_arrival: Callable[[int, str], None] | None = None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["method"] != "sendMessage":
            return await super()._dispatch(request)
        params = await _params(request)
        chat = str(params.get("chat_id"))
        self.arrivals.append(chat)
        accepted = None
        if self.mode == "accepted":
            accepted = await self._api_sendMessage(params)
        if self.on_arrival is not None:
            self.on_arrival(len(self.arrivals), chat)
        await asyncio.sleep(self.delay)
        if accepted is not None:
            return accepted
        if request.transport is None or request.transport.is_closing():
            self.lost.append(chat)
            return web.Response(status=499)
        return await self._api_sendMessage(params)

    def per_chat(self, offset: int) -> Counter[str]:
        return Counter(s.chat_id for s in self.sent if offset_of(s.text) == offset)


@pytest.fixture
async def api() -> AsyncIterator[SlowBotApi]:
    fake = SlowBotApi()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A bot database with 8 Telegram subscribers and some history that must survive the kills."""
    path = tmp_path / "data" / "bot.sqlite3"
    with Store(path) as store:
        for chat in CHATS:
            assert store.subscribe("telegram", chat, f"user{chat}", SUBSCRIBED)
        for n in range(5):
            store.log_question(
                SUBSCRIBED, "telegram", CHATS[n], f"问题{n}", "deadline", "u1", 0.9, False
            )
    return path


class Cli:
    """`python run_bot.py ...` against one database and the fake Bot API; never leaves a process behind."""

    def __init__(self, db: Path, api: SlowBotApi) -> None:
        self.db = db
        self.api = api
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
        env.update(
            BOT_DB=str(db),
            BOT_TELEGRAM_TOKEN=TOKEN,
            BOT_TELEGRAM_API_URL=api.base_url,
            PYTHONUNBUFFERED="1",
        )
        self.env = env
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "run_bot.py",
            *args,
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self.procs.append(proc)
        return proc

    async def finish(self, proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
        try:
            out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise AssertionError(f"run_bot.py did not finish within {RUN_TIMEOUT}s") from None
        return proc.returncode or 0, out.decode(), err.decode()

    async def run(self, *args: str) -> str:
        code, out, err = await self.finish(await self.start(*args))
        assert code == 0, f"run_bot.py {' '.join(args)} exited {code}:\n{err[-3000:]}"
        return out

    async def send(self, now: str) -> dict[str, int]:
        """One cron run; its one-line JSON report."""
        out = await self.run("reminders", "send", "--json", "--now", now)
        return json.loads(out.strip().splitlines()[-1])

    async def send_and_kill_at(self, now: str, arrival: int) -> tuple[int, str]:
        """Start a send and SIGKILL it the moment the `arrival`-th message reaches the Bot API."""
        proc = await self.start("reminders", "send", "--now", now)
        killed: list[str] = []

        def kill(n: int, chat: str) -> None:
            if n == arrival and proc.returncode is None:
                os.kill(proc.pid, signal.SIGKILL)
                killed.append(chat)

        self.api.on_arrival = kill
        try:
            code, _, err = await self.finish(proc)
        finally:
            self.api.on_arrival = None
        assert killed, f"the run ended before message {arrival} was sent:\n{err[-2000:]}"
        assert code == -signal.SIGKILL
        await asyncio.sleep(self.api.delay + 0.2)  # let the fake finish with the in-flight request
        return code, killed[0]

    async def close(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@pytest.fixture
async def cli(db: Path, api: SlowBotApi) -> AsyncIterator[Cli]:
    runner = Cli(db, api)
    try:
        yield runner
    finally:
        await runner.close()


def sql(db: Path, query: str) -> list[tuple]:
    """What an operator sees with the sqlite3 shell (a fresh connection, as after a crash)."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def assert_database_intact(db: Path) -> None:
    assert sql(db, "PRAGMA integrity_check") == [("ok",)]
    assert sql(
        db, "SELECT COUNT(*) FROM subscriptions WHERE channel = 'telegram' AND active = 1"
    ) == [(8,)]
    assert sql(db, "SELECT COUNT(*) FROM questions") == [(5,)]


def reminder_rows(db: Path, offset: int) -> dict[str, tuple[str, int]]:
    rows = sql(db, f"SELECT chat, status, attempts FROM reminders WHERE offset = {offset}")
    return {chat: (status, attempts) for chat, status, attempts in rows}


async def test_killed_mid_run_every_subscriber_gets_the_reminder_once(
    cli: Cli, api: SlowBotApi, db: Path
) -> None:
    # 1. The 7-day run dies while the third message is on its way (lost in transit).
    api.delay, api.mode = SLOW, "lost"
    _, in_flight = await cli.send_and_kill_at(SEVEN_DAYS, arrival=3)
    delivered = api.per_chat(7)
    assert delivered == Counter({CHATS[0]: 1, CHATS[1]: 1}), (
        "two messages reached the users before the kill"
    )
    assert in_flight == CHATS[2] and api.lost == [CHATS[2]]
    assert_database_intact(db)
    rows = reminder_rows(db, 7)
    assert rows == {CHATS[0]: ("sent", 1), CHATS[1]: ("sent", 1), CHATS[2]: ("pending", 1)}

    # The operator's schedule shows the interrupted reminder as pending.
    listing = await cli.run("reminders", "--now", "2021-09-23T09:31:00+08:00")
    assert re.search(rf"发送中\s+summary-report（提前 7 天）\s+Telegram {CHATS[2]}$", listing, re.M), listing

    # 2. Restarted at once (cron's next minute): the rest are sent; the pending one is left alone,
    #    because it is younger than stale_after and its run might still be going.
    api.delay = 0.05
    report = await cli.send(SEVEN_DAYS)
    assert report["sent"] == 5 and report["retried"] == 0 and report["failed"] == 0
    assert api.per_chat(7) == Counter({c: 1 for c in CHATS if c != in_flight})
    assert reminder_rows(db, 7)[in_flight] == ("pending", 1)

    # 3. Ten minutes later the stale claim is retried once: now everyone has exactly one.
    report = await cli.send(TEN_MINUTES_LATER)
    assert report["retried"] == 1 and report["sent"] == 1
    assert api.per_chat(7) == Counter({c: 1 for c in CHATS})
    assert reminder_rows(db, 7) == {c: ("sent", 2 if c == in_flight else 1) for c in CHATS}
    assert (await cli.send(TEN_MINUTES_LATER))["sent"] == 0
    assert api.per_chat(7) == Counter({c: 1 for c in CHATS})
    assert_database_intact(db)

    # 4. Each later offset: twice per day (a repeated cron run), one message per chat.
    api.delay = 0.0
    for day, offset in [("27", 3), ("29", 1), ("30", 0)]:
        now = f"2021-09-{day}T09:30:00+08:00"
        first, second = await cli.send(now), await cli.send(now)
        assert first["sent"] == 8 and second["sent"] == 0, (day, first, second)
        assert api.per_chat(offset) == Counter({c: 1 for c in CHATS}), day
    # 5. After the deadline day nothing more is sent.
    before = len(api.sent)
    assert (await cli.send("2021-10-01T09:30:00+08:00"))["sent"] == 0
    assert len(api.sent) == before == 8 * 4
    assert [offset_of(s.text) for s in api.sent if s.chat_id == CHATS[5]] == [7, 3, 1, 0]

    # The database lost nothing and every reminder is recorded as sent.
    assert_database_intact(db)
    assert sql(db, "SELECT status, COUNT(*) FROM reminders GROUP BY status") == [("sent", 32)]

    # The operator's schedule lists every chat with every offset.
    listing = await cli.run("reminders", "--now", "2021-09-30T10:00:00+08:00")
    for chat in CHATS:
        for offset in (7, 3, 1, 0):
            ahead = f"提前 {offset} 天" if offset else "当天"
            assert re.search(rf"已发送\s+summary-report（{ahead}）\s+Telegram {chat}$", listing, re.M), (
                chat,
                offset,
            )
    assert len(listing.strip().splitlines()) == 32


async def test_killed_after_the_platform_accepted_sends_that_one_at_most_twice(
    cli: Cli, api: SlowBotApi, db: Path
) -> None:
    # The third message is delivered, but the sender dies before it hears back.
    api.delay, api.mode = SLOW, "accepted"
    _, in_flight = await cli.send_and_kill_at(SEVEN_DAYS, arrival=3)
    assert api.per_chat(7) == Counter({CHATS[0]: 1, CHATS[1]: 1, CHATS[2]: 1})
    assert reminder_rows(db, 7)[in_flight] == ("pending", 1)
    assert_database_intact(db)

    api.delay = 0.05
    report = await cli.send(TEN_MINUTES_LATER)
    assert report["retried"] == 1 and report["sent"] == 6
    # the documented exception: the one in-flight message may arrive twice; everyone else once
    assert api.per_chat(7) == Counter({c: 2 if c == in_flight else 1 for c in CHATS})
    # ...and never a third time, however often cron runs
    for later in ("2021-09-23T09:50:00+08:00", "2021-09-23T12:00:00+08:00"):
        assert (await cli.send(later))["sent"] == 0
    assert max(api.per_chat(7).values()) == 2
    assert reminder_rows(db, 7) == {c: ("sent", 2 if c == in_flight else 1) for c in CHATS}
    assert_database_intact(db)
