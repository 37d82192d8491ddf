"""Wiring: one process, one event loop: the aiohttp server, Telegram, reminders and knowledge reload."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.http import GuardedSite
from bot.channels.http import install as install_http
from bot.config import ROOT, Settings
from bot.core.engine import Engine
from bot.core.model import Deadline
from bot.knowledge.check import KnowledgeError
from bot.knowledge.load import load_knowledge
from bot.service import Service, load_engine
from bot.state.delivery import ReminderMessage
from bot.state.index_cache import IndexCache
from bot.state.last_good import LastGood
from bot.state.reminders import ReminderLoop, Sender, send_due
from bot.state.store import Store

if TYPE_CHECKING:
    from telegram import Bot

log = logging.getLogger(__name__)
WATCH_INTERVAL = 2.0  # seconds between looks at the knowledge files' modification times
HOUSEKEEPING_INTERVAL = 600.0  # seconds between retention sweeps of the question log and replay records
LOAD_TIMEOUT = 60.0  # seconds reading and checking the knowledge files may take in a reload
SHUTDOWN_GRACE = 3.0  # seconds in-flight requests get after SIGTERM
EXIT_DEADLINE = 4.5  # seconds after SIGTERM when the process exits whatever is still running


def make_clock(settings: Settings, fixed: datetime | None) -> Callable[[], datetime]:
    """The real time in the bot's zone, or a fixed time for demos, previews and tests."""
    if fixed is not None:
        return lambda: fixed
    return lambda: datetime.now(settings.zone)


def fit_index_in_child(settings: Settings, version: str) -> None:
    """Fit and cache the index in a short-lived `run_bot.py check` unless the cache is current.

    The serving process then only loads the cache, so it never imports scikit-learn and scipy
    (about 70 MB it would keep for its whole life). If the child fails, the caller fits in-process.
    """
    if IndexCache(settings.cache_dir).is_current(version):
        return
    cmd = [
        sys.executable,
        str(ROOT / "run_bot.py"),
        "check",
        "--knowledge",
        str(settings.knowledge_dir),
        "--intents",
        str(settings.intents_file),
        "--db",
        str(settings.db),
    ]
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=600, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("could not fit the index in a child process: %s", exc)
        return
    if done.returncode != 0:
        log.debug("fitting the index in a child process failed: %s", done.stderr[-2000:])


def load_lean_engine(settings: Settings) -> Engine:
    """The serving process's engine: fitted in a child process, loaded here from the cache."""
    knowledge = load_knowledge(settings.knowledge_dir, settings.intents_file)
    fit_index_in_child(settings, knowledge.version)
    return Engine(knowledge, zone=settings.zone, cache=IndexCache(settings.cache_dir))


def keep_last_good(settings: Settings, version: str) -> None:
    """Remember the knowledge that just loaded cleanly, for a start-up after a broken edit."""
    LastGood(settings.cache_dir / "last-good").save(settings.knowledge_dir, settings.intents_file, version)


def load_serving_engine(settings: Settings) -> tuple[Engine, list[str]]:
    """The engine to serve with, and the problems when the knowledge is broken but a good copy exists.

    A broken knowledge file at start-up does not take the bot down when the last good version is
    known: the bot starts from that copy and reports itself degraded. With no good copy the
    KnowledgeError propagates (the caller exits 1 with the same messages as `check`).
    """
    try:
        engine = load_lean_engine(settings)
    except KnowledgeError as exc:
        copy = LastGood(settings.cache_dir / "last-good")
        if not copy.exists():
            raise
        problems = [str(p) for p in exc.problems]
        log.error("knowledge is broken; starting from the last good version %s:\n%s", copy.version(), exc)
        fallback = replace(settings, knowledge_dir=copy.knowledge_dir, intents_file=copy.intents_file)
        return load_lean_engine(fallback), problems
    keep_last_good(settings, engine.version)
    return engine, []


def build_services(settings: Settings, now: datetime | None = None, engine: Engine | None = None) -> Service:
    """Load knowledge (raising KnowledgeError when it is broken) and open the SQLite file."""
    engine = engine or load_engine(
        settings.knowledge_dir, settings.intents_file, zone=settings.zone, cache_dir=settings.cache_dir
    )
    return Service(engine=engine, store=Store(settings.db), settings=settings, clock=make_clock(settings, now))


