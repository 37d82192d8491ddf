"""Entities in a question: cities, projects and organisations, replaced by placeholders before retrieval."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.model import Knowledge
from bot.core.text import PLACEHOLDERS, Normalizer, fold

_LATIN = re.compile(r"[a-z]{3,}")
_SUFFIXES = ("有限责任公司", "股份有限公司", "有限公司", "集团", "项目", "工程")


@dataclass(frozen=True)
class Entity:
    """A city, project or organisation recognised in a question."""

    role: str  # city | project | org
    canonical: str  # the city name, the project row's name, the organisation's full name
    unit: str  # table unit id ("" for a city from the lexicon only)
    start: int
    end: int


class EntityFinder:
    """Known names of one knowledge snapshot (longest first) plus patterns for unknown company names."""

    def __init__(self, knowledge: Knowledge, normalize: Normalizer) -> None:
        """Collect every name the knowledge's tables and lexicon give, normalised like questions."""
        self.normalize = normalize
        lex = knowledge.lexicon
        names: dict[str, tuple[str, str, str]] = {}  # normalized surface -> (role, canonical, unit)

        def add(surface: str, role: str, canonical: str, unit: str) -> None:
            key = self.normalize(surface).replace(" ", "")
            if len(key) >= 2 and key not in names:
                names[key] = (role, canonical, unit)

        for unit in knowledge.units.values():
            table = unit.table
            if table is None:
                continue
            latin: dict[str, list[str]] = {}
            for row in table.rows:
                name = table.cell(row, "name")
                for token in _LATIN.findall(fold(name)):
                    latin.setdefault(token, []).append(name)
            for token, names_with_it in latin.items():
                if len(names_with_it) == 1:  # "TOD那个项目": a latin word only one project has names it
                    add(token, "project", names_with_it[0], unit.id)
            for row in table.rows:
                name = table.cell(row, "name")
                if name:
                    add(name, "project", name, unit.id)
                    add(_strip_suffix(name), "project", name, unit.id)
                    for alias in row.aliases:
                        add(alias, "project", name, unit.id)
                org = table.cell(row, "org")
                if org:
                    add(org, "org", org, unit.id)
                    add(_strip_suffix(org), "org", org, unit.id)
                    for alias, full in lex.aliases.items():
                        if full == org:
                            add(alias, "org", org, unit.id)
                for city in split_cell(table.cell(row, "city")):
                    add(city, "city", city, "")  # any table with a city column can filter by it
        for city, aliases in lex.cities.items():
            for surface in (city, *aliases):
                add(surface, "city", city, "")
        self.names = names
        self._entity_re = (
            re.compile("|".join(re.escape(k) for k in sorted(names, key=len, reverse=True))) if names else None
        )
        # Company-like names the tables do not list (中建三局 …): recognised so the answer can say "没有".
        patterns = [fold(p) for p in lex.org_patterns]
        self._org_re = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

    def find(self, normalized: str) -> tuple[str, list[Entity]]:
        """Recognise entities (known names longest first, then unknown company names) as placeholders."""
        candidates: list[tuple[int, int, Entity]] = []  # (length, known?, entity): longest wins
        if self._entity_re is not None:
            for m in self._entity_re.finditer(normalized):
                role, canonical, unit = self.names[m.group(0)]
                candidates.append((m.end() - m.start(), 1, Entity(role, canonical, unit, m.start(), m.end())))
        if self._org_re is not None:
            for m in self._org_re.finditer(normalized):
                if m.end() > m.start():
                    candidates.append((m.end() - m.start(), 0, Entity("org", m.group(0), "", m.start(), m.end())))
        found: list[Entity] = []
        for _, _, e in sorted(candidates, key=lambda c: (-c[0], -c[1], c[2].start)):
            if not any(f.start < e.end and e.start < f.end for f in found):
                found.append(e)
        if not found:
            return normalized, []
        found.sort(key=lambda e: e.start)
        out: list[str] = []
        last = 0
        for e in found:
            out.append(normalized[last : e.start])
            out.append(PLACEHOLDERS[e.role])
            last = e.end
        out.append(normalized[last:])
        return "".join(out), found


def split_cell(cell: str) -> list[str]:
    """A cell may list several values (广州、佛山、肇庆)."""
    return [part for part in re.split(r"[、，,/；;\s]+", cell) if part]


def _strip_suffix(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name
