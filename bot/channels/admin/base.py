"""What every console page shares: the service, accounts, the signed-in staff member, layout and flash messages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.channels.admin import render as r
from bot.channels.admin.auth import STAFF, Auth, Staff, access
from bot.config import parse_moment
from bot.service import Service
from bot.state.accounts import Accounts, console_secret

MAX_FLASH = 1000  # pending one-shot messages kept in memory (one per session at most)
Page = Callable[["Console", web.Request], Awaitable[web.StreamResponse]]


class Console:
    """The staff console of one running bot."""

    def __init__(self, services: Service) -> None:
        """Accounts live in the bot's SQLite file; the signing key beside it (or BOT_CONSOLE_SECRET)."""
        self.services = services
        self.accounts = Accounts(services.store)
        secret = console_secret(services.settings.db.parent, services.settings.console_secret)
        self.auth = Auth(services, self.accounts, secret)
        self._flash: dict[str, tuple[str, str]] = {}

    def now(self) -> datetime:
        """Real time (the bot's clock may be fixed under --now; audit rows and lockouts are not)."""
        return self.auth.moment()

    def handler(self, page: Page, level: str = "editor") -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """A route handler for `page`, marked with who may use it."""

        async def handle(request: web.Request) -> web.StreamResponse:
            return await page(self, request)

        return access(level)(handle)

    def page(self, request: web.Request, title: str, body: str, status: int = 200) -> web.Response:
        """A full page for the signed-in staff member: menu, degraded-knowledge banner, pending message."""
        staff = request[STAFF]
        status_now = self.services.status
        flash = ""
        pending = self._flash.pop(staff.nonce, None)
        if pending is not None:
            flash = r.alert(pending[0], pending[1])
        return r.html_page(
            title,
            body,
            status=status,
            nav=r.nav(request.path, staff.is_admin, staff.name, staff.role_name, staff.csrf),
            banner=r.banner(status_now.ok, status_now.describe(), status_now.problems),
            flash=flash,
        )

    def done(self, request: web.Request, location: str, message: str, kind: str = "ok") -> web.HTTPSeeOther:
        """Redirect after a POST, showing `message` once on the next page."""
        if len(self._flash) >= MAX_FLASH:
            self._flash.clear()
        self._flash[request[STAFF].nonce] = (kind, message)
        return web.HTTPSeeOther(location)

    def audit(self, request: web.Request, action: str, detail: str) -> None:
        """Record what the signed-in staff member did."""
        self.accounts.audit(request[STAFF].name, action, detail, self.now())


def csrf(request: web.Request) -> str:
    """The CSRF token every form of this page must carry."""
    return request[STAFF].csrf


def staff_of(request: web.Request) -> Staff:
    """The signed-in staff member."""
    return request[STAFF]


def form_value(form: Any, key: str, limit: int = 20000) -> str:
    """A posted text field, capped, as a string (a file field counts as empty)."""
    value = form.get(key, "")
    return value[:limit] if isinstance(value, str) else ""


def moment(text: str, c: Console) -> datetime | None:
    """A typed time (ISO-8601, naive means the bot's zone) or None when empty; ValueError in Chinese."""
    text = text.strip()
    if not text:
        return None
    try:
        return parse_moment(text, c.services.settings.zone)
    except ValueError:
        raise ValueError("时间格式应为 2021-09-25T10:00 或 2021-09-25。") from None
