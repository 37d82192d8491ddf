"""A real server on 127.0.0.1 against what an attacker sends: odd paths and encodings on every route,
floods, slow and idle clients, noisy logs, a knowledge folder that blocks, and SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import build_services, create_app, make_runner, start_site
from bot.channels.web import MAX_ANSWERED
from bot.config import load_settings
from bot.core.engine import Engine
from bot.service import Service
from tests.conftest import CAMPAIGN_NOW, INTENTS, KNOWLEDGE, ROOT
from tests.test_app import free_port

LONG = "a" * 300
JUNK = b"\x1f\x8b not really gzip at all \x00\xff" * 4


@dataclass
class Live:
    url: str
    port: int
    services: Service
    app: web.Application


@asynccontextmanager
async def running(tmp: Path, engine: Engine, **overrides: Any) -> AsyncIterator[Live]:
    """The server as `serve` builds it (runner, guarded site, middleware), on a random port."""
    settings = load_settings({}, db=tmp / "bot.sqlite3", wechat_token="hardening", **overrides)
    services = build_services(settings, CAMPAIGN_NOW, engine=engine)
    app = create_app(services)
    runner = make_runner(app, settings)
    await runner.setup()
    try:
        site = await start_site(runner, "127.0.0.1", 0)
        yield Live(f"http://127.0.0.1:{site.port}", site.port, services, app)
    finally:
        await runner.cleanup()
        services.store.close()


@pytest.fixture
async def server(tmp_path: Path, engine: Engine) -> AsyncIterator[Live]:
    async with running(tmp_path, engine, rate_limit="off") as live:
        yield live


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING)
    return lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]


def routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route, with {placeholders} filled with a 300-character name."""
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter", "").replace("{name}", LONG)
        if route.method != "HEAD" and path:
            out.append((route.method, path))
    return sorted(set(out))


async def fetch(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, str, Any]:
    async with session.request(method, url, allow_redirects=False, **kw) as r:
        return r.status, await r.text(), r.headers


# -- odd paths and encodings on every route -------------------------------------------------------


async def test_every_route_refuses_long_paths_and_junk_encodings_with_a_4xx(server: Live, errors) -> None:
    found = routes(server.app)
    assert ("GET", "/static/" + LONG) in found and ("POST", "/api/ask") in found
    tried = 0
    async with aiohttp.ClientSession() as s:
        for method, path in found:
            variants = [(path if LONG in path else path.rstrip("/") + "/" + LONG, {}, None)]
            if method == "POST":
                for encoding in ("gzip", "deflate", "br"):
                    headers = {"Content-Encoding": encoding, "Content-Type": "application/json"}
                    variants.append((path, headers, JUNK))
            for url, headers, body in variants:
                status, text, _ = await fetch(s, method, server.url + url, headers=headers, data=body)
                tried += 1
                if url.startswith("/admin/") and status == 303:
                    continue  # the staff console sends anonymous visitors of any of its paths to the login
                assert 400 <= status < 500, f"{method} {url[:60]} {headers}: {status} {text[:100]}"
                assert text.strip() and "Traceback" not in text
        status, text, _ = await fetch(
            s, "POST", server.url + "/api/ask", data=JUNK, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )
        assert status == 400 and "Content-Encoding" in text and "error" in text  # the JSON API says why
        status, text, _ = await fetch(s, "GET", server.url + "/static/" + LONG)
        assert status == 404 and "没有这个文件" in text
        async with s.post(server.url + "/api/ask", json={"text": "总结材料什么时候交"}) as r:
            assert r.status == 200  # and the server still answers
    assert tried >= 2 * len(found) and errors() == []


