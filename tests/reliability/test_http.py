"""Every endpoint of a real server on 127.0.0.1 under hostile input, load, and a knowledge reload."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import xmltodict
from aiohttp import web
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.utils import WeChatSigner

from bot.app import Reloader, build_services, create_app
from bot.channels.wechat.xml import MAX_TEXT_BYTES, parse_message_xml
from bot.config import load_settings
from bot.core.engine import Engine
from bot.service import Service, load_engine
from tests.conftest import CAMPAIGN_NOW, INTENTS, KNOWLEDGE

TOKEN = "reliabilitytoken"
APPID = "wx0123456789abcdef"
AES_KEY = "Rel1abil1tyKeyForTest0123456789abcdefghIJKL"  # 43 characters, as the console shows it
CORPID = "ww0123456789abcdef"
WECOM_TOKEN = "wecomreliability"
WECOM_AES_KEY = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
GH = "gh_reliability"
NOTICE = "gd-2021-quality-month.yaml"
LOAD_TIMEOUT = 60.0

assert len(AES_KEY) == 43 and len(WECOM_AES_KEY) == 43

# Questions the load sends; each has one fixed answer under the fixed clock.
QUESTIONS = [
    "总结材料什么时候交",
    "联系电话是多少",
    "边个系联系人",
    "观摩项目有哪些",
    "中建八局",
    "深圳有什么观摩项目",
    "活动几时开始",
    "文号是多少",
    "截止",
    "今天天气怎么样",
    "😀😀",
    "總結材料幾時交",
]
PHONE_QUESTION = "联系电话是多少"
MSG_IDS = itertools.count(10**12)  # every WeChat message of the load is a new one, never a retry


# -- a real server -------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    port: int
    services: Service
    reloader: Reloader


def make_settings(tmp: Path, knowledge: Path = KNOWLEDGE, intents: Path = INTENTS) -> Any:
    return load_settings(
        {},
        db=tmp / "bot.sqlite3",
        knowledge_dir=knowledge,
        intents_file=intents,
        wechat_token=TOKEN,
        wechat_appid=APPID,
        wechat_aes_key=AES_KEY,
        wecom_corpid=CORPID,
        wecom_token=WECOM_TOKEN,
        wecom_aes_key=WECOM_AES_KEY,
        rate_limit="off",  # one client sends thousands of requests here; limits have their own tests
    )


@asynccontextmanager
async def running(settings: Any, engine: Engine | None = None) -> AsyncIterator[Server]:
    """create_app(build_services(...)) behind web.AppRunner on a random port; always cleaned up."""
    services = build_services(settings, CAMPAIGN_NOW, engine=engine)
    reloader = Reloader(services)
    services.reload = reloader.reload  # type: ignore[attr-defined]
    runner = web.AppRunner(create_app(services), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        yield Server(f"http://127.0.0.1:{port}", port, services, reloader)
    finally:
        await runner.cleanup()
        services.store.close()


@pytest.fixture
async def server(tmp_path: Path, engine: Engine) -> AsyncIterator[Server]:
    async with running(make_settings(tmp_path), engine) as s:
        yield s


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
        yield s


@pytest.fixture
def server_errors(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """Tracebacks the operator would find in the log (an unexpected exception behind a 4xx, or a 500)."""
    caplog.set_level(logging.ERROR)
    return lambda: [
        f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR
    ]


# -- WeChat helpers (signatures and crypto made by wechatpy, not by the code under test) ----------


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def text_xml(content: str, msg_id: str, user: str = "oUser0001") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>1632103200</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def plain_query(token: str = TOKEN, ts: str = "1632103200", nonce: str = "n0nce") -> str:
    return f"signature={sign(token, ts, nonce)}&timestamp={ts}&nonce={nonce}&openid=oUser0001"


def safe_query(
    encrypt: str, token: str = TOKEN, ts: str = "1632103200", nonce: str = "n0nce"
) -> str:
    return (
        f"signature={sign(token, ts, nonce)}&timestamp={ts}&nonce={nonce}&encrypt_type=aes"
        f"&msg_signature={sign(token, ts, nonce, encrypt)}"
    )


def envelope(encrypt: str) -> str:
    return f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"


def encrypt_for(xml: str, key: str = AES_KEY, appid: str = APPID) -> str:
    raw_key = base64.b64decode(key + "=")
    return PrpCrypto(raw_key).encrypt(xml, appid).decode()


def reply_content(body: str) -> str:
    return parse_message_xml(body.encode("utf-8"))["Content"]


def decrypt_reply(body: str, crypto: WeChatCrypto | WeComCrypto) -> str:
    env = xmltodict.parse(body)["xml"]
    inner = crypto.decrypt_message(body, env["MsgSignature"], env["TimeStamp"], env["Nonce"])
    return reply_content(inner)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]><xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName>"
    "<MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>u</FromUserName>"
    "<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>"
)


async def chunked(total: int, piece: int = 8192) -> AsyncIterator[bytes]:
    """A body without Content-Length: aiohttp sends it with Transfer-Encoding: chunked."""
    sent = 0
    while sent < total:
        yield b"x" * min(piece, total - sent)
        sent += piece


async def raw_request(
    port: int, head: bytes, body: bytes = b"", timeout: float = 5.0
) -> tuple[int, str]:
    """Send bytes no well-behaved client would and read one answer; a hang fails the test."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            (
                int(v)
                for k, _, v in (ln.partition(":") for ln in lines)
                if k.lower() == "content-length"
            ),
            None,
        )
        read = reader.readexactly(length) if length is not None else reader.read()
        data = await asyncio.wait_for(read, timeout)
    finally:
        writer.close()
    return status, data.decode("utf-8", "replace")


