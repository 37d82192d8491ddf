"""Hostile traffic against a running `run_bot.py serve` on loopback: the figures in README → Reliability.

    .venv/bin/python bench/flood.py [--seconds 10]

1. hostile inputs: long paths, junk encodings, bad JSON, broken framing, on every route → no 5xx;
2. a flood of 2,000-character questions from one client (127.0.0.1) while ten other visitors
   (127.0.0.2-11) each ask every 2 s: their latency, with limits on and off;
3. 1,000 idle connections: how many the server still holds after the head timeout.

Bounded in count and time; loopback only; speed figures are printed here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
LONG_QUESTION = "请问总结材料什么时候交，" * 166  # 1,992 characters: just under the 2,000 accepted
QUESTION = "联系电话是多少"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(**env: str):
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="qm-flood-")
    environ = {**os.environ, "BOT_DB": f"{tmp}/bot.sqlite3", "BOT_PORT": str(port), **env}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run_bot.py"), "serve", "--now", "2021-09-20T10:00"],
        cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("web chat:"):
                break
        yield f"http://127.0.0.1:{port}", port
    finally:
        proc.terminate()
        proc.wait(10)


async def raw(port: int, data: bytes) -> int:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(data)
        await writer.drain()
        head = await asyncio.wait_for(reader.read(200), 5)
        writer.close()
        return int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    except (TimeoutError, OSError, ValueError, IndexError):
        return 0


async def hostile(base: str, port: int) -> dict[str, int]:
    """Every route × odd paths and encodings, and framing no client should send."""
    routes = [("GET", "/"), ("GET", "/widget.js"), ("GET", "/healthz"), ("GET", "/api/deadlines"),
              ("GET", "/static/app.js"), ("POST", "/api/ask"), ("POST", "/api/feedback"), ("POST", "/wechat")]  # fmt: skip
    requests: list[tuple[str, str, dict[str, str], bytes | None]] = []
    for method, path in routes:
        for n in (256, 1000, 5000):
            requests.append((method, path.rstrip("/") + "/" + "a" * n, {}, None))
        requests.append((method, path + "?now=" + "9" * 300, {}, None))
        if method == "POST":
            for enc in ("gzip", "deflate", "br", "zstd", "x-nonsense"):
                requests.append((method, path, {"Content-Encoding": enc, "Content-Type": "application/json"}, b"\x1f\x8bjunk" * 8))
            for body in (b"{", b"[]", b'{"text": 5}', b'{"text": "' + b"x" * 20000 + b'"}', b"\xff\xfe", b'{"text": "\\ud800"}'):
                requests.append((method, path, {"Content-Type": "application/json"}, body))
    statuses: dict[str, int] = {}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        for method, path, headers, body in requests:
            try:
                async with s.request(method, base + path, headers=headers, data=body) as r:
                    await r.read()
                    key = f"{r.status // 100}xx"
            except aiohttp.ClientError:
                key = "closed"
            statuses[key] = statuses.get(key, 0) + 1
    framing = [b"NONSENSE\r\n\r\n", b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
               b"POST /api/ask HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nzz\r\n", b"\x16\x03\x01\x02\x00" * 50]  # fmt: skip
    for data in framing:
        code = await raw(port, data)
        key = f"{code // 100}xx" if code else "closed"
        statuses[key] = statuses.get(key, 0) + 1
    statuses["inputs"] = len(requests) + len(framing)
    return statuses


async def visitor(base: str, seconds: float, n: int) -> list[float]:
    """An ordinary visitor on address 127.0.0.(n+2) with its own session: a question every 2 s."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(local_addr=(f"127.0.0.{n + 2}", 0))
    async with aiohttp.ClientSession(connector=connector) as s:
        async with s.get(base + "/") as r:
            await r.read()
        await asyncio.sleep(n * 0.2)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.monotonic()
            async with s.post(base + "/api/ask", json={"text": QUESTION}) as r:
                await r.read()
                assert r.status == 200, r.status
            latencies.append((time.monotonic() - started) * 1000)
            await asyncio.sleep(2.0)
    return latencies


async def victim(base: str, seconds: float, visitors: int = 10) -> list[float]:
    """Ten visitors on ten other addresses: five questions a second between them."""
    rounds = await asyncio.gather(*(visitor(base, seconds, n) for n in range(visitors)))
    return [ms for one in rounds for ms in one]


async def flooder(base: str, seconds: float, workers: int = 8) -> dict[str, int]:
    """Long questions as fast as eight connections allow, from one session on 127.0.0.1."""
    counts: dict[str, int] = {}
    end = time.monotonic() + seconds
    async with aiohttp.ClientSession() as s:
        async with s.get(base + "/") as r:
            await r.read()

        async def work() -> None:
            while time.monotonic() < end:
                async with s.post(base + "/api/ask", json={"text": LONG_QUESTION}) as r:
                    await r.read()
                    counts[str(r.status)] = counts.get(str(r.status), 0) + 1

        await asyncio.gather(*(work() for _ in range(workers)))
    return counts


def summary(latencies: list[float]) -> str:
    latencies = sorted(latencies)
    p95 = latencies[int(len(latencies) * 0.95) - 1] if len(latencies) >= 20 else max(latencies)
    return f"median {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms ({len(latencies)} questions)"


def _flood_process(base: str, seconds: float, results: multiprocessing.Queue) -> None:
    results.put(asyncio.run(flooder(base, seconds)))


async def flood_round(base: str, seconds: float) -> tuple[list[float], list[float], dict[str, int]]:
    """The visitors alone, then with the flooder in its own process (so it does not slow the visitors' client)."""
    quiet = await victim(base, seconds)
    results: multiprocessing.Queue = multiprocessing.Queue()
    flood = multiprocessing.Process(target=_flood_process, args=(base, seconds + 1, results))
    flood.start()
    await asyncio.sleep(0.5)
    flooded = await victim(base, seconds)
    counts = results.get(timeout=seconds + 30)
    flood.join(10)
    return quiet, flooded, counts


async def idle_connections(port: int, count: int, wait: float) -> tuple[int, int]:
    """Open `count` connections that never send a request; how many are still open after `wait` s."""
    conns = []
    for _ in range(count):
        with contextlib.suppress(OSError):
            conns.append(await asyncio.open_connection("127.0.0.1", port))
    await asyncio.sleep(wait)
    still_open = 0
    for reader, writer in conns:
        try:
            data = await asyncio.wait_for(reader.read(1), 0.01)
            still_open += data != b""
        except TimeoutError:
            still_open += 1
        writer.close()
    return len(conns), still_open


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with server() as (base, port):
        statuses = asyncio.run(hostile(base, port))
        print(f"hostile inputs: {statuses.pop('inputs')} kinds, responses {statuses}")
        quiet, flooded, counts = asyncio.run(flood_round(base, args.seconds))
        print(f"limits on:  other visitors alone {summary(quiet)}; during the flood {summary(flooded)}")
        print(f"            flooder's {sum(counts.values())} requests: {counts}")
        opened, held = asyncio.run(idle_connections(port, 1000, 13.0))
        print(f"idle connections: {opened} opened, {held} still held after 13 s (head timeout 10 s)")
    with server(BOT_RATE_LIMIT="off") as (base, port):
        quiet, flooded, counts = asyncio.run(flood_round(base, args.seconds))
        print(f"limits off: other visitors alone {summary(quiet)}; during the flood {summary(flooded)}")
        print(f"            flooder's {sum(counts.values())} requests: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
