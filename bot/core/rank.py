"""Which documents and parts of the knowledge a question may be about, best first."""

from __future__ import annotations

import re
from datetime import date

from bot.core.entities import Entity
from bot.core.index import Index
from bot.core.model import Document, Target, Unit

ENTITY_BONUS = 0.1  # naming a project or company of a table is strong evidence the table is meant
TITLE_BONUS = 0.03  # per character: naming a part by its short title ("公开方式") is evidence for it
OLDER_PENALTY = 0.04  # per newer document: an unqualified question is about the latest campaign
_YEAR = re.compile(r"(?<!\d)(20\d\d)(?!\d)")
# 今年 is soft (answered from the latest notice when there is none for this year); the others are not.
_RELATIVE_YEARS = {"去年": -1, "上年": -1, "前年": -2, "明年": 1, "下年": 1, "后年": 2, "下一届": 1, "下届": 1}
_THIS_YEAR = ("今年", "本年", "今届", "本届")


def mentions_date(normalized: str, day: date) -> bool:
    return f"{day.month}月{day.day}" in normalized.replace(" ", "")


def documents_for(index: Index, normalized: str, today: date) -> tuple[list[Document], bool] | None:
    """The documents a question may be about, preferred first, and whether it named one.

    Named by number or year: only that one. Otherwise the documents of the campaign it names
    (质量月 …), or all of them, newest first. None: it names a year no notice covers, where
    answering from another year would mislead.
    """
    docs = index.documents_newest_first
    unspaced = normalized.replace(" ", "")
    for doc, _, compact, serial in index.document_numbers:
        if compact and (compact in unspaced or (serial is not None and serial.search(normalized))):
            return [doc], True
    this_year = today.year
    stripped = normalized  # a cited number's 〔2021〕 is not a year asked about
    for _, spaced, _, _ in index.document_numbers:
        if spaced:
            stripped = stripped.replace(spaced, " ")
    years = {int(y) for y in _YEAR.findall(stripped)}
    years.update(this_year + delta for word, delta in _RELATIVE_YEARS.items() if word in normalized)
    if any(word in normalized for word in _THIS_YEAR) and any(d.year == this_year for d in docs):
        years.add(this_year)
    if years:
        named = [d for d in docs if d.year in years]
        return (named, True) if named else None
    campaign = [d for d in docs if d.campaign and d.campaign in normalized]
    return (campaign or docs), False

def resolve(
    index: Index,
    results: list[tuple[Target, float]],
    docs: list[Document],
    entities: list[Entity],
    normalized: str = "",
) -> list[tuple[Target, float]]:
    """Map generic intents to a preferred document's unit; older documents lose a little per step."""
    rank = {d.id: i for i, d in enumerate(docs)}
    named = {e.unit for e in entities if e.role in ("project", "org") and e.unit}
    asked = normalized.replace(" ", "")
    cues = index.unit_cues
    out: dict[Target, float] = {}
    for target, score in results:
        if target.is_unit:
            name = target.name
        else:
            unit = next((u for d in docs if (u := index.unit_for_intent.get((d.id, target.name)))), None)
            if unit is None:
                if target.name not in ("deadline", "contact", "projects") and score > out.get(target, 0.0):
                    out[target] = score  # a conversational intent: as retrieval scored it
                continue
            name = unit.id
            target = Target.unit(name)
        document, deadline, title, section = cues[name]
        if document not in rank:
            continue
        score -= OLDER_PENALTY * rank[document]
        if name in named:
            score += ENTITY_BONUS
        if deadline and deadline in asked:
            score += ENTITY_BONUS  # 9月30号之前要交吗: the date named is this deadline's
        if title and title in asked:
            score += min(TITLE_BONUS * len(title), 0.15)  # the question names the part by its title (公开方式)
        elif section and section in asked:
            score += TITLE_BONUS * 2  # "附件是什么": a table is the attachment
        if score > out.get(target, 0.0):
            out[target] = score
    return sorted(out.items(), key=lambda kv: -kv[1])

def related_questions(index: Index, ranked: list[tuple[Target, float]], unit: Unit | None) -> list[str]:
    """2-3 related questions that never repeat the answer just given."""
    k = index.knowledge
    out: list[str] = []
    seen = {unit.id} if unit else set()
    if unit and unit.parent:
        seen.add(unit.parent)
    for target, score in ranked[1:]:
        if not target.is_unit or score < 0.12:
            continue
        other = k.units[target.name]
        if other.id in seen:
            continue
        seen.add(other.id)
        q = next((q for q in other.questions if "{" not in q), None)
        if q:
            out.append(q)
        if len(out) >= 2:
            break
    answered_by = suggestion_units(index)
    for q in standing_suggestions(index):
        if len(out) >= 3:
            break
        if q not in out and (unit is None or answered_by.get(q) not in seen):
            out.append(q)
    return out[:3]

def suggestion_units(index: Index) -> dict[str, str]:
    """Which unit answers each standing suggestion, worked out once per snapshot (kept on the index).

    So the bot never suggests, right after an answer, a question that gives that same answer.
    """
    if index.suggestion_units is not None:
        return index.suggestion_units
    k = index.knowledge
    docs = index.documents_newest_first
    found: dict[str, str] = {}
    for q in k.suggestions:
        analysis = index.analyze(q)
        ranked = resolve(index, index.search(analysis), docs, analysis.entities, analysis.normalized)
        if ranked and ranked[0][0].is_unit:
            found[q] = ranked[0][0].name
    index.suggestion_units = found
    return found


def standing_suggestions(index: Index) -> list[str]:
    """The questions offered after a fallback: settled by the Engine when it builds the snapshot."""
    return index.suggested if index.suggested is not None else list(index.knowledge.suggestions)


def notice_suggestions(index: Index, kept: list[str]) -> list[str]:
    """Staff's suggestions the knowledge answers, then questions of the newest notice's own parts.

    Staff's list is written for one notice; with next year's alone, "观摩项目有哪些" may ask for
    something it does not have, so the notice's deadlines, contact, tables and parts fill the rest.
    """
    out = list(kept)
    newest = index.documents_newest_first[0].id if index.documents_newest_first else None

    def order(u: Unit) -> int:
        return {"deadline": 0, "contact": 1, "table": 2}.get(u.kind, 4 if u.intent == "document" else 3)

    units = [u for u in index.units_by_document.get(newest or "", []) if u.kind != "item"]
    for unit in sorted(units, key=order):
        if len(out) >= MAX_SUGGESTED:
            break
        q = next((q for q in unit.questions if "{" not in q and _ASKS.search(q)), None)
        if q and q not in out:
            out.append(q)
    return out


_ASKS = re.compile(r"什么|哪|几|谁|吗|多少|怎么|怎样|如何|是否|[？?]")


MAX_SUGGESTED = 6
