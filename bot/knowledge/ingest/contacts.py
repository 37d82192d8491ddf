"""Contacts as notices print them: one person or several, per office, labelled or not, at the foot or in a sentence.

A block ("联系人：韩卫东、孔令仪 / 电 话：… / 传 真：…") gives one contact per person: numbers on a
person's own line or segment are theirs, numbers on a line of their own are shared by everyone in
the block, and "13923781265（罗颖）" belongs to the person named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.knowledge.ingest.clean import canon
from bot.knowledge.ingest.deadlines import first_outside, split_outside
from bot.knowledge.patterns import EMAIL, MOBILE, PHONE

LABEL = re.compile(
    r"(?P<label>联\s*系\s*人|联\s*系\s*电\s*话|咨\s*询\s*电\s*话|办\s*公\s*电\s*话|电\s*话|座\s*机|固\s*话|"
    r"手\s*机|移\s*动\s*电\s*话|传\s*真|电\s*子\s*邮\s*箱|电\s*子\s*邮\s*件|邮\s*箱|e-?mail|"
    r"通\s*讯\s*地\s*址|地\s*址|邮\s*编|邮\s*政\s*编\s*码|受\s*理\s*部\s*门)\s*(?:[：:]|(?=[\d（(]))",
    re.I,
)
KINDS = {"联系人": "name", "传真": "fax", "手机": "mobile", "移动电话": "mobile", "邮箱": "email",
         "电子邮箱": "email", "电子邮件": "email", "email": "email", "e-mail": "email", "地址": "address",
         "通讯地址": "address", "邮编": "postcode", "邮政编码": "postcode", "受理部门": "office"}
NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}(?:先生|女士|同志)?$")
OFFICE_END = r"(?:处|科|室|部|站|组|中心|办公室|秘书处|协会|联合会|学会|厅|局|委|总站|会务组|办)"
OFFICE = re.compile(rf"^(?P<office>[^：，；\s]{{2,30}}?{OFFICE_END}(?:[（(][^）)]{{1,20}}[)）])?)\s*[：:]")
OFFICE_NAME = re.compile(rf"^(?P<office>[^：，；\s]{{2,30}}?{OFFICE_END})\s+(?P<name>[\u4e00-\u9fff]{{2,4}})(?=[，,\s：:]|$)")
NOT_NAMES = re.compile(r"电话|传真|邮箱|手机|地址|联系|座机|邮编|单位|部门|协会")
START = re.compile(r"(?:[^，。；（(\s]{0,8})联\s*系\s*人\s*[：:]|[^，。；（(\s]{2,30}" + OFFICE_END + r"(?:[（(][^）)]{1,20}[)）])?\s*[：:]\s*[\u4e00-\u9fff]{2,4}[\s，,]+(?:电\s*话|手\s*机|座\s*机|0\d{2,3}-|1[3-9]\d{9})")


@dataclass
class FoundContact:
    """One person of a contact block, with the fields printed for them or for the whole block."""

    name: str
    phone: list[str] = field(default_factory=list)
    mobile: list[str] = field(default_factory=list)
    fax: list[str] = field(default_factory=list)
    email: list[str] = field(default_factory=list)
    address: str = ""
    office: str = ""


def is_contact_line(key: str) -> bool:
    """A line that is (part of) a contact block: it starts with a contact label or an office's contact."""
    key = key.strip().lstrip("（(")
    if LABEL.match(key):
        return True
    return bool(START.match(key)) and not key.endswith("。") or bool(re.match(r"^[\u4e00-\u9fff]{2,4}\s*(?:0\d{2,3}-\d|1[3-9]\d{9})", key))


def contacts_in(text: str) -> list[tuple[int, int, list[FoundContact]]]:
    """Every contact block inside a paragraph: its span and its people."""
    key = canon(text)
    out: list[tuple[int, int, list[FoundContact]]] = []
    pos = 0
    while True:
        m = START.search(key, pos)
        if not m:
            return out
        start = m.start()
        if start > 0 and key[start - 1] in "（(":
            start -= 1
            end = _closing(key, start)
        else:
            end = min(first_outside(key, "。", m.end()) + 1, len(key))
        people = read_block(text[start:end])
        if people:
            out.append((start, end, people))
        pos = end


def _closing(key: str, start: int) -> int:
    """The end of the bracket opened at `start` (or of the text)."""
    depth = 0
    for i in range(start, len(key)):
        if key[i] in "（(":
            depth += 1
        elif key[i] in "）)":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(key)