# -- hostile input, one case at a time ------------------------------------------------------------


@dataclass
class Case:
    name: str
    method: str
    path: str
    status: int
    says: str  # what the refusal must mention, so the caller can tell what was wrong
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    json_error: bool = False  # the web API answers {"error": ...}


def _ask(name: str, body: Any, status: int, says: str, ctype: str = "application/json") -> Case:
    return Case(name, "POST", "/api/ask", status, says, body, {"Content-Type": ctype}, True)


def _wechat(
    name: str, query: str, body: Any, status: int, says: str, path: str = "/wechat"
) -> Case:
    return Case(name, "POST", f"{path}?{query}", status, says, body)


def cases() -> list[Case]:
    good = text_xml("总结材料什么时候交", "1")
    wecom_ok = encrypt_for(good, WECOM_AES_KEY, CORPID)
    bad_b64 = "!!!!not-base64!!!!"
    misaligned = base64.b64encode(b"x" * 20).decode()
    wrong_appid = encrypt_for(good, AES_KEY, "wxSomebodyElse000")
    wrong_key = encrypt_for(good, WECOM_AES_KEY, APPID)
    wrong_corpid = encrypt_for(good, WECOM_AES_KEY, "wwOther")
    return [
        # web JSON API
        _ask("malformed json", '{"text": "截止', 400, "JSON"),
        _ask("json array", '["截止"]', 400, "JSON 对象"),
        _ask("json string", '"截止"', 400, "JSON 对象"),
        _ask("text missing", '{"question": "截止"}', 400, "text"),
        _ask("text number", b'{"text": 42}', 400, "text"),
        _ask("text null", b'{"text": null}', 400, "text"),
        _ask("text blank", json.dumps({"text": " \u3000\n"}).encode(), 400, "不能为空"),
        _ask("text too long", json.dumps({"text": "截" * 2001}).encode(), 413, "太长"),
        _ask("not utf-8", b'{"text": "\xff\xfe"}', 400, "JSON"),
        _ask("lone surrogate", b'{"text": "\\ud800"}', 400, "无效字符"),
        _ask("now garbage", json.dumps({"text": "截止", "now": "明天"}).encode(), 400, "now"),
        _ask("now number", json.dumps({"text": "截止", "now": 5}).encode(), 400, "now"),
        _ask("now far future", json.dumps({"text": "截止", "now": "9999-12-31T23:59:59"}).encode(), 400, "now"),
        _ask("now year one", json.dumps({"text": "截止", "now": "0001-01-01T00:00:00+14:00"}).encode(), 400, "now"),
        _ask("text/plain", "截止".encode(), 400, "Content-Type", "text/plain"),
        _ask("form", b"text=%E6%88%AA%E6%AD%A2", 400, "Content-Type", "application/x-www-form-urlencoded"),
        _ask("xml to json api", good.encode(), 400, "Content-Type", "application/xml"),
        _ask("oversized", json.dumps({"text": "截止", "pad": "x" * 100_000}).encode(), 413, "太大"),
        _ask("deeply nested json", b'{"text": "a", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "JSON"),
        Case("ask by GET", "GET", "/api/ask", 405, "Not Allowed"),
        Case("deadlines bad now", "GET", "/api/deadlines?now=soon", 400, "now", json_error=True),
        Case("deadlines overflow", "GET", "/api/deadlines?now=9999-12-31T23:59:59-12:00", 400, "now", json_error=True),
        Case("healthz by DELETE", "DELETE", "/healthz", 405, "Not Allowed"),
        Case("unknown path", "GET", "/admin.php", 404, "Not Found"),
        Case("unknown api", "POST", "/api/unknown", 404, "Not Found"),
        Case("static traversal", "GET", "/static/../../bot/config.py", 404, "Not Found"),
        Case("static encoded traversal", "GET", "/static/%2e%2e/%2e%2e/bot/config.py", 404, "Not Found"),
        # WeChat plaintext mode
        _wechat("no signature", "timestamp=1&nonce=2", good, 403, "signature"),
        _wechat("bad signature", "signature=" + "0" * 40 + "&timestamp=1632103200&nonce=n0nce", good, 403, "signature"),
        _wechat("signed with other token", plain_query("not-our-token"), good, 403, "signature"),
        _wechat("malformed xml", plain_query(), "<xml><Content>截止</xml>", 400, "malformed"),
        _wechat("not xml at all", plain_query(), b"\x00\x01\x02binary", 400, "malformed"),
        _wechat("json body", plain_query(), b'{"Content": "x"}', 400, "malformed"),
        _wechat("wrong root", plain_query(), "<msg><Content>x</Content></msg>", 400, "<xml>"),
        _wechat("not utf-8", plain_query(), "<xml><Content>截止</Content></xml>".encode("gbk"), 400, "UTF-8"),
        _wechat("missing sender", plain_query(), "<xml><ToUserName>gh</ToUserName><MsgType>text</MsgType></xml>", 400, "FromUserName"),
        _wechat("empty body", plain_query(), b"", 400, "malformed"),
        _wechat("billion laughs", plain_query(), BILLION_LAUGHS, 400, "DOCTYPE"),
        _wechat("external entity", plain_query(), XXE, 400, "DOCTYPE"),
        _wechat("deep nesting", plain_query(), "<xml>" + "<a>" * 8000 + "</a>" * 8000 + "</xml>", 400, "missing"),
        _wechat("oversized", plain_query(), "<xml>" + "<a>x</a>" * 20_000 + "</xml>", 413, "too large"),
        Case("wechat by PUT", "PUT", "/wechat?" + plain_query(), 405, "Not Allowed", good),
        Case("verify without echostr", "GET", "/wechat?" + plain_query(), 400, "echostr"),
        Case("verify bad signature", "GET", "/wechat?signature=abc&timestamp=1&nonce=2&echostr=hi", 403, "signature"),
        # WeChat safe mode
        _wechat("bad msg_signature", safe_query(encrypt_for(good)).replace("msg_signature=", "msg_signature=f"), envelope(encrypt_for(good)), 403, "signature"),
        _wechat("bad base64", safe_query(bad_b64), envelope(bad_b64), 400, "base64"),
        _wechat("not whole blocks", safe_query(misaligned), envelope(misaligned), 400, "blocks"),
        _wechat("wrong appid", safe_query(wrong_appid), envelope(wrong_appid), 400, "AppID"),
        _wechat("wrong key", safe_query(wrong_key), envelope(wrong_key), 400, "decrypt"),
        _wechat("missing Encrypt", safe_query(""), "<xml><ToUserName>gh</ToUserName></xml>", 400, "Encrypt"),
        # WeCom (always encrypted)
        _wechat("wecom plaintext", plain_query(WECOM_TOKEN), good, 400, "Encrypt", "/wecom"),
        _wechat("wecom bad signature", safe_query(wecom_ok, TOKEN), envelope(wecom_ok), 403, "signature", "/wecom"),
        _wechat("wecom wrong corpid", safe_query(wrong_corpid, WECOM_TOKEN), envelope(wrong_corpid), 400, "CorpID", "/wecom"),
        _wechat("wecom bad base64", safe_query(bad_b64, WECOM_TOKEN), envelope(bad_b64), 400, "base64", "/wecom"),
        Case("wecom verify bad echostr", "GET", f"/wecom?msg_signature={sign(WECOM_TOKEN, '1', '2', 'abc')}&timestamp=1&nonce=2&echostr=abc", 400, "echostr"),
        Case("wecom verify unsigned", "GET", "/wecom?msg_signature=x&timestamp=1&nonce=2&echostr=abc", 403, "signature"),
    ]  # fmt: skip


KNOWN_BUGS: dict[str, str] = {}  # case name -> reason, for a bug found but not yet fixed


def _params() -> list[Any]:
    out = []
    for case in cases():
        marks = []
        if case.name in KNOWN_BUGS:
            marks.append(pytest.mark.xfail(reason=KNOWN_BUGS[case.name], strict=True))
        out.append(pytest.param(case, id=case.name, marks=marks))
    return out


async def send(session: aiohttp.ClientSession, base: str, case: Case) -> tuple[int, str]:
    body = case.body.encode("utf-8") if isinstance(case.body, str) else case.body
    async with session.request(
        case.method, base + case.path, data=body, headers=case.headers, allow_redirects=False
    ) as r:
        return r.status, await r.text()


def assert_clear_refusal(case: Case, status: int, text: str) -> None:
    assert status == case.status, f"{case.name}: got {status} {text[:200]!r}"
    assert case.says.lower() in text.lower(), f"{case.name}: unclear message {text[:200]!r}"
    assert "Traceback" not in text
    if case.json_error:
        error = json.loads(text)["error"]
        assert isinstance(error, str) and error.strip()


@pytest.mark.parametrize("case", _params())
async def test_bad_input_gets_a_clear_4xx(
    server: Server, session, server_errors, case: Case
) -> None:
    status, text = await send(session, server.url, case)
    assert_clear_refusal(case, status, text)
    assert server_errors() == []
    # nothing was answered, logged or remembered for a refused request
    assert server.services.store.stats()["questions"] == 0


async def test_oversized_chunked_bodies_are_refused(server: Server, session) -> None:
    """No Content-Length to refuse on: the server must count while reading and stop."""
    for path, limit_note in [("/api/ask", "太大"), ("/wechat?" + plain_query(), "too large")]:
        headers = {"Content-Type": "application/json"} if path == "/api/ask" else {}
        async with session.post(server.url + path, data=chunked(400_000), headers=headers) as r:
            assert r.status == 413, path
            assert r.headers.get("Content-Length") != "0" and limit_note in await r.text()
            assert "chunked" in r.request_info.headers.get("Transfer-Encoding", "")


async def test_huge_content_length_is_refused_before_the_body_arrives(server: Server) -> None:
    """A client announcing a gigabyte and sending nothing gets 413 at once, not a hung worker."""
    for path, extra in [
        ("/api/ask", b"Content-Type: application/json\r\n"),
        ("/wechat?" + plain_query(), b""),
    ]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".encode()
            + extra
            + b"Content-Length: 1000000000\r\n\r\n"
        )
        status, _ = await raw_request(server.port, head, b"{")
        assert status == 413, path