@dataclass
class ReloadResult:
    """What a reload did: the new version, or the problems that kept the old knowledge in place."""

    ok: bool
    version: str
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One message for the admins."""
        if self.ok:
            return f"知识库已重新加载，版本 {self.version}"
        return f"知识库重新加载失败，仍使用版本 {self.version}：\n" + "\n".join(self.problems[:20])


class Reloader:
    """Validates new knowledge off the event loop and swaps it in only when it is good."""

    def __init__(
        self,
        services: Service,
        notify: Callable[[str], object] | None = None,
        fit_in_child: bool = False,
    ) -> None:
        """`fit_in_child`: fit a changed index in a child process (see fit_index_in_child)."""
        self.services = services
        self.notify = notify
        self.fit_in_child = fit_in_child
        self._lock = asyncio.Lock()
        self._stamp = self._fingerprint()
        self.last: ReloadResult | None = None

    def _files(self) -> list[Path]:
        s = self.services.settings
        files = sorted(s.knowledge_dir.glob("*.y*ml")) if s.knowledge_dir.is_dir() else []
        return [*files, s.intents_file]

    def _fingerprint(self) -> tuple:
        out = []
        for path in self._files():
            try:
                st = path.stat()
                out.append((str(path), st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((str(path), 0, -1))
        return tuple(out)

    async def reload(self) -> ReloadResult:
        """Load and validate in a thread; on success swap atomically, on failure keep serving."""
        async with self._lock:
            s = self.services.settings
            engine = self.services.engine
            self._stamp = self._fingerprint()
            try:
                knowledge = await asyncio.wait_for(
                    asyncio.to_thread(load_knowledge, s.knowledge_dir, s.intents_file), LOAD_TIMEOUT
                )
                if self.fit_in_child:
                    await asyncio.to_thread(fit_index_in_child, s, knowledge.version)
                await asyncio.to_thread(engine.swap, knowledge)
                result = ReloadResult(True, engine.version)
                log.info("knowledge reloaded: version %s", engine.version)
                await asyncio.to_thread(keep_last_good, s, knowledge.version)
                self.services.knowledge_loaded(engine.version)
            except KnowledgeError as exc:
                result = ReloadResult(False, engine.version, [str(p) for p in exc.problems])
                log.error("knowledge reload failed, still serving %s:\n%s", engine.version, exc)
                self.services.knowledge_broken(result.problems)
            except TimeoutError:
                problem = f"{s.knowledge_dir}: reading the knowledge took longer than {LOAD_TIMEOUT:.0f} s"
                result = ReloadResult(False, engine.version, [problem])
                log.error("knowledge reload failed, still serving %s: %s", engine.version, problem)
                self.services.knowledge_broken(result.problems)
            except Exception as exc:  # an unexpected bug must not take the bot down either
                log.exception("knowledge reload crashed")
                result = ReloadResult(False, engine.version, [f"{type(exc).__name__}: {exc}"])
                self.services.knowledge_broken(result.problems)
            self.last = result
        if self.notify is not None:
            with contextlib.suppress(Exception):
                outcome = self.notify(result.describe())
                if asyncio.iscoroutine(outcome):
                    await outcome
        return result

    async def watch(self, interval: float = WATCH_INTERVAL) -> None:
        """Poll modification times; a change reloads within a few seconds."""
        while True:
            await asyncio.sleep(interval)
            if self._fingerprint() != self._stamp:
                await asyncio.sleep(0.3)  # let an editor finish writing
                await self.reload()


SERVICE: web.AppKey[Service] = web.AppKey("service", Service)
RELOADER: web.AppKey[Reloader] = web.AppKey("reloader", Reloader)
ADMIN_NOTIFIERS: web.AppKey[list[Callable[[str], Awaitable[object]]]] = web.AppKey("admin_notifiers", list)


def create_app(services: Service) -> web.Application:
    """The aiohttp application with every channel whose settings are present."""
    from bot.channels import admin as admin_console
    from bot.channels import web as web_adapter
    from bot.channels.wechat import callback as wechat_adapter

    app = web.Application()
    app[SERVICE] = services
    install_http(app, services.settings)
    web_adapter.setup(app, services)
    wechat_adapter.setup(app, services)
    admin_console.setup(app, services)
    return app


def reminder_senders(services: Service, telegram_bot: Bot | None) -> dict[str, Sender]:
    """A sender per channel that can push: Telegram when running, WeChat and WeCom when their APIs are configured."""
    from bot.channels.wechat.senders import wechat_senders

    senders: dict[str, Sender] = {}
    if telegram_bot is not None:
        from bot.channels.telegram.handlers import TelegramSender

        senders["telegram"] = TelegramSender(telegram_bot, services)
    senders.update(wechat_senders(services))
    return senders


async def close_senders(senders: Mapping[str, Sender]) -> None:
    """Close the HTTP sessions senders hold, so shutdown leaves nothing open."""
    for sender in senders.values():
        close = getattr(sender, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


def render_for(services: Service) -> Callable[[Deadline, int], ReminderMessage]:
    """Reminder text from the current knowledge's templates, with its values for WeChat template messages."""

    def render(deadline: Deadline, _days: int) -> ReminderMessage:
        now = services.clock()
        engine = services.engine
        return ReminderMessage(engine.render_reminder(deadline, now), engine.reminder_values(deadline, now))

    return render


