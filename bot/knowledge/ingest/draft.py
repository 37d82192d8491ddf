"""Turn a plain-text government notice into knowledge YAML, so staff review a draft instead of retyping it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from bot.core.text import cn_date, to_cn_numeral
from bot.knowledge.ingest.parse import (
    BASIS,
    OFFICE,
    Block,
    FoundDeadline,
    Parser,
    contact_fields,
    deadlines_in,
    enumeration,
    split_keep,
    table_roles,
)
from bot.knowledge.ingest.questions import (
    MAX_QUESTIONS,
    key_term,
    key_terms,
    questions_from,
    table_subject,
)
from bot.knowledge.load import ID, ROLES

ID_RE = re.compile(ID)

CAMPAIGN_SLUGS = (
    ("质量月", "quality-month"),
    ("安全生产月", "safety-month"),
    ("质量安全检查", "quality-safety-inspection"),
    ("质量检查", "quality-inspection"),
    ("安全检查", "safety-inspection"),
    ("检查", "inspection"),
)


ISSUER_SLUGS = (("广东", "gd"), ("广州", "gz"), ("深圳", "sz"), ("住房和城乡建设部", "mohurd"))


@dataclass(frozen=True)
class Leftover:
    """A notice line the ingest could not place: staff must look at it."""

    line: int
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.text}"


@dataclass
class IngestResult:
    """The knowledge draft of one notice, plus what it could not place."""

    data: dict[str, Any]
    leftover: list[Leftover] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def yaml(self) -> str:
        """The draft as a knowledge file that `run_bot.py check` accepts as written."""
        head = (
            f"# {self.data['document']['title']}\n"
            "# Drafted by `run_bot.py ingest`: review every entry marked `generated: true`.\n"
        )
        return head + yaml.dump(
            self.data,
            Dumper=_Dumper,
            allow_unicode=True,
            sort_keys=False,
            default_flow_style=False,
            width=4096,
        )


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors: a file people read and edit."""

    def ignore_aliases(self, data: Any) -> bool:
        """Repeated lists are written out, never as &id001 references."""
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        """Indent list items under their key, as the hand-written files do."""
        super().increase_indent(flow, False)


def _slug(issuer: str, year: int, campaign: str, number: str) -> str:
    region = next((s for k, s in ISSUER_SLUGS if k in issuer), "doc")
    what = next((s for k, s in CAMPAIGN_SLUGS if k in campaign), "")
    if not what:
        serial = re.search(r"(\d+)\s*号", number)
        what = f"no{serial.group(1)}" if serial else "notice"
    return f"{region}-{year}-{what}"


def _prefix(doc_id: str) -> str:
    """gd-2021-quality-month → gqm21: short enough for unit ids, distinct per region, year and campaign."""
    parts = [p for p in doc_id.split("-") if p]
    letters = "".join(p[0] for p in parts if not p.isdigit())
    digits = "".join(p[-2:] for p in parts if p.isdigit())
    prefix = (letters + digits) or doc_id
    return prefix if len(parts) > 1 else doc_id[:8]