async def test_garbage_on_the_wire_is_a_4xx(server: Server) -> None:
    """Broken HTTP itself (bad request line, huge header, bad chunk framing) never yields a 500."""
    requests = [
        b"NONSENSE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\nConnection: close\r\n\r\n",
        b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n",
        b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n"
        b"Connection: close\r\n\r\n{}",
    ]
    for raw in requests:
        status, _ = await raw_request(server.port, raw)
        assert 400 <= status < 500, raw[:60]


async def test_server_still_answers_after_all_of_it(server: Server, session, server_errors) -> None:
    """Every bad request at once, concurrently, then one real user: the answer is unaffected."""
    everything = [c for c in cases() if c.name not in KNOWN_BUGS]
    results = await asyncio.gather(*(send(session, server.url, c) for c in everything * 3))
    for case, (status, text) in zip(everything * 3, results, strict=True):
        assert_clear_refusal(case, status, text)
    async with session.post(server.url + "/api/ask", json={"text": "总结材料什么时候交"}) as r:
        assert r.status == 200
        assert "9月30日" in (await r.json())["answer"]
    async with session.post(
        server.url + "/wechat?" + plain_query(), data=text_xml("联系电话是多少", "9001")
    ) as r:
        assert r.status == 200 and "020-83133733" in reply_content(await r.text())
    async with session.get(server.url + "/healthz") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"
    assert server_errors() == []


