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
from bot.knowledge.patterns import EMAIL, PHONE

# Field name -> how staff call it.
_NUMBERS = {"phone": "电话", "mobile": "手机", "fax": "传真"}
_MONTH_DAY = re.compile(r"(?<!\d)(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def contact_agrees(c: Checker, fields: dict[str, yaml.Node], path: str, values: dict[str, str], text: str) -> None:
    """Report each phone, mobile, fax or email field the contact's text contradicts.

    The text may name several people (one contact per person shares the line), so a number only the
    text has is not an error; a field the text gives differently is.
    """
    text_node = fields["text"]
    where = f"{join(path, 'text')}（第 {text_node.start_mark.line + 1} 行）"
    said = fold(text)
    numbers = {_digits(m.group()): m.group() for m in PHONE.finditer(said) if len(_digits(m.group())) >= 7}
    emails = {m.group().lower() for m in EMAIL.finditer(said)}
    for key, label in _NUMBERS.items():
        value = values.get(key, "")
        if not value:
            continue
        digits = _digits(value)
        if numbers and not any(digits == n or digits.endswith(n) or n.endswith(digits) for n in numbers):
            shown = "、".join(numbers.values())
            c.fail(fields[key], join(path, key), f"{label} {value} 与 {where} 写的 {shown} 不一致：两处都会出现在回答里，请改成一样的")
    email = values.get("email", "")
    if email and emails and email.lower() not in emails:
        c.fail(fields["email"], join(path, "email"), f"邮箱 {email} 与 {where} 写的 {'、'.join(sorted(emails))} 不一致，请改成一样的")
    name = values.get("name", "")
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