class _Builder:
    """Turns the parsed parts into the knowledge schema, with ids and draft questions."""

    def __init__(self, p: Parser) -> None:
        self.p = p
        title = p.title
        quoted = re.search(r"“([^”]+)”", title)
        years = re.findall(r"(\d{4})\s*年", title)
        number_year = re.search(r"〔(\d{4})〕", p.number)
        self.year = (
            int(years[0])
            if years
            else int(number_year.group(1))
            if number_year
            else (p.issued or dt.date.today()).year
        )
        if quoted:
            self.campaign = quoted.group(1)
        else:
            m = re.search(
                r"\d{4}\s*年(?:度)?(?:全省)?(.+?)(?:工作|活动)?的?(?:通知|意见|方案)$", title
            )
            self.campaign = m.group(1) if m else ""
        self.issuer = p.issuer or p.signer or "（未识别发文单位）"
        if not p.issuer and not p.signer:
            p.notes.append("no issuer found")
        self.issued = p.issued or dt.date(self.year, 1, 1)
        if p.issued is None:
            p.notes.append(f"no signature date found: document.date set to {self.issued}")
        if not p.number:
            p.number = "（无文号）"
        self.doc_id = p.doc_id or _slug(self.issuer, self.year, self.campaign, p.number)
        if not ID_RE.fullmatch(self.doc_id):
            raise ValueError(
                f"document id {self.doc_id!r} must be lower-case letters, digits and dashes"
            )
        self.prefix = _prefix(self.doc_id)
        self.name = f"{self.year}年{self.campaign}" if self.campaign else f"{self.year}年通知"
        self.deadlines: list[FoundDeadline] = []

    def uid(self, *parts: object) -> str:
        """A unit id unique across knowledge/: the document prefix keeps notices apart."""
        return "-".join([self.prefix, *(str(x) for x in parts)])

    def build(self) -> dict[str, Any]:
        """The whole knowledge file as plain data, keys in schema order."""
        p = self.p
        short = re.sub(r"^.*?关于", "", p.title)
        short = re.sub(r"^(组织开展|开展|做好|印发|举办)", "", short)
        short = re.sub(r"的(通知|意见|方案)$", r"\1", short)
        document = {
            "id": self.doc_id,
            "title": p.title or "（未识别标题）",
            "short_title": short or p.title,
            "number": p.number,
            "issuer": self.issuer,
            "date": self.issued,
            "year": self.year,
            "campaign": self.campaign or short,
        }
        units = self._document_units() + [u for s in p.sections for u in self._section(s)]
        for para in p.preamble:
            self.deadlines += deadlines_in(para.text, "文首", self.year, p.issued)
        data: dict[str, Any] = {"document": document, "units": units}
        self.deadlines.sort(key=lambda d: d.date)
        deadlines = [self._deadline(i, d) for i, d in enumerate(self.deadlines, 1)]
        if deadlines:
            data["deadlines"] = deadlines
        if p.contact_text:
            contact = self._contact()
            if contact:
                data["contacts"] = [contact]
        tables = [self._table(i, t) for i, t in enumerate(p.tables, 1)]
        if tables:
            data["tables"] = tables
        return data

    # -- units ------------------------------------------------------------------------------

    def _unit(
        self,
        uid: str,
        intent: str,
        section: str,
        title: str,
        text: str,
        questions: list[str],
        keywords: list[str] | None = None,
    ) -> dict[str, Any]:
        unit: dict[str, Any] = {
            "id": uid,
            "intent": intent,
            "section": section,
            "title": title,
            "text": text,
        }
        unit["questions"] = questions
        if keywords:
            unit["keywords"] = keywords
        unit["generated"] = True
        return unit

    def _document_units(self) -> list[dict[str, Any]]:
        p, n, c = self.p, self.name, self.campaign or "通知"
        out = []
        if p.number and not p.number.startswith("（"):
            serial = re.search(r"(\d+)\s*号$", p.number)
            out.append(
                self._unit(
                    self.uid("doc-number"),
                    "document",
                    "文首",
                    "文号",
                    f"本通知文号：{p.number}。",
                    questions_from(
                        "文号是多少",
                        "发文字号",
                        f"{n}通知的文号",
                        f"{serial.group(1)}号文" if serial else "文件号",
                    ),
                    [re.sub(r"[〔\[［(（].*$", "", p.number)],
                )
            )
        out.append(
            self._unit(
                self.uid("doc-title"),
                "document",
                "文首",
                "通知标题",
                f"通知标题：{p.title}。",
                questions_from("通知的标题是什么", "文件全称", f"{n}通知全称", "通知名称"),
            )
        )
        out.append(
            self._unit(
                self.uid("doc-issuer"),
                "document",
                "文尾",
                "发文单位",
                f"发文单位：{self.issuer}。",
                questions_from("谁发布的通知", "发文单位", f"{n}通知是哪个单位发的", "发文机关"),
            )
        )
        if p.issued:
            date = cn_date(p.issued)
            out.append(
                self._unit(
                    self.uid("doc-date"),
                    "document",
                    "文尾",
                    "发文日期",
                    f"发文日期：{date}。",
                    questions_from("通知哪天发的", "印发日期", f"{n}通知什么时候发布的", "发文日期"),
                )
            )
        purpose = "".join(para.text for para in p.preamble)
        basis = BASIS.findall(purpose)
        if basis:
            sentence = next(s for s in split_keep(purpose, "。") if basis[0] in s)
            if "根据" in sentence:
                sentence = sentence[sentence.index("根据") :]
            number = re.search(r"[（(]([^（）()]*〔\d{4}〕\d+号)[）)]", basis[0])
            out.append(
                self._unit(
                    self.uid("doc-basis"),
                    "document",
                    "文首",
                    "依据文件",
                    sentence,
                    questions_from(
                        "依据哪个文件",
                        "根据什么文件开展",
                        "上级文件是哪个",
                        f"{n}的依据",
                        re.sub(r"〔\d{4}〕", "", number.group(1)) if number else "",
                    ),
                    [re.sub(r"[〔\[].*$", "", number.group(1))] if number else None,
                )
            )
        if p.addressee:
            out.append(
                self._unit(
                    self.uid("doc-addressee"),
                    "document",
                    "文首",
                    "主送单位",
                    p.addressee,
                    questions_from(
                        "主送单位有哪些", "通知发给哪些单位", "通知对象是谁", f"{n}通知发给谁"
                    ),
                )
            )
        if p.disclosure:
            out.append(
                self._unit(
                    self.uid("doc-disclosure"),
                    "document",
                    "文尾",
                    "公开方式",
                    p.disclosure,
                    questions_from("这个文件公开吗", "公开方式", "是否主动公开", f"{n}通知是否公开"),
                )
            )
        period = re.search(
            r"[^，。]*决定于([^，。]*?(?:\d+月|\d{4}年)[^，。]*?)(?:在[^，。]*?)?(?:组织)?开展[^。]*。",
            purpose,
        )
        if period:
            out.append(
                self._unit(
                    self.uid("doc-period"),
                    "document",
                    "文首",
                    "活动时间",
                    period.group(0),
                    questions_from(
                        f"{c}活动时间",
                        f"{c}什么时候开展",
                        f"{n}在几月开展",
                        "活动时间",
                        "几月份开展",
                    ),
                )
            )
        if p.preamble:
            out.append(
                self._unit(
                    self.uid("doc-purpose"),
                    "document",
                    "文首",
                    "通知目的",
                    "\n".join(para.text for para in p.preamble),
                    questions_from(
                        f"为什么开展{c}", f"{c}的目的是什么", "这个通知讲什么", f"{n}通知的目的"
                    ),
                )
            )
        return out

    def _section(self, s: Block) -> list[dict[str, Any]]:
        n = self.name
        subs = [b for b in s.children if b.level == 2]
        numbered = [b for b in s.children if b.level == 3]
        for para in s.deadline_paras:
            self.deadlines += deadlines_in(para.text, s.label, self.year, self.p.issued)
        texts = ([s.inline] if s.inline else []) + [para.text for para in s.paras]
        for para in s.paras:
            self.deadlines += deadlines_in(para.text, s.label, self.year, self.p.issued)
        if subs:
            texts.append("；".join(f"（{to_cn_numeral(b.number)}）{b.title}" for b in subs) + "。")
        text, items = self._items(texts, numbered, s.title, self.uid(f"s{s.number}"))
        terms = key_terms(s.title)
        if "主题" in s.title and not subs:
            intent = "theme"
            terms = [key_term(t) for t in re.split(r"\s+", text) if len(t) >= 2][:4]
            questions = questions_from(
                f"{s.title}是什么",
                f"{n}的主题",
                "主题是什么",
                f"{self.campaign}主题" if self.campaign else "活动主题",
                *terms,
            )
        elif subs:
            intent = "content"
            questions = questions_from(
                s.title, f"{s.title}有哪些", f"{s.title}是什么", f"{n}的{s.title}"
            )
        else:
            intent = "content"
            key = terms[0] if terms else s.title
            questions = questions_from(
                s.title, f"{key}是什么", f"关于{key}有什么要求", f"{n}的{s.title}", f"{key}怎么做"
            )
        unit = self._unit(
            self.uid(f"s{s.number}"),
            intent,
            s.label,
            s.title,
            text,
            questions,
            [t for t in terms if len(t) <= 8],
        )
        if items:
            unit["items"] = items
        out = [unit]
        for b in subs:
            out.append(self._sub(s, b))
        return out

    def _sub(self, s: Block, b: Block) -> dict[str, Any]:
        uid = self.uid(f"s{s.number}-{b.number}")
        texts = ([b.inline] if b.inline else []) + [para.text for para in b.paras]
        for t in texts:
            self.deadlines += deadlines_in(t, b.label, self.year, self.p.issued)
        for c in b.children:
            self.deadlines += deadlines_in(c.inline, b.label, self.year, self.p.issued)
        text, items = self._items(texts, b.children, b.title, uid)
        terms = key_terms(b.title)
        key = terms[0] if terms else b.title
        second = terms[1] if len(terms) > 1 else key
        questions = questions_from(
            b.title, f"{key}是什么", f"关于{key}有什么要求", f"{second}怎么做", f"{self.name}{key}"
        )
        unit = self._unit(
            uid, "content", b.label, b.title, text, questions, [t for t in terms if len(t) <= 8]
        )
        if items:
            unit["items"] = items
        return unit

    def _items(
        self, texts: list[str], numbered: list[Block], title: str, uid: str
    ) -> tuple[str, list[dict[str, Any]]]:
        """Split 一是…二是… and 1. 2. lines into items; what is left is the unit's own text."""
        kept: list[str] = []
        items: list[dict[str, Any]] = []
        for t in texts:
            intro, enum = enumeration(t)
            if intro:
                kept.append(intro)
            for label, chunk in enum:
                items.append(self._item(f"{uid}-{len(items) + 1}", label, chunk))
        for b in numbered:
            items.append(self._item(f"{uid}-{len(items) + 1}", b.label, b.inline.rstrip("；;，,")))
        return "\n".join(kept) or title, items

    def _item(self, uid: str, label: str, text: str) -> dict[str, Any]:
        clause = re.split(r"[，。；：,;]", re.sub(r"^[一二三四五六七八九十]是", "", text))[0]
        key = key_term(clause)
        item: dict[str, Any] = {"id": uid, "label": label, "text": text}
        item["questions"] = questions_from(key, f"关于{key}有什么要求", f"{key}怎么做", f"{key}是什么")
        if 2 <= len(key) <= 8:
            item["keywords"] = [key]
        item["generated"] = True
        return item

    # -- deadlines, contact, tables ------------------------------------------------------------------

    def _deadline(self, i: int, d: FoundDeadline) -> dict[str, Any]:
        what = d.what.replace("“", "").replace("”", "")
        md = f"{d.date.month}月{d.date.day}日"
        out: dict[str, Any] = {"id": self.uid("deadline", i), "date": d.date, "what": d.what}
        for key in ("who", "how", "to"):
            if getattr(d, key):
                out[key] = getattr(d, key)
        out["section"] = d.section
        out["text"] = d.text
        out["questions"] = questions_from(
            f"{what}什么时候截止",
            f"{what}怎么报送",
            f"{what}报送给谁",
            f"{d.date.year}年{what}截止时间",
            f"{md}前要交什么",
        )
        out["generated"] = True
        return out

    def _contact(self) -> dict[str, Any] | None:
        fields = contact_fields(self.p.contact_text)
        if "name" not in fields or "phone" not in fields:
            self.p.notes.append("the contact block has no 联系人 or 电话: not read")
            self.p.placed.difference_update(self.p.contact_lines)
            return None
        out: dict[str, Any] = {
            "id": self.uid("contact"),
            "name": fields["name"],
            "phone": fields["phone"],
        }
        for key in ("fax", "email"):
            if key in fields:
                out[key] = fields[key]
        office = next(
            (
                m.group(1)
                for d in self.deadlines
                if (
                    m := OFFICE.search(
                        re.sub(
                            r"^(我厅|我局|我委|我办|省住房和城乡建设厅|省住房城乡建设厅)", "", d.to
                        )
                    )
                )
            ),
            "",
        )
        if office:
            out["office"] = office
        out["section"] = "文尾"
        out["text"] = self.p.contact_text
        out["questions"] = questions_from(
            "联系人是谁",
            "联系电话",
            "传真" if "fax" in fields else f"{fields['name']}的电话",
            "邮箱" if "email" in fields else "联系方式",
            f"{self.name}联系人",
        )
        out["keywords"] = [fields["name"]]
        out["generated"] = True
        return out

    def _table(self, i: int, t: dict[str, Any]) -> dict[str, Any]:
        columns: list[str] = t["columns"]
        roles = table_roles(columns)
        subject = table_subject(t["title"])
        number_col = roles.get("number")
        rows = []
        for row in t["rows"]:
            values: dict[str, Any] = {}
            for col in columns:
                cell = row[col]
                values[col] = int(cell) if col == number_col and cell.isdigit() else cell
            name = row.get(roles.get("name", ""), "")
            aliases = []
            for alias in (re.sub(r"[（(][^）)]*[）)]", "", name),):
                alias = re.sub(r"(项目|工程)$", "", alias)
                if alias and alias != name and len(alias) >= 2:
                    aliases.append(alias)
            if aliases:
                values["aliases"] = aliases
            rows.append(values)
        questions = [f"{subject}有哪些", f"{self.year}年{subject}名单"]
        if "city" in roles:
            questions.append(f"{{city}}有哪些{subject}")
        if "name" in roles and "org" in roles:
            questions += [f"{{project}}的{roles['org']}", "{org}负责哪个项目"]
        elif "name" in roles and "city" in roles:
            questions.append("{project}在哪个城市")
        others = [c for c in columns if c not in roles.values()]
        if "city" in roles:
            questions += [f"{{city}}的{c}" for c in others]
            who = [roles["name"]] if "name" in roles else others[:1]
            questions += [f"{{city}}由哪个{c}负责" for c in who]
            questions += [f"哪个{c}负责{{city}}" for c in who]
        questions += [f"{subject}的{c}" for c in others]
        out: dict[str, Any] = {
            "id": self.uid("table", i),
            # Only a list of projects answers "观摩项目有哪些"; other tables answer their own questions.
            "intent": "projects" if "项目" in t["title"] else "table",
            "section": "附件",
            "title": t["title"],
            "columns": columns,
        }
        if roles:
            out["roles"] = {r: roles[r] for r in ROLES if r in roles}
        out["questions"] = list(dict.fromkeys(questions))[: MAX_QUESTIONS + 3]  # a table answers more kinds
        out["generated"] = True
        out["rows"] = rows
        return out


def ingest(text: str, *, doc_id: str | None = None) -> IngestResult:
    """Draft the knowledge YAML of a notice, listing every line it could not place for staff to check."""
    parser = Parser(text, doc_id)
    parser.run()
    builder = _Builder(parser)
    data = builder.build()
    leftover = [
        Leftover(no, line) for no, line in parser.lines if line.strip() and no not in parser.placed
    ]
    return IngestResult(data=data, leftover=leftover, notes=parser.notes)