# -- replays: WeChat resends a message it got no answer to within 5 s ------------------------------


async def test_replayed_plaintext_message_same_reply_logged_once(server: Server, session) -> None:
    xml = text_xml("总结材料什么时候交", "24000000000000777")
    url = server.url + "/wechat?" + plain_query()
    first_status, first = await send_raw(session, url, xml)
    again = await asyncio.gather(*(send_raw(session, url, xml) for _ in range(3)))
    assert first_status == 200 and "9月30日" in reply_content(first)
    for status, body in again:
        assert status == 200 and reply_content(body) == reply_content(first)
    assert server.services.store.stats()["questions"] == 1
    # a new MsgId from the same user is a new question
    status, body = await send_raw(session, url, text_xml("总结材料什么时候交", "24000000000000778"))
    assert status == 200 and reply_content(body) == reply_content(first)
    assert server.services.store.stats()["questions"] == 2


async def test_replayed_encrypted_message_same_reply_logged_once(server: Server, session) -> None:
    xml = text_xml("联系电话是多少", "24000000000000999", user="oSafeUser")
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    replies = []
    for attempt in range(3):  # WeChat re-encrypts each retry with a new random prefix and nonce
        ts, nonce = str(1632103200 + attempt), f"retry{attempt}"
        enc = xmltodict.parse(crypto.encrypt_message(xml, nonce, ts))["xml"]["Encrypt"]
        status, body = await send_raw(
            session, server.url + "/wechat?" + safe_query(enc, TOKEN, ts, nonce), envelope(enc)
        )
        assert status == 200
        replies.append(decrypt_reply(body, crypto))
    assert replies[0] == replies[1] == replies[2] and "020-83133733" in replies[0]
    assert server.services.store.stats()["questions"] == 1


