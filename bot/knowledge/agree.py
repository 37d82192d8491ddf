"""Facts stored twice must agree: a contact's phone field and the sentence quoting it, a deadline's date and its text.

Answers quote both: the contact line is built from the fields, the quoted passage is the text. When
staff edit one and forget the other, the bot would give two different numbers in one answer, so
`check` reports the pair, with both lines, instead of guessing which one is right.
"""

from __future__ import annotations

import datetime as dt
import re

import yaml

from bot.core.text import fold
from bot.knowledge.check import Checker, join
from bot.knowledge.patterns import EMAIL

# Field name -> how staff call it.
# Field name -> how staff call it, and the labels a notice puts before that kind of number.
_NUMBERS = {"phone": ("电话", "电话|座机|固话"), "mobile": ("手机", "手机|移动电话"), "fax": ("传真", "传真")}
_MONTH_DAY = re.compile(r"(?<!\d)(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _numbers(text: str) -> list[str]:
    """The phone numbers in a text or a field ("020-83560271、020-83560273" is two)."""
    return [n.strip() for n in re.findall(r"[0-9][0-9\-－—（）() ]{5,}[0-9]", text) if len(_digits(n)) >= 7]


def _same_number(a: str, b: str) -> bool:
    """020-83133733 and 83133733 are one number: the area code may be written or left out."""
    return a == b or a.endswith(b) or b.endswith(a)


def contact_agrees(c: Checker, fields: dict[str, yaml.Node], path: str, values: dict[str, str], text: str) -> None:
    """Report a phone, mobile, fax, e-mail or name field that the contact's text gives differently.

    Only what the text labels counts ("传真：…" against `fax`): a text may leave a number out, or name
    several people whose contacts share the line, and neither is a contradiction.
    """
    text_node = fields["text"]
    where = f"{join(path, 'text')}（第 {text_node.start_mark.line + 1} 行）"
    said = fold(text)
    name = values.get("name", "")
    # A line naming several people ("吴俊鹏，电话：…；何慧敏，电话：…"): only this person's part counts.
    pieces = [p for p in re.split(r"[；;\n]", said) if name and fold(name) in p]
    own = "；".join(pieces) if pieces else said
    for key, (label, labels) in _NUMBERS.items():
        value = values.get(key, "")
        if not value:
            continue
        given = [n for m in re.finditer(rf"(?:{labels})[^0-9\n]{{0,6}}([^，；。\n]*)", own) for n in _numbers(m.group(1))]
        if given and any(not any(_same_number(_digits(v), _digits(g)) for g in given) for v in _numbers(value)):
            shown = "、".join(given)
            c.fail(fields[key], join(path, key), f"{label} {value} 与 {where} 写的 {shown} 不一致：两处都会出现在回答里，请改成一样的")
    email = values.get("email", "")
    emails = {m.group().lower() for m in EMAIL.finditer(said)}
    if email and emails and email.lower() not in emails:
        c.fail(fields["email"], join(path, "email"), f"邮箱 {email} 与 {where} 写的 {'、'.join(sorted(emails))} 不一致，请改成一样的")
    if name and fold(name) not in said and "联系人" in said:
        c.fail(fields["name"], join(path, "name"), f"联系人“{name}”没有出现在 {where} 中，请核对两处是否一致")


def deadline_agrees(c: Checker, fields: dict[str, yaml.Node], path: str, date: dt.date, text: str) -> None:
    """Report a deadline whose text names dates, none of them the date field's."""
    said = {(int(m), int(d)) for m, d in _MONTH_DAY.findall(fold(text))}
    if said and (date.month, date.day) not in said:
        line = fields["text"].start_mark.line + 1
        shown = "、".join(f"{m}月{d}日" for m, d in sorted(said))
        c.fail(
            fields["date"],
            join(path, "date"),
            f"日期 {date.isoformat()} 与 {join(path, 'text')}（第 {line} 行）写的 {shown} 不一致：提醒按 date 发送，引文按 text 显示，请改成一样的",
        )
