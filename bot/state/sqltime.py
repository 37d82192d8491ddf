"""Times as the SQLite file keeps them: UTC ISO-8601 text, so string order equals time order."""

from __future__ import annotations

from datetime import UTC, date, datetime


def ts(value: datetime) -> str:
    """UTC text form, so SQL comparisons order by time; a naive time is refused (its zone would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"aware datetime required, got naive {value!r}")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def dt(text: str | None) -> datetime | None:
    """Inverse of ts for rows read back."""
    return None if text is None else datetime.fromisoformat(text)


def day(value: date | None) -> str:
    """Key form of a reminder's deadline date ('' when the caller does not track dates)."""
    return "" if value is None else value.isoformat()