async def test_replayed_wecom_message_same_reply_logged_once(server: Server, session) -> None:
    xml = text_xml("观摩项目有哪些", "1000001", user="zhangsan")
    crypto = WeComCrypto(WECOM_TOKEN, WECOM_AES_KEY, CORPID)
    replies = []
    for attempt in range(2):
        enc = encrypt_for(xml, WECOM_AES_KEY, CORPID)
        ts, nonce = str(1632103300 + attempt), f"w{attempt}"
        status, body = await send_raw(
            session, server.url + "/wecom?" + safe_query(enc, WECOM_TOKEN, ts, nonce), envelope(enc)
        )
        assert status == 200
        replies.append(decrypt_reply(body, crypto))
    assert replies[0] == replies[1] and replies[0].strip()
    assert server.services.store.stats()["questions"] == 1


async def send_raw(session: aiohttp.ClientSession, url: str, body: str) -> tuple[int, str]:
    async with session.post(url, data=body.encode("utf-8")) as r:
        return r.status, await r.text()


# -- load ---------------------------------------------------------------------------------------


@dataclass
class Result:
    kind: str
    question: str
    status: int
    answer: str
    started: float
    finished: float = 0.0
    error: str = ""


class Load:
    """At least `total` requests from `concurrency` workers, alternating web JSON and signed WeChat XML.

    With keep_going set, the workers carry on past `total` until it is cleared (at most HARD_MAX).
    """

    HARD_MAX = 20_000

    def __init__(
        self, base: str, total: int, concurrency: int = 50, keep_going: bool = False
    ) -> None:
        self.base = base
        self.total = total
        self.concurrency = concurrency
        self.keep_going = keep_going
        self.results: list[Result] = []
        self._next = 0

    def _take(self) -> int | None:
        if self._next >= self.HARD_MAX or (self._next >= self.total and not self.keep_going):
            return None
        self._next += 1
        return self._next - 1

    async def reached(self, count: int) -> None:
        """Wait until `count` answers are in."""
        while len(self.results) < count:
            await asyncio.sleep(0.005)

    async def _one(self, session: aiohttp.ClientSession, n: int) -> Result:
        question = QUESTIONS[n % len(QUESTIONS)]
        # alternate channels, and swap them every round so each question goes through both
        kind = "web" if (n + n // len(QUESTIONS)) % 2 == 0 else "wechat"
        started = time.monotonic()
        try:
            if kind == "web":
                async with session.post(self.base + "/api/ask", json={"text": question}) as r:
                    status = r.status
                    answer = (await r.json())["answer"] if status == 200 else await r.text()
            else:
                xml = text_xml(question, str(next(MSG_IDS)), user=f"oLoad{n % 97}")
                url = self.base + "/wechat?" + plain_query()
                async with session.post(url, data=xml.encode()) as r:
                    status = r.status
                    body = await r.text()
                    answer = reply_content(body) if status == 200 else body
            return Result(kind, question, status, answer, started, time.monotonic())
        except Exception as exc:  # recorded, so one failure does not hide the others
            error = f"{type(exc).__name__}: {exc}"
            return Result(kind, question, 0, "", started, time.monotonic(), error)

    async def run(self) -> list[Result]:
        async def worker(session: aiohttp.ClientSession) -> None:
            while (n := self._take()) is not None:
                self.results.append(await self._one(session, n))

        connector = aiohttp.TCPConnector(limit=self.concurrency)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await asyncio.gather(*(worker(session) for _ in range(self.concurrency)))
        return self.results


async def load(base: str, total: int, concurrency: int) -> list[Result]:
    return await Load(base, total, concurrency).run()


async def answers_now(base: str) -> dict[tuple[str, str], str]:
    """What each question gets right now on each channel, asked once."""
    out: dict[tuple[str, str], str] = {}
    for r in await load(base, len(QUESTIONS) * 2, 4):
        assert r.status == 200, r
        out[(r.kind, r.question)] = r.answer
    return out


def assert_all_answered(results: list[Result], at_least: int) -> None:
    errors = [r for r in results if r.status != 200 or r.error or not r.answer.strip()]
    assert len(results) >= at_least
    assert errors == [], f"{len(errors)} failed, e.g. {errors[:3]}"
    assert all(len(r.answer.encode()) <= MAX_TEXT_BYTES for r in results if r.kind == "wechat")


async def test_load_3000_requests_50_concurrent(server: Server, server_errors) -> None:
    expected = await answers_now(server.url)
    before = server.services.store.stats()["questions"]
    started = time.monotonic()
    results = await asyncio.wait_for(load(server.url, 3000, 50), LOAD_TIMEOUT)
    elapsed = time.monotonic() - started
    assert_all_answered(results, 3000)
    wrong = [r for r in results if r.answer != expected[(r.kind, r.question)]]
    assert wrong == [], f"{len(wrong)} answers differ under load, e.g. {wrong[:2]}"
    # every question reached the log exactly once: nothing dropped, nothing doubled
    assert server.services.store.stats()["questions"] == before + 3000
    assert server_errors() == []
    assert elapsed < LOAD_TIMEOUT


# -- reload under load ------------------------------------------------------------------------------


@pytest.fixture
async def editable(tmp_path: Path) -> AsyncIterator[Server]:
    """A server whose knowledge dir is a private copy the test may break and fix."""
    kdir = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, kdir)
    intents = tmp_path / "intents.yaml"
    shutil.copy(INTENTS, intents)
    engine = load_engine(kdir, intents, cache_dir=tmp_path / "cache")
    async with running(make_settings(tmp_path, kdir, intents), engine) as s:
        yield s


