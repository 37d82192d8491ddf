"""Who is using the console: signed session cookies, CSRF tokens, the login form and the access guard.

A session is a cookie ``v1.<payload>.<signature>``: the payload names the account, its epoch
(bumped by logout, a password change or removal, which ends older sessions) and the expiry; the
signature is an HMAC-SHA256 with the console secret. The cookie is HttpOnly and SameSite=Strict,
and every POST must also carry the session's CSRF token. Anonymous visitors of a page are sent
to the login; anonymous POSTs and JSON requests get 401, editors on admin-only routes get 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import web

from bot.channels.admin import render as r
from bot.service import Service
from bot.state.accounts import ROLE_NAMES, Account, Accounts

log = logging.getLogger(__name__)

SESSION_COOKIE = "qm_console"
LOGIN_COOKIE = "qm_console_login"  # the login form's own CSRF nonce, before there is a session
PREFIX = "/admin"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
F = TypeVar("F", bound=Callable[..., Any])


def access(level: str) -> Callable[[F], F]:
    """Mark a handler public, for editors (the default) or for admins only."""

    def mark(handler: F) -> F:
        handler.access = level  # type: ignore[attr-defined]
        return handler

    return mark


@dataclass(frozen=True)
class Staff:
    """The signed-in staff member of one request."""

    account: Account
    nonce: str
    csrf: str

    @property
    def name(self) -> str:
        """The account name, as the audit log writes it."""
        return self.account.name

    @property
    def is_admin(self) -> bool:
        """Admins may broadcast, manage accounts and read the audit log."""
        return self.account.is_admin

    @property
    def role_name(self) -> str:
        """The role in Chinese."""
        return ROLE_NAMES.get(self.account.role, self.account.role)


STAFF: web.RequestKey[Staff] = web.RequestKey("staff", Staff)


class Auth:
    """Sessions, CSRF and login for one console."""

    def __init__(self, services: Service, accounts: Accounts, secret: bytes) -> None:
        """`secret` signs the cookies; `now` is real time (the bot's clock may be fixed for demos)."""
        self.services = services
        self.accounts = accounts
        self.secret = secret
        self.now: Callable[[], float] = time.time

    @property
    def lifetime(self) -> int:
        """Seconds a login lasts."""
        return max(60, int(self.services.settings.console_session_minutes) * 60)

    def moment(self) -> datetime:
        """The real time in the bot's zone, for lockouts and the audit log."""
        return datetime.fromtimestamp(self.now(), self.services.settings.zone)

    def _sign(self, text: str) -> str:
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()

    def token(self, purpose: str, nonce: str) -> str:
        """A CSRF token bound to a session (or login form) nonce."""
        return self._sign(f"{purpose}:{nonce}")[:40]

    def issue(self, account: Account) -> str:
        """A fresh signed session cookie value for the account."""
        payload = {"u": account.name, "e": account.epoch, "x": int(self.now()) + self.lifetime, "n": secrets.token_hex(12)}
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"v1.{body}.{self._sign(body)}"

    def current(self, request: web.Request) -> Staff | None:
        """The staff member whose valid, unexpired session cookie came with the request."""
        value = request.cookies.get(SESSION_COOKIE, "")
        version, _, rest = value.partition(".")
        body, _, signature = rest.partition(".")
        if version != "v1" or not body or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            name, epoch, expires, nonce = str(payload["u"]), int(payload["e"]), int(payload["x"]), str(payload["n"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires <= self.now():
            return None
        account = self.accounts.get(name)
        if account is None or account.epoch != epoch:
            return None
        return Staff(account, nonce, self.token("csrf", nonce))

    def set_session(self, response: web.StreamResponse, request: web.Request, value: str) -> None:
        """The session cookie: HttpOnly, SameSite=Strict, expiring with the session."""
        response.set_cookie(
            SESSION_COOKIE, value, max_age=self.lifetime, path=PREFIX, httponly=True, samesite="Strict", secure=request.secure
        )

    # -- handlers ---------------------------------------------------------------------------

    @access("public")
    async def login_form(self, request: web.Request) -> web.StreamResponse:
        """The login page, with a CSRF nonce of its own."""
        if self.current(request) is not None:
            raise web.HTTPSeeOther(_safe_next(request.query.get("next", "")))
        return self._login_page(request, "", request.query.get("next", ""), status=200)

    def _login_page(self, request: web.Request, error: str, next_url: str, status: int, username: str = "") -> web.Response:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if len(nonce) != 24:
            nonce = secrets.token_hex(12)
        body = r.login_body(self.token("login", nonce), error, next_url, username)
        response = r.html_page("登录", body, status=status)
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, path=PREFIX, httponly=True, samesite="Strict", secure=request.secure)
        return response

    @access("public")
    async def login(self, request: web.Request) -> web.StreamResponse:
        """Check the password; five failures in a row lock the account for 15 minutes."""
        form = await request.post()
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        given = str(form.get("csrf", ""))
        if not nonce or not hmac.compare_digest(given, self.token("login", nonce)):
            return self._login_page(request, "页面已过期，请重新登录。", str(form.get("next", "")), status=403)
        name = str(form.get("username", "")).strip()[:64]
        password = str(form.get("password", ""))
        next_url = str(form.get("next", ""))
        now = self.moment()
        result = self.accounts.login(name, password, now)
        if result.account is None:
            if result.reason == "locked":
                until = result.locked_until.astimezone(now.tzinfo).strftime("%H:%M") if result.locked_until else ""
                message = f"登录失败次数过多，账户已锁定 15 分钟（{until} 后再试）。"
                self.accounts.audit(name, "login-locked", "账户因连续登录失败被锁定或仍在锁定中", now)
            else:
                message = "用户名或密码不正确。"
                self.accounts.audit(name, "login-failed", "", now)
            log.info("console: failed login for %r (%s)", name, result.reason)
            return self._login_page(request, message, next_url, status=401, username=name)
        self.accounts.audit(result.account.name, "login", "", now)
        log.info("console: %s logged in", result.account.name)
        response = web.HTTPSeeOther(_safe_next(next_url))
        self.set_session(response, request, self.issue(result.account))
        response.del_cookie(LOGIN_COOKIE, path=PREFIX)
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """End every session of the account, not just this cookie."""
        staff = request[STAFF]
        self.accounts.end_sessions(staff.name)
        self.accounts.audit(staff.name, "logout", "", self.moment())
        response = web.HTTPSeeOther(f"{PREFIX}/login")
        response.del_cookie(SESSION_COOKIE, path=PREFIX)
        raise response

    # -- the guard --------------------------------------------------------------------------

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every console route: security headers, sign-in, role and CSRF checks, no traceback ever."""
        try:
            response = await self._checked(request, handler)
        except web.HTTPNotFound:
            response = r.html_page("找不到页面", r.alert("error", "找不到这个页面或条目，可能已被修改或删除。") + '<p><a href="/admin/">返回概览</a></p>', status=404)
        except web.HTTPException as exc:  # redirects: raised, with the same headers
            for key, value in r.HEADERS.items():
                exc.headers.setdefault(key, value)
            raise
        except Exception:
            log.exception("console: %s %s failed", request.method, request.path)
            response = r.html_page("出错了", r.alert("error", "处理请求时出错，未做任何修改。请返回重试，问题持续请联系技术人员。"), status=500)
        for key, value in r.HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    async def _checked(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        level = getattr(handler, "access", "editor")
        if level == "public" or request.path.startswith(f"{PREFIX}/static/"):
            return await handler(request)
        staff = self.current(request)
        wants_json = request.path.startswith(f"{PREFIX}/api/")
        if staff is None:
            if request.method in ("GET", "HEAD") and not wants_json:
                raise web.HTTPSeeOther(f"{PREFIX}/login?next={quote(request.path_qs, safe='')}")
            return _refuse(401, "请先登录。", wants_json)
        if level == "admin" and not staff.is_admin:
            return _refuse(403, "只有管理员可以使用这个功能。", wants_json or request.method == "POST")
        if request.method == "POST":
            try:
                form = await request.post()
            except web.HTTPRequestEntityTooLarge:
                return _refuse(413, "上传的内容太大。", wants_json)
            given = str(form.get("csrf", "")) or request.headers.get("X-CSRF-Token", "")
            if not hmac.compare_digest(given, staff.csrf):
                return _refuse(403, "页面已过期或请求来源不明（CSRF 校验失败），未做任何修改。请刷新页面后重试。", wants_json)
        request[STAFF] = staff
        return await handler(request)


def _refuse(status: int, message: str, plain: bool) -> web.Response:
    """A JSON refusal for API and form posts, a page otherwise."""
    if plain:
        return web.json_response({"error": message}, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))
    return r.html_page("没有权限", r.alert("error", message), status=status)


def _safe_next(value: str) -> str:
    """Only a path inside the console may follow the login (no open redirect)."""
    if value.startswith(f"{PREFIX}/") and not value.startswith("//") and "\\" not in value and "://" not in value:
        return value
    return f"{PREFIX}/"

