"""Load generator run as its own process, so the client never competes with the server's event loop.

Usage: http_load.py URL MODE QUESTIONS_JSON [--concurrency N --count N --duration S --warmup N --token T]
MODE is ``ask`` (POST JSON like the web chat) or ``wechat`` (POST a signed plaintext text message).
Prints one JSON object: completed, elapsed, rps, p50/p99 ms, status counts, errors, bad replies.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bot.channels.wechat.crypto import signature as wechat_signature  # noqa: E402  (the bot's own signing)

Request = tuple[str, bytes, dict[str, str]]


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile: no interpolation, so p99 is a latency a request really had."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def text_message(user: str, content: str, msg_id: int, create_time: int) -> bytes:
    """A plaintext WeChat text message as the platform posts it."""
    return (
        "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{create_time}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id}</MsgId></xml>"
    ).encode()


def request_maker(
    base: str, mode: str, questions: list[str], token: str
) -> Callable[[int], Request]:
    """A function from a request number to (url, body, headers); every WeChat message gets its own MsgId."""
    msg_ids = itertools.count(random.randrange(10**15, 9 * 10**15))
    if mode == "ask":
        url = base.rstrip("/") + "/api/ask"
        headers = {"Content-Type": "application/json"}

        def make_ask(n: int) -> Request:
            body = json.dumps({"text": questions[n % len(questions)]}, ensure_ascii=False).encode()
            return url, body, headers

        return make_ask
    if mode == "wechat":
        url = base.rstrip("/") + "/wechat"
        headers = {"Content-Type": "text/xml"}

        def make_wechat(n: int) -> Request:
            ts = str(int(time.time()))
            nonce = str(random.randrange(10**9))
            query = f"?signature={wechat_signature(token, ts, nonce)}&timestamp={ts}&nonce={nonce}"
            body = text_message(
                f"bench-user-{n % 97}", questions[n % len(questions)], next(msg_ids), int(ts)
            )
            return url + query, body, headers

        return make_wechat
    raise SystemExit(f"unknown mode {mode!r}")


def good_reply(mode: str, body: bytes) -> bool:
    """An answer, not a silent 'success' or an error text: the benchmark must measure real work."""
    if mode == "ask":
        try:
            return "answer" in json.loads(body)
        except ValueError:
            return False
    return body.startswith(b"<xml>") and b"<Content>" in body


async def phase(
    session: aiohttp.ClientSession,
    make: Callable[[int], Request],
    mode: str,
    count: int,
    duration: float,
    concurrency: int,
    check: bool,
) -> dict:
    """Send up to `count` requests within `duration` seconds with `concurrency` in flight."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    bad = 0
    numbers = itertools.count()
    start = time.perf_counter()
    deadline = start + duration
    last = start

    async def worker() -> None:
        nonlocal bad, last
        while True:
            n = next(numbers)
            if n >= count or time.perf_counter() > deadline:
                return
            url, body, headers = make(n)
            t0 = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    data = await resp.read()
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                errors[type(exc).__name__] += 1
                continue
            t1 = time.perf_counter()
            latencies.append((t1 - t0) * 1000)
            statuses[status] += 1
            last = max(last, t1)
            if check and 200 <= status < 300 and not good_reply(mode, data):
                bad += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = max(last - start, 1e-9)
    return {
        "completed": len(latencies),
        "elapsed": elapsed,
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "non2xx": sum(v for k, v in statuses.items() if not 200 <= k < 300) + sum(errors.values()),
        "errors": dict(errors),
        "bad_replies": bad,
    }


async def run(args: argparse.Namespace) -> dict:
    """Warm the connections and the server up, then measure one phase."""
    questions = [str(q) for q in json.loads(Path(args.questions).read_text(encoding="utf-8"))]
    make = request_maker(args.url, args.mode, questions, args.token)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if args.warmup:
            await phase(session, make, args.mode, args.warmup, 30.0, args.concurrency, check=False)
        result = await phase(
            session, make, args.mode, args.count, args.duration, args.concurrency, check=args.check
        )
    result.update(mode=args.mode, url=args.url, concurrency=args.concurrency, warmup=args.warmup)
    return result


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the load and print the result as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("mode", choices=["ask", "wechat"])
    parser.add_argument("questions", help="a JSON list of question strings")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--token", default="")
    parser.add_argument(
        "--check", action="store_true", help="count 2xx replies that carry no answer"
    )
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
