"""Field-by-field comparison of a draft with a fixture's expect.yaml, shared by the notice tests and their figures."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import yaml
import zhconv

from bot.knowledge.ingest.draft import IngestResult

FIXTURES = Path(__file__).resolve().parent.parent / "notices" / "fixtures"


def names() -> list[str]:
    """Every fixture notice that has an expect file."""
    return sorted(p.name.removesuffix(".expect.yaml") for p in FIXTURES.glob("*.expect.yaml"))


def expect(name: str) -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / f"{name}.expect.yaml").read_text(encoding="utf-8"))


def squash(text: object) -> str:
    """Compare facts, not print: width, script, spaces and punctuation folded away."""
    folded = zhconv.convert(unicodedata.normalize("NFKC", str(text or "")), "zh-hans")
    return re.sub(r"[\s\W_]+", "", folded)


def similar(found: object, expected: object) -> bool:
    """The same phrase, or one naming the same thing: contained, or a long common stretch."""
    a, b = squash(found), squash(expected)
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    m = SequenceMatcher(None, a, b).find_longest_match(0, len(a), 0, len(b))
    return m.size >= max(2, 0.4 * min(len(a), len(b)))


def numbers(value: object) -> set[str]:
    return {re.sub(r"\D", "", n)[-8:] for n in re.split(r"[、,，/]", str(value or "")) if re.sub(r"\D", "", n)}


@dataclass
class Score:
    """Checks of one draft: name → passed; what failed, for the message."""

    checks: dict[str, bool] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks[name] = ok
        if not ok:
            self.failures.append(f"{name}: {detail}")


def score(result: IngestResult, exp: dict[str, Any], notice_text: str) -> Score:
    """issuer, 文号, date, title, deadlines (date, what, to), contacts (name, numbers), attachments, tables."""
    s = Score()
    doc = result.data["document"]
    for key in ("issuer", "number", "title"):
        want, got = exp.get(key), doc.get(key)
        s.add(key, squash(want) == squash(got) if want else got is None, f"{got!r} ≠ {want!r}")
    want_date = exp.get("date")
    s.add("date", doc.get("date") == want_date, f"{doc.get('date')} ≠ {want_date}")
    got_deadlines = result.data.get("deadlines", [])
    s.add("deadline dates", sorted(d["date"] for d in got_deadlines) == sorted(d["date"] for d in exp["deadlines"]),
          f"{[d['date'] for d in got_deadlines]} ≠ {[d['date'] for d in exp['deadlines']]}")
    flat = squash(notice_text)
    for want in exp["deadlines"]:
        got = next((d for d in got_deadlines if d["date"] == want["date"]), None)
        for part in ("what", "to"):
            value = got.get(part, "") if got else ""
            s.add(f"deadline {want['date']} {part}", similar(value, want[part]) and squash(value) in flat, f"{value!r} vs {want[part]!r}")
        if got:
            for part in ("what", "how", "to", "who"):
                pieces = [x for x in re.split(r"[，,]", got.get(part, "")) if x]
                if pieces:  # what the draft states must be the notice's own words
                    s.add(f"deadline {want['date']} {part} verbatim", all(squash(x) in flat for x in pieces), repr(got[part]))
    got_contacts = {squash(c["name"]): c for c in result.data.get("contacts", [])}
    s.add("contact names", set(got_contacts) == {squash(c["name"]) for c in exp["contacts"]},
          f"{sorted(got_contacts)} ≠ {sorted(c['name'] for c in exp['contacts'])}")
    for want in exp["contacts"]:
        got = got_contacts.get(squash(want["name"]), {})
        for part in ("phone", "mobile", "fax"):
            s.add(f"contact {want['name']} {part}", numbers(got.get(part)) == numbers(want.get(part)), f"{got.get(part)!r} vs {want.get(part)!r}")
        if got.get("email"):
            s.add(f"contact {want['name']} email", got["email"] == want.get("email"), f"{got['email']!r} vs {want.get('email')!r}")
    got_attachments = [squash(a["name"]) for a in result.report.attachments]
    s.add("attachments", got_attachments == [squash(a) for a in exp["attachments"]], f"{got_attachments}")
    got_tables = result.data.get("tables", [])
    s.add("tables", [(t["columns"], len(t["rows"])) for t in got_tables] == [(t["columns"], t["rows"]) for t in exp["tables"]],
          f"{[(t['title'], t['columns'], len(t['rows'])) for t in got_tables]}")
    for want, got_table in zip(exp["tables"], got_tables, strict=False):
        s.add(f"table {want['title']} title", similar(got_table["title"], want["title"]), got_table["title"])
    s.add("every line placed", result.leftover == [], "; ".join(str(x) for x in result.leftover))
    return s


def when(exp: dict[str, Any]) -> dt.datetime:
    """Ask the questions a few days after the notice was dated, as users do."""
    day = exp.get("date") or dt.date(2020, 1, 1)
    return dt.datetime(day.year, day.month, day.day, 10, 0) + dt.timedelta(days=3)
