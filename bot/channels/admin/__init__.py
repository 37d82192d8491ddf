"""The staff console at /admin: accounts, overview, review of unanswered questions, hit test, knowledge,
notices, broadcast, reminders and the audit log, served by the bot's own aiohttp process.

Every route passes the guard (bot.channels.admin.auth): pages need a signed-in account, admin
pages the admin role, every POST the session's CSRF token. ``BOT_CONSOLE=off`` leaves it unmounted.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.channels.admin import broadcast, knowledge, notices, overview, people, review
from bot.channels.admin.base import Console, Page
from bot.channels.http import json_response
from bot.service import Service

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONSOLE: web.AppKey[Console] = web.AppKey("console", Console)


async def _status(c: Console, request: web.Request) -> web.StreamResponse:
    """The knowledge status as JSON (is the bot degraded, since when, why)."""
    s = c.services.status
    return json_response(
        {"ok": s.ok, "serving": s.serving, "since": s.since.isoformat() if s.since else None, "problems": s.problems}
    )


PAGES: list[tuple[str, str, Page, str]] = [  # method, path under /admin, page, who may use it
    ("GET", "/", overview.overview, "editor"),
    ("GET", "/review", review.review, "editor"),
    ("POST", "/review/paraphrase", review.add_paraphrase, "editor"),
    ("POST", "/review/out-of-scope", review.out_of_scope, "editor"),
    ("POST", "/review/dismiss", review.dismiss, "editor"),
    ("GET", "/test", review.hit_test, "editor"),
    ("POST", "/test", review.hit_test, "editor"),
    ("GET", "/api/hit-test", review.hit_test_json, "editor"),
    ("GET", "/api/status", _status, "editor"),
    ("GET", "/knowledge", knowledge.documents, "editor"),
    ("GET", "/knowledge/{doc}", knowledge.document, "editor"),
    ("GET", "/unit/{id}", knowledge.unit_page, "editor"),
    ("POST", "/unit/{id}", knowledge.save_unit, "editor"),
    ("GET", "/deadline/{id}", knowledge.deadline_page, "editor"),
    ("POST", "/deadline/{id}", knowledge.save_deadline, "editor"),
    ("GET", "/contact/{id}", knowledge.contact_page, "editor"),
    ("POST", "/contact/{id}", knowledge.save_contact, "editor"),
    ("GET", "/table/{id}", knowledge.table_page, "editor"),
    ("POST", "/table/{id}/{row}", knowledge.save_row, "editor"),
    ("GET", "/notices", notices.notices, "editor"),
    ("POST", "/notices/upload", notices.upload, "editor"),
    ("GET", "/notices/draft/{name}", notices.draft_page, "editor"),
    ("POST", "/notices/draft/{name}", notices.save_draft, "editor"),
    ("POST", "/notices/draft/{name}/discard", notices.discard, "editor"),
    ("POST", "/notices/archive", notices.archive, "editor"),
    ("GET", "/reminders", broadcast.reminders, "editor"),
    ("POST", "/reminders", broadcast.reminders, "editor"),
    ("GET", "/broadcast", broadcast.compose, "admin"),
    ("POST", "/broadcast", broadcast.edit_again, "admin"),
    ("POST", "/broadcast/preview", broadcast.preview, "admin"),
    ("POST", "/broadcast/send", broadcast.send, "admin"),
    ("GET", "/audit", people.audit_log, "admin"),
    ("GET", "/users", people.users, "admin"),
    ("POST", "/users/add", people.add_user, "admin"),
    ("POST", "/users/passwd", people.passwd, "admin"),
    ("POST", "/users/remove", people.remove_user, "admin"),
]


async def _to_console(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/admin/")


def setup(app: web.Application, services: Service) -> Console | None:
    """Mount the console under /admin, unless BOT_CONSOLE=off."""
    if not services.settings.console_on:
        return None
    console = Console(services)
    admin = web.Application(middlewares=[console.auth.guard])
    admin.router.add_get("/login", console.auth.login_form)
    admin.router.add_post("/login", console.auth.login)
    admin.router.add_post("/logout", console.auth.logout)
    for method, path, page, level in PAGES:
        admin.router.add_route(method, path, console.handler(page, level))
    admin.router.add_static("/static/", STATIC_DIR, name="admin-static")
    app.router.add_get("/admin", _to_console)
    app.add_subapp("/admin", admin)
    app[CONSOLE] = console
    return console
