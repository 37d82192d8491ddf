"""Recording fakes of the WeChat Official Account API and the WeCom API on 127.0.0.1.

They check what the real platforms check (credentials, token, required fields) and answer with the
error codes the platforms document, so the senders run their real HTTP client against them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

APPID = "wx-test-appid"
SECRET = "test-secret"
TEMPLATE_ID = "TPL-deadline-reminder"
CORPID = "ww-test-corp"
CORP_SECRET = "corp-app-secret"
AGENTID = 1000002


def answer(data: dict[str, Any]) -> web.Response:
    """WeChat serves its JSON as text/plain; the client must cope."""
    return web.Response(text=json.dumps(data), content_type="text/plain")


@dataclass
class FakeWeChatApi:
    """Issues tokens, accepts customer-service and template messages, and answers scripted error codes."""

    token_delay: float = 0.05  # long enough for concurrent callers to overlap a fetch
    expires_in: int = 7200
    token_requests: list[dict[str, str]] = field(default_factory=list)
    send_requests: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    template_requests: list[dict[str, Any]] = field(default_factory=list)
    templates_delivered: list[dict[str, Any]] = field(default_factory=list)
    next_errors: list[int] = field(default_factory=list)  # customer service: answered once each, in order
    next_template_errors: list[int] = field(default_factory=list)
    user_errors: dict[str, int] = field(default_factory=dict)  # answered for that openid every time
    template_ids: set[str] = field(default_factory=lambda: {TEMPLATE_ID})
    valid: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    _serial: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        """The routes the senders use."""
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.send)
        app.router.add_post("/cgi-bin/message/template/send", self.template)
        return app

    def expire_all(self) -> None:
        """Make every issued token answer 42001, as WeChat does once expires_in has passed."""
        self.expired |= self.valid
        self.valid.clear()

    def revoke_all(self) -> None:
        """Make every issued token answer 40001, as after another client fetched a new one."""
        self.valid.clear()

    async def token(self, request: web.Request) -> web.Response:
        """GET /cgi-bin/token: a fresh token for the right credentials."""
        query = dict(request.query)
        self.token_requests.append(query)
        await asyncio.sleep(self.token_delay)
        if query.get("grant_type") != "client_credential":
            return answer({"errcode": 40002, "errmsg": "invalid grant_type"})
        if query.get("appid") != APPID:
            return answer({"errcode": 40013, "errmsg": "invalid appid"})
        if query.get("secret") != SECRET:
            return answer({"errcode": 40125, "errmsg": "invalid appsecret"})
        token = f"TOKEN-{next(self._serial)}"
        self.valid.add(token)
        return answer({"access_token": token, "expires_in": self.expires_in})

    def _token_error(self, token: str) -> web.Response | None:
        if token in self.expired:
            return answer({"errcode": 42001, "errmsg": "access_token expired"})
        if token not in self.valid:
            return answer({"errcode": 40001, "errmsg": "invalid credential"})
        return None

    async def send(self, request: web.Request) -> web.Response:
        """POST /cgi-bin/message/custom/send: checks the token, then delivers or refuses."""
        raw = await request.read()
        token = request.query.get("access_token", "")
        body = json.loads(raw.decode("utf-8"))
        self.send_requests.append(
            {"token": token, "body": body, "raw": raw, "content_type": request.headers.get("Content-Type", "")}
        )
        if self.next_errors:
            return answer({"errcode": self.next_errors.pop(0), "errmsg": "scripted"})
        refused = self._token_error(token)
        if refused is not None:
            return refused
        code = self.user_errors.get(body.get("touser", ""))
        if code:
            return answer({"errcode": code, "errmsg": "scripted for user"})
        self.delivered.append(body)
        return answer({"errcode": 0, "errmsg": "ok"})

    async def template(self, request: web.Request) -> web.Response:
        """POST /cgi-bin/message/template/send: token, template id and data shape checked, then delivered."""
        raw = await request.read()
        token = request.query.get("access_token", "")
        body = json.loads(raw.decode("utf-8"))
        self.template_requests.append({"token": token, "body": body, "raw": raw})
        if self.next_template_errors:
            return answer({"errcode": self.next_template_errors.pop(0), "errmsg": "scripted"})
        refused = self._token_error(token)
        if refused is not None:
            return refused
        if body.get("template_id") not in self.template_ids:
            return answer({"errcode": 40037, "errmsg": "invalid template_id"})
        data = body.get("data")
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()
        ):
            return answer({"errcode": 47001, "errmsg": "data format error"})
        code = self.user_errors.get(body.get("touser", ""))
        if code:
            return answer({"errcode": code, "errmsg": "scripted for user"})
        self.templates_delivered.append(body)
        return answer({"errcode": 0, "errmsg": "ok", "msgid": 200228332})


@dataclass
class FakeWeComApi:
    """WeCom's gettoken and message/send: a corp app pushes text to members; members who left are refused."""

    corpid: str = CORPID
    token_requests: list[dict[str, str]] = field(default_factory=list)
    send_requests: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    left: set[str] = field(default_factory=set)  # userids no longer in the corp
    next_errors: list[int] = field(default_factory=list)
    valid: set[str] = field(default_factory=set)
    _serial: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        """The routes the WeCom sender uses."""
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self.token)
        app.router.add_post("/cgi-bin/message/send", self.send)
        return app

    async def token(self, request: web.Request) -> web.Response:
        """GET /cgi-bin/gettoken?corpid=&corpsecret=."""
        query = dict(request.query)
        self.token_requests.append(query)
        if query.get("corpid") != self.corpid:
            return answer({"errcode": 40013, "errmsg": "invalid corpid"})
        if query.get("corpsecret") != CORP_SECRET:
            return answer({"errcode": 40001, "errmsg": "invalid secret"})
        token = f"WECOM-{next(self._serial)}"
        self.valid.add(token)
        return answer({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})

    async def send(self, request: web.Request) -> web.Response:
        """POST /cgi-bin/message/send: a text to one member of the app's visible range."""
        token = request.query.get("access_token", "")
        body = json.loads((await request.read()).decode("utf-8"))
        self.send_requests.append({"token": token, "body": body})
        if self.next_errors:
            return answer({"errcode": self.next_errors.pop(0), "errmsg": "scripted"})
        if token not in self.valid:
            return answer({"errcode": 40014, "errmsg": "invalid access_token"})
        if body.get("agentid") != AGENTID or body.get("msgtype") != "text":
            return answer({"errcode": 40056, "errmsg": "invalid agentid"})
        users = [u for u in str(body.get("touser", "")).split("|") if u]
        gone = [u for u in users if u in self.left]
        if users and len(gone) == len(users):
            return answer({"errcode": 81013, "errmsg": "user & party & tag all invalid", "invaliduser": "|".join(gone)})
        self.delivered.append(body)
        return answer({"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(gone)})
