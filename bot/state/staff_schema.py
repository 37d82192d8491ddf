"""Tables of the staff console: accounts, the audit log and reviewed questions (one schema migration)."""

from __future__ import annotations

STAFF_TABLES: list[str] = [
    # password: "scrypt$n$r$p$salt$hash" (base64); epoch is bumped to end every session of the account
    """CREATE TABLE accounts (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password TEXT NOT NULL,
        epoch INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL
    )""",
    """CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        who TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX audit_at ON audit (at)",
    # An unanswered question (by normalised text) staff turned into knowledge, marked out of scope or dismissed
    """CREATE TABLE reviewed (
        normalized TEXT PRIMARY KEY,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        who TEXT NOT NULL,
        at TEXT NOT NULL
    )""",
]