async def reload_during_load(
    server: Server, edit: Callable[[], None], total: int
) -> tuple[list[Result], Any, float, float]:
    """Keep 50 clients asking; apply the edit and reload after `total // 3` answers, stop `total` later."""
    running_load = Load(server.url, total, keep_going=True)
    task = asyncio.create_task(asyncio.wait_for(running_load.run(), LOAD_TIMEOUT))
    try:
        await asyncio.wait_for(running_load.reached(total // 3), LOAD_TIMEOUT)
        edit()
        reload_started = time.monotonic()
        outcome = await server.reloader.reload()
        reload_done = time.monotonic()
        assert not task.done()
        await asyncio.wait_for(
            running_load.reached(len(running_load.results) + total), LOAD_TIMEOUT
        )
        running_load.keep_going = False
        results = await task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    return results, outcome, reload_started, reload_done


async def test_broken_reload_under_load_keeps_serving_old_knowledge(
    editable: Server, server_errors
) -> None:
    server = editable
    path = server.services.settings.knowledge_dir / NOTICE
    good_text = path.read_text(encoding="utf-8")
    expected = await answers_now(server.url)
    version = server.services.engine.version

    def break_it() -> None:
        path.write_text("document: [unclosed\nunits: {{{\n", encoding="utf-8")

    results, outcome, _, _ = await reload_during_load(server, break_it, total=900)
    assert_all_answered(results, 1200)
    assert not outcome.ok and outcome.version == version
    assert any(NOTICE in p for p in outcome.problems), outcome.problems
    changed = [r for r in results if r.answer != expected[(r.kind, r.question)]]
    assert changed == [], f"answers changed after a failed reload: {changed[:2]}"
    assert server.services.engine.version == version
    # the operator's log says the reload failed; nothing else went wrong
    assert [e for e in server_errors() if "reload failed" not in e] == []

    # Now a good edit, also under load: every answer is either wholly old or wholly new,
    # the server keeps answering while the new index is built, and once the reload
    # returned only the new knowledge is served.
    def fix_it() -> None:
        path.write_text(good_text.replace("83133733", "83139999"), encoding="utf-8")

    results, outcome, started, done = await reload_during_load(server, fix_it, total=900)
    assert_all_answered(results, 1200)
    assert outcome.ok and outcome.version != version
    after = await answers_now(server.url)
    assert "020-83139999" in after[("web", PHONE_QUESTION)]
    assert "020-83139999" in after[("wechat", PHONE_QUESTION)]
    assert "83133733" not in after[("web", PHONE_QUESTION)]
    for r in results:
        key = (r.kind, r.question)
        assert r.answer in (expected[key], after[key]), f"mixed answer: {r}"
        if r.started > done:
            assert r.answer == after[key], f"old knowledge served after the reload: {r}"
        if r.finished < started:
            assert r.answer == expected[key], f"new knowledge served before the reload: {r}"
    assert sum(r.started > done for r in results) >= 900
    served_during = sum(started < r.finished < done for r in results)
    assert served_during > 0, f"no request was answered during the {done - started:.2f}s reload"


async def test_reload_is_reachable_through_services(editable: Server) -> None:
    """What admins call (/reload, SIGHUP) is the same Reloader the server wires in."""
    path = editable.services.settings.knowledge_dir / NOTICE
    path.write_text(
        path.read_text(encoding="utf-8").replace("83133733", "83130000"), encoding="utf-8"
    )
    reload: Callable[[], Awaitable[Any]] = editable.services.reload  # type: ignore[attr-defined]
    outcome = await reload()
    assert outcome.ok
    async with (
        aiohttp.ClientSession() as s,
        s.post(editable.url + "/api/ask", json={"text": PHONE_QUESTION}) as r,
    ):
        assert "020-83130000" in (await r.json())["answer"]