def read_block(text: str) -> list[FoundContact]:
    """The people of one contact block (newlines separate its lines)."""
    key = canon(text).strip()
    if key.startswith(("（", "(")) and key.endswith(("）", ")")):
        text, key = text.strip()[1:-1], key[1:-1]
    people: list[FoundContact] = []
    shared: dict[str, list[str]] = {}
    office_all = ""
    for a, b in _segments(key):
        seg, seg_key = text[a:b], key[a:b]
        own, fields, office = _segment(seg, seg_key)
        if fields.get("office") and not own:
            office_all = fields["office"][0]
            continue
        if own:
            for person in own:
                person.office = person.office or office
                _give(person, fields)
            people.extend(own)
        else:
            for kind, values in fields.items():
                shared.setdefault(kind, []).extend(values)
    for person in people:
        for kind, values in shared.items():
            if kind == "attributed":
                continue
            if kind == "address":
                person.address = person.address or "、".join(values)
            elif kind in ("phone", "mobile", "fax", "email") and not getattr(person, kind):
                getattr(person, kind).extend(values)
        person.office = person.office or office_all
    for number, name in [(v.split("|")[0], v.split("|")[1]) for v in shared.get("attributed", [])]:
        for person in people:
            if canon(person.name) == canon(name):
                (person.mobile if MOBILE.fullmatch(number) else person.phone).append(number)
    return people


def _segments(key: str) -> list[tuple[int, int]]:
    spans = []
    for a, b in split_outside(key, "\n；"):
        if key[a:b].strip(" \n；"):
            spans.append((a, b - 1 if key[b - 1 : b] in "\n；" else b))
    return spans


def _give(person: FoundContact, fields: dict[str, list[str]]) -> None:
    for kind in ("phone", "mobile", "fax", "email"):
        getattr(person, kind).extend(fields.get(kind, []))
    if fields.get("address"):
        person.address = "、".join(fields["address"])


def _segment(text: str, key: str) -> tuple[list[FoundContact], dict[str, list[str]], str]:
    """People named in one line or segment, the fields printed there, and the office it names."""
    office = ""
    lead = key.lstrip(" ，,")
    shift = len(key) - len(lead)
    m = OFFICE.match(lead)
    if m and not LABEL.match(lead):
        office = text[shift + m.start("office") : shift + m.end("office")]
        shift += m.end()
        lead = key[shift:]
    names: list[str] = []
    fields: dict[str, list[str]] = {}
    labels = list(LABEL.finditer(key, shift))
    pieces = [(shift, labels[0].start() if labels else len(key), "")]
    pieces += [(lb.end(), labels[i + 1].start() if i + 1 < len(labels) else len(key), _kind(lb.group("label"))) for i, lb in enumerate(labels)]
    for a, b, kind in pieces:
        value, value_key = text[a:b], key[a:b]
        if kind == "" and labels and _kind(labels[0].group("label")) == "name" and not re.search(r"\d", value_key):
            office = office or value.strip(" ，,（(")  # "市局联系人：…": the office the people work in
            continue
        if kind in ("name", ""):
            found_office, found = _names(value, value_key)
            office = office or found_office
            names += found
            kind = "phone"
            if not found and not value_key.strip(" ，,"):
                continue
        if kind == "address":
            fields.setdefault("address", []).append(value.strip(" ，,；。（("))
            continue
        if kind == "office":
            fields.setdefault("office", []).append(value.strip(" ，,；。"))
            continue
        if kind == "postcode":
            continue
        for e in EMAIL.finditer(value_key):
            fields.setdefault("email", []).append(value[e.start() : e.end()])
        rest = EMAIL.sub(lambda x: " " * len(x.group(0)), value_key)
        for n in PHONE.finditer(rest):
            number = re.sub(r"\s", "", value[n.start() : n.end()])
            after = re.match(r"\s*[（(]([\u4e00-\u9fff]{2,4})[）)]", rest[n.end() :])
            target = "mobile" if MOBILE.fullmatch(number) else ("fax" if kind == "fax" else "phone")
            if kind == "mobile" and target == "phone":
                target = "mobile"
            if after:
                fields.setdefault("attributed", []).append(f"{number}|{after.group(1)}")
            else:
                fields.setdefault(target, []).append(number)
    people = [FoundContact(name) for name in names]
    if people and "attributed" in fields:
        for entry in fields.pop("attributed"):
            number, name = entry.split("|")
            for person in people:
                if canon(person.name) == canon(name):
                    (person.mobile if MOBILE.fullmatch(number) else person.phone).append(number)
    return people, fields, office


def _kind(label: str) -> str:
    label = re.sub(r"\s", "", label).lower()
    return KINDS.get(label, "phone")


def _names(value: str, key: str) -> tuple[str, list[str]]:
    """'韩卫东、孔令仪', '罗颖  周子航', '市住房建设局质量处 区志明' → (office, names)."""
    office = ""
    lead = key.lstrip(" ，,")
    shift = len(key) - len(lead)
    m = OFFICE_NAME.match(lead)
    if m:
        office = value[shift : shift + m.end("office")]
        shift += m.start("name")
    head_end = len(key)
    for mark in (PHONE, MOBILE, EMAIL):
        hit = mark.search(key, shift)
        if hit:
            head_end = min(head_end, hit.start())
    head_end = min(head_end, first_outside(key, "，,；。（(", shift))
    names = []
    for part in re.finditer(r"[^\s、，,/]+", key[shift:head_end]):
        word = value[shift + part.start() : shift + part.end()]
        if NAME.fullmatch(canon(word)) and not NOT_NAMES.search(canon(word)):
            names.append(word)
    return office, names