async def _telegram(app: web.Application) -> AsyncIterator[None]:
    """Telegram for the server's lifetime (when a token is set); its admins hear about reloads."""
    services = app[SERVICE]
    runner = None
    if services.settings.telegram_token:
        from bot.channels.telegram.runtime import start_telegram

        runner = await start_telegram(services, app)
        app[ADMIN_NOTIFIERS].append(runner.notify_admins)
        print("telegram: " + runner.mode, flush=True)
    services.senders = reminder_senders(services, runner.bot if runner else None)
    try:
        yield
    finally:
        await close_senders(services.senders)
        if runner is not None:
            with contextlib.suppress(Exception):
                await runner.stop()


async def _housekeeping(services: Service, interval: float = HOUSEKEEPING_INTERVAL) -> None:
    """Enforce BOT_LOG_DAYS while the server runs, however long it runs."""
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(services.housekeeping)
        except Exception:
            log.exception("housekeeping failed; trying again in %ss", interval)


async def _background(app: web.Application) -> AsyncIterator[None]:
    """Retention at start, then the reminder loop, the knowledge watcher and housekeeping, cancelled at shutdown."""
    services = app[SERVICE]
    try:
        services.housekeeping()
    except Exception:  # a locked or full database must not keep the bot from answering
        log.exception("housekeeping at start failed")
    reminders = ReminderLoop(
        services.store,
        lambda: services.engine.knowledge.deadlines(),
        services.senders or {},
        render_for(services),
        clock=services.clock,
        zone=services.settings.zone,
    )
    tasks = [
        asyncio.create_task(reminders.run(), name="reminders"),
        asyncio.create_task(app[RELOADER].watch(), name="knowledge-watch"),
        asyncio.create_task(_housekeeping(services), name="housekeeping"),
    ]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def build_server(services: Service) -> web.Application:
    """The whole server: channels, Telegram, pushes, reminders and reload, started and stopped by aiohttp."""
    app = create_app(services)
    app[ADMIN_NOTIFIERS] = services.admin_notifiers  # Telegram adds its own; WeChat/WeCom go via senders
    reloader = Reloader(services, services.notify_admins, fit_in_child=True)
    app[RELOADER] = reloader
    services.reload = reloader.reload
    if services.settings.telegram_token and services.settings.telegram_webhook_url:
        from bot.channels.telegram.runtime import install_webhook_route

        install_webhook_route(app, services.settings)  # routes must exist before the app freezes
    app.cleanup_ctx.append(_telegram)
    app.cleanup_ctx.append(_background)
    return app


def make_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """The runner with the keep-alive timeout from the settings and a short shutdown grace."""
    return web.AppRunner(
        app, access_log=None, keepalive_timeout=settings.keepalive_timeout, shutdown_timeout=SHUTDOWN_GRACE
    )


async def start_site(runner: web.AppRunner, host: str, port: int) -> GuardedSite:
    """Listen with the connection cap and the request-head timeout of the app's settings."""
    site = GuardedSite(runner, host, port)
    await site.start()
    return site


def exit_soon(deadline: float = EXIT_DEADLINE) -> threading.Timer:
    """After SIGTERM the process ends within seconds, even if a thread is stuck in a system call
    (interpreter exit would otherwise wait for it forever)."""

    def hard_exit() -> None:
        log.error("shutdown did not finish within %.1f s; exiting now", deadline)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(deadline, hard_exit)
    timer.daemon = True
    timer.start()
    return timer


async def serve(settings: Settings, now: datetime | None = None, stop: asyncio.Event | None = None) -> None:
    """Run everything until SIGINT/SIGTERM (or `stop` is set)."""
    engine, problems = load_serving_engine(settings)
    services = build_services(settings, now, engine=engine)
    if problems:
        services.knowledge_broken(problems)
    app = build_server(services)
    runner = make_runner(app, settings)
    signalled = asyncio.Event()
    try:
        await runner.setup()
        await start_site(runner, settings.host, settings.port)
        print(f"web chat: http://{settings.host}:{settings.port}/  (knowledge {services.engine.version})", flush=True)
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            signalled.set()
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, on_signal)
        with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, lambda: services.background(app[RELOADER].reload()))
        await stop.wait()
    finally:
        timer = exit_soon() if signalled.is_set() else None
        await runner.cleanup()
        services.store.close()
        if timer is not None:
            timer.cancel()


async def send_due_once(services: Service, now: datetime) -> dict:
    """`reminders send`: set up the senders, send what is due, close them; cron-safe."""
    async with contextlib.AsyncExitStack() as stack:
        bot = None
        if services.settings.telegram_token:
            from bot.channels.telegram.runtime import build_application

            application = await stack.enter_async_context(build_application(services, webhook=True))
            bot = application.bot
        senders = reminder_senders(services, bot)
        services.senders = senders  # so a notice for the admins can reach WeChat and WeCom admins
        stack.push_async_callback(close_senders, senders)
        deadlines = services.engine.knowledge.deadlines()
        report = await send_due(deadlines, services.store, now, services.settings.zone, senders, render_for(services))
        return report.as_dict()