async def test_every_response_has_security_headers_and_no_versions(server: Live) -> None:
    async with aiohttp.ClientSession() as s:
        responses = [await fetch(s, m, server.url + p.replace(LONG, "app.js")) for m, p in routes(server.app)]
        responses.append(await fetch(s, "GET", server.url + "/nothing-here"))
        responses.append(await fetch(s, "DELETE", server.url + "/healthz"))
    for status, _, headers in responses:
        assert headers["X-Content-Type-Options"] == "nosniff", status
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors" in headers["Content-Security-Policy"]
        assert headers["Server"] == "qm-bot"
    status, head = await raw(server.port, b"NONSENSE / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert 400 <= status < 500 and "server: qm-bot" in head.lower() and "aiohttp" not in head.lower()


# -- per-client limits ----------------------------------------------------------------------------

LIMITS = {"rate_per_minute": 6, "rate_burst": 3, "rate_per_address": 12}


async def ask(client: Any, sid: str = "", **headers: str) -> Any:
    cookies = {"qm_sid": sid} if sid else None
    return await client.post("/api/ask", json={"text": "联系电话是多少"}, cookies=cookies, headers=headers)


@pytest.fixture
async def limited(aiohttp_client, tmp_path: Path, engine: Engine):
    async def make(**overrides: Any) -> Any:
        settings = load_settings({}, db=tmp_path / f"{len(overrides)}.sqlite3", **{**LIMITS, **overrides})
        return await aiohttp_client(create_app(build_services(settings, CAMPAIGN_NOW, engine=engine)))

    return make


async def test_a_flooding_session_gets_429_with_retry_after_and_others_are_served(limited) -> None:
    client = await limited()
    flooder, other = "f" * 22, "o" * 22
    statuses = [(await ask(client, flooder)).status for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = await ask(client, flooder)
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    assert "太频繁" in (await refused.json())["error"]
    assert (await ask(client, other)).status == 200  # another visitor is not affected
    feedback = await client.post("/api/feedback", json={"answer_id": "0" * 16, "vote": "up"}, cookies={"qm_sid": flooder})
    assert feedback.status == 429  # voting is limited with asking


async def test_invented_sessions_share_their_address_ceiling(limited) -> None:
    client = await limited()
    statuses = [(await ask(client, f"{n:022d}")).status for n in range(40)]
    assert statuses.count(200) <= 12 + 1 and statuses[-1] == 429


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(limited) -> None:
    spoofed = await limited()
    statuses = [(await ask(spoofed, **{"X-Forwarded-For": f"203.0.113.{n}"})).status for n in range(6)]
    assert statuses.count(429) >= 2  # a header anyone can send buys no fresh limit
    behind_proxy = await limited(trusted_proxies=frozenset({"127.0.0.1"}))
    statuses = [(await ask(behind_proxy, **{"X-Forwarded-For": f"203.0.113.{n}, 127.0.0.1"})).status for n in range(8)]
    assert statuses == [200] * 8  # eight clients behind the proxy, one question each
    repeated = [(await ask(behind_proxy, **{"X-Forwarded-For": "198.51.100.7"})).status for _ in range(5)]
    assert repeated.count(429) == 2  # and each of them is limited on its own


async def test_limits_can_be_switched_off_for_benchmarks(limited) -> None:
    client = await limited(rate_limit="off")
    assert {(await ask(client, "b" * 22)).status for _ in range(20)} == {200}


async def test_a_long_question_costs_no_more_than_a_short_one(limited, engine: Engine, monkeypatch) -> None:
    client = await limited()
    seen: list[int] = []
    respond = engine.respond
    monkeypatch.setattr(
        engine, "respond", lambda incoming, now, context=None: seen.append(len(incoming.text)) or respond(incoming, now, context)
    )
    question = "联系电话是多少" + "，请问" * 600
    resp = await client.post("/api/ask", json={"text": question})
    assert resp.status == 200 and (await resp.json())["question"] == question.strip()
    assert seen == [MAX_ANSWERED]


# -- slow, idle and too many connections ------------------------------------------------------------


async def raw(port: int, data: bytes, read_timeout: float = 5.0) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        head = await asyncio.wait_for(reader.read(65536), read_timeout)
    finally:
        writer.close()
    text = head.decode("utf-8", "replace")
    return (int(text.split()[1]) if text.startswith("HTTP/") else 0), text


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> float:
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(65536), seconds)
    while data and b"\r\n\r\n" in data and not reader.at_eof():  # a response first, then the close
        data = await asyncio.wait_for(reader.read(65536), seconds)
    return time.monotonic() - started


TIMEOUTS = {"header_timeout": 0.5, "body_timeout": 0.5, "keepalive_timeout": 0.8}


async def test_slow_headers_slow_bodies_and_idle_connections_are_closed(tmp_path: Path, engine: Engine) -> None:
    async with running(tmp_path, engine, **TIMEOUTS) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and the rest never comes
        assert await closed_within(reader, 3) < 2
        writer.close()

        status, text = await raw(
            live.port,
            b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"te",
        )
        assert status == 408 and "超时" in text

        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # one request, then idle on keep-alive
        assert await closed_within(reader, 4) < 3
        writer.close()


async def test_connections_over_the_cap_get_503_and_the_server_recovers(tmp_path: Path, engine: Engine) -> None:
    async with running(tmp_path, engine, max_connections=3, header_timeout=30) as live:
        idle = [await asyncio.open_connection("127.0.0.1", live.port) for _ in range(3)]
        await asyncio.sleep(0.1)
        status, text = await raw(live.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 503 and "繁忙" in text
        for _, writer in idle:
            writer.close()
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as s, s.get(live.url + "/healthz") as r:
            assert r.status == 200


# -- logs -------------------------------------------------------------------------------------------


async def test_malformed_requests_and_vanished_clients_are_one_warning_line(server: Live, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    await raw(server.port, b"GET /" + b"x" * 5000 + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    await raw(server.port, b"\x16\x03\x01 binary hello " * 20 + b"\r\n\r\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"text\"")
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()  # gone before the body is complete
    for _ in range(50):
        if any("went away" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.05)
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("went away" in r.getMessage() and "/api/ask" in r.getMessage() for r in noisy), noisy
    assert len([r for r in noisy if r.name == "aiohttp.server"]) >= 1
    for record in noisy:
        assert record.levelno == logging.WARNING and record.exc_info is None, record.getMessage()[:200]
        assert len(record.getMessage()) < 400 and "\n" not in record.getMessage()


# -- a knowledge folder that blocks, and SIGTERM ---------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_in_the_knowledge_folder_neither_wedges_reload_nor_blocks_sigterm(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    port = free_port()
    cmd = [sys.executable, str(ROOT / "run_bot.py"), "serve", "--port", str(port), "--knowledge", str(knowledge),
           "--intents", str(INTENTS), "--db", str(tmp_path / "bot.sqlite3")]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("web chat:"):
                break
        os.mkfifo(knowledge / "zz-pipe.yaml")  # the watcher sees a new file and reloads

        async def health() -> dict:
            async with aiohttp.ClientSession() as s:
                for _ in range(100):
                    async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                        data = await r.json()
                    if data["status"] != "ok":
                        return data
                    await asyncio.sleep(0.1)
            return data

        data = asyncio.run(health())
        assert data["status"] == "degraded" and any("zz-pipe.yaml" in p and "不是普通文件" in p for p in data["problems"])
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
