"""Shared by the console tests: a bot over a private copy of the knowledge, accounts, and logging in."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bot.config import Settings, load_settings
from bot.service import Service, load_engine
from bot.state.accounts import Accounts
from bot.state.store import Store
from tests.channels.test_web import FIXED_NOW
from tests.conftest import INTENTS, KNOWLEDGE

PASSWORD = "correct-horse-42"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
NOTICE = "gd-2021-quality-month.yaml"


def console_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings over a copy of the knowledge and intents the test may edit, and a fresh data folder."""
    kdir = tmp_path / "knowledge"
    if not kdir.exists():
        shutil.copytree(KNOWLEDGE, kdir, ignore=shutil.ignore_patterns("sources"))
        shutil.copy(INTENTS, tmp_path / "intents.yaml")
    return load_settings(
        {}, knowledge_dir=kdir, intents_file=tmp_path / "intents.yaml", db=tmp_path / "data" / "bot.sqlite3", **overrides
    )


def console_services(tmp_path: Path, **overrides: object) -> Service:
    """The service as the running bot builds it, with the clock fixed inside the campaign."""
    settings = console_settings(tmp_path, **overrides)
    engine = load_engine(settings.knowledge_dir, settings.intents_file, zone=settings.zone, cache_dir=settings.cache_dir)
    return Service(engine=engine, store=Store(settings.db), settings=settings, clock=lambda: FIXED_NOW)


def add_account(services: Service, name: str, role: str, password: str = PASSWORD) -> None:
    """An account, as `run_bot.py users add` makes it."""
    Accounts(services.store).add(name, role, password, FIXED_NOW)


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = CSRF.search(html)
    assert found, html[:500]
    return found.group(1)


async def login(client, name: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the CSRF token of the page the login lands on."""
    page = await client.get("/admin/login")
    token = csrf_of(await page.text())
    response = await client.post("/admin/login", data={"username": name, "password": password, "csrf": token})
    assert response.status == 200 and "/admin/login" not in str(response.url), await response.text()
    return csrf_of(await response.text())
