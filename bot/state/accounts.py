"""Staff accounts and the audit log, in the bot's SQLite file.

Passwords are kept only as scrypt hashes (memory-hard, salted). Five failed logins lock an
account for fifteen minutes. Every session carries the account's epoch; changing the password,
logging out or removing the account bumps it, which ends every session issued before.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.state.store import Store, _dt, _ts

ROLES = ("admin", "editor")
ROLE_NAMES = {"admin": "管理员", "editor": "编辑"}
LOCK_AFTER = 5  # failed logins in a row
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # scrypt of a megabyte "password" would be a cheap way to burn CPU
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # 16 MiB per hash; about 0.1 s on this project's 2-core machine
_NAME = re.compile(r"[A-Za-z0-9_.\-\u4e00-\u9fff]{1,32}")


def hash_password(password: str) -> str:
    """A salted scrypt hash in one text field: scrypt$n$r$p$salt$hash."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against hash_password's output."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@functools.cache
def _dummy() -> str:
    """A hash checked for unknown names, so timing does not tell who exists; made on the first login,
    not at import (scrypt takes 16 MB and tens of milliseconds, which every start would pay)."""
    return hash_password(secrets.token_hex(16))


def check_password_rules(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD:
        return f"密码至少 {MIN_PASSWORD} 个字符。"
    if len(password) > MAX_PASSWORD:
        return f"密码最多 {MAX_PASSWORD} 个字符。"
    return None


def console_secret(folder: Path, configured: str = "") -> bytes:
    """The key that signs console sessions: BOT_CONSOLE_SECRET, else a random one kept in the data folder."""
    if configured:
        return configured.encode()
    path = folder / "console-secret"
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        pass
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key)
    return bytes.fromhex(key)


@dataclass(frozen=True)
class Account:
    """A staff member who may use the console."""

    name: str
    role: str
    epoch: int
    failed: int
    locked_until: datetime | None
    created: datetime | None

    @property
    def is_admin(self) -> bool:
        """Admins manage accounts, broadcast and read the audit log; editors edit knowledge."""
        return self.role == "admin"

    def locked(self, now: datetime) -> bool:
        """Whether failed logins still lock the account."""
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True)
class Login:
    """The outcome of a login attempt: the account, or why not."""

    account: Account | None
    reason: str = ""  # "" | "bad" | "locked"
    locked_until: datetime | None = None


class Accounts:
    """Accounts and audit rows, sharing the Store's connection and lock."""

    def __init__(self, store: Store) -> None:
        """Use the bot's one SQLite connection."""
        self.store = store

    def add(self, name: str, role: str, password: str, now: datetime) -> Account:
        """Create an account; ValueError (in Chinese) for a taken or bad name, role or password."""
        if not _NAME.fullmatch(name):
            raise ValueError("用户名只能包含字母、数字、汉字、下划线、点和连字符，最多 32 个字符。")
        if role not in ROLES:
            raise ValueError("角色必须是 admin（管理员）或 editor（编辑）。")
        problem = check_password_rules(password)
        if problem:
            raise ValueError(problem)
        hashed = hash_password(password)
        with self.store._tx() as conn:
            if conn.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
                raise ValueError(f"用户 {name} 已存在。")
            conn.execute(
                "INSERT INTO accounts (name, role, password, created) VALUES (?, ?, ?, ?)",
                (name, role, hashed, _ts(now)),
            )
        account = self.get(name)
        assert account is not None
        return account

    def set_password(self, name: str, password: str) -> None:
        """A new password ends the account's sessions and lifts a lock; ValueError when unknown or too short."""
        problem = check_password_rules(password)
        if problem:
            raise ValueError(problem)
        hashed = hash_password(password)
        with self.store._tx() as conn:
            cur = conn.execute(
                "UPDATE accounts SET password = ?, epoch = epoch + 1, failed = 0, locked_until = '' WHERE name = ?",
                (hashed, name),
            )
            if cur.rowcount == 0:
                raise ValueError(f"没有用户 {name}。")

    def remove(self, name: str) -> bool:
        """Delete an account (its sessions stop working at once); False when there was none."""
        with self.store._tx() as conn:
            return conn.execute("DELETE FROM accounts WHERE name = ?", (name,)).rowcount > 0

    def end_sessions(self, name: str) -> None:
        """Log the account out everywhere."""
        with self.store._tx() as conn:
            conn.execute("UPDATE accounts SET epoch = epoch + 1 WHERE name = ?", (name,))

    def get(self, name: str) -> Account | None:
        """One account by name."""
        rows = self.store._read("SELECT * FROM accounts WHERE name = ?", (name,))
        return _account(rows[0]) if rows else None

    def all(self) -> list[Account]:
        """Every account, by name."""
        return [_account(r) for r in self.store._read("SELECT * FROM accounts ORDER BY name")]

    def login(self, name: str, password: str, now: datetime) -> Login:
        """Check a password, counting failures: the fifth in a row locks the account for LOCK_FOR."""
        rows = self.store._read("SELECT * FROM accounts WHERE name = ?", (name,))
        if not rows:
            verify_password(password, _dummy())
            return Login(None, "bad")
        account = _account(rows[0])
        if account.locked(now):
            return Login(None, "locked", account.locked_until)
        if verify_password(password, rows[0]["password"]):
            with self.store._tx() as conn:
                conn.execute("UPDATE accounts SET failed = 0, locked_until = '' WHERE name = ?", (name,))
            return Login(self.get(name))
        with self.store._tx() as conn:
            failed = account.failed + 1
            if failed >= LOCK_AFTER:
                until = now + LOCK_FOR
                conn.execute("UPDATE accounts SET failed = 0, locked_until = ? WHERE name = ?", (_ts(until), name))
                return Login(None, "locked", until)
            conn.execute("UPDATE accounts SET failed = ? WHERE name = ?", (failed, name))
        return Login(None, "bad")

    # -- audit ------------------------------------------------------------------------------

    def audit(self, who: str, action: str, detail: str, now: datetime) -> None:
        """Keep who changed what and when (never a password)."""
        with self.store._tx() as conn:
            conn.execute(
                "INSERT INTO audit (at, who, action, detail) VALUES (?, ?, ?, ?)",
                (_ts(now), who, action, detail[:2000]),
            )

    def audit_rows(self, limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
        """The newest audit rows first."""
        rows = self.store._read(
            "SELECT at, who, action, detail FROM audit ORDER BY id DESC LIMIT ? OFFSET ?", (int(limit), int(offset))
        )
        return [{**dict(r), "at": _dt(r["at"])} for r in rows]


def _account(row: Any) -> Account:
    return Account(
        name=row["name"],
        role=row["role"],
        epoch=int(row["epoch"]),
        failed=int(row["failed"]),
        locked_until=_dt(row["locked_until"]) if row["locked_until"] else None,
        created=_dt(row["created"]),
    )
