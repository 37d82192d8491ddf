"""Turn a published notice into knowledge YAML, so staff review a draft instead of retyping it.

`ingest(text)` drafts from text; `ingest_file(data, filename)` reads .txt/.docx/.pdf/.html first
(the staff console calls it on an upload). A fact the notice does not print is left out of the
draft and named in the report, never filled with a stand-in.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.core.text import parse_cn_date
from bot.knowledge.ingest.clean import canon
from bot.knowledge.ingest.deadlines import FoundDeadline, deadlines_in
from bot.knowledge.ingest.layout import org_line
from bot.knowledge.ingest.parse import FoundTable, Parser, as_dict, table_roles
from bot.knowledge.ingest.questions import MAX_QUESTIONS, event_of, questions_from, table_subject
from bot.knowledge.ingest.read import NoticeText, read_notice
from bot.knowledge.ingest.report import Ignored, Leftover, Report, day
from bot.knowledge.ingest.units import Facts, SectionUnits, document_units, para_texts
from bot.knowledge.load import ID, ROLES

ID_RE = re.compile(ID)
CAMPAIGN_SLUGS = (
    ("质量月", "quality-month"),
    ("安全生产月", "safety-month"),
    ("质量安全检查", "quality-safety-inspection"),
    ("质量检查", "quality-inspection"),
    ("安全检查", "safety-inspection"),
    ("鲁班奖", "luban"),
    ("优质工程", "quality-award"),
    ("检查", "inspection"),
    ("培训", "training"),
)
ISSUER_SLUGS = (("中国", "cn"), ("住房和城乡建设部", "mohurd"), ("广州", "gz"), ("深圳", "sz"), ("东莞", "dg"),
                ("佛山", "fs"), ("江门", "jm"), ("韶关", "sg"), ("珠海", "zh"), ("惠州", "hz"), ("广东", "gd"))
OWN_OFFICE = re.compile(r"^(我厅|我局|我委|我办|我会|省住房和城乡建设厅|省住房城乡建设厅|市局|市建委)")
OFFICE = re.compile(r"([^\s，、。；]*?(?:处|科|室|中心|站|办|部))$")
RELATIVE = re.compile(r"[于在]?\d+\s*(?:个)?(?:工作)?日内")
MISSING = {
    "发文单位": "未找到发文单位（文头、标题和落款都没有）：草稿不写 issuer，机器人不会回答“谁发的”。",
    "文号": "未找到文号：草稿不写 number；问“文号”时机器人会说通知里没有。",
    "发文日期": "未找到发文日期（落款没有日期）：草稿不写 date。",
    "标题": "未找到标题：草稿不写 title，以 short_title 称呼这份通知，请核对。",
    "主送单位": "未找到主送单位。",
}


@dataclass
class IngestResult:
    """The knowledge draft of one notice, its review report, and what it could not place."""

    data: dict[str, Any]
    report: Report
    leftover: list[Leftover] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def yaml(self) -> str:
        """The draft as a knowledge file that `run_bot.py check` accepts as written."""
        doc = self.data["document"]
        head = (
            f"# {doc.get('title') or doc.get('short_title')}\n"
            "# Drafted by `run_bot.py ingest`: review every entry marked `generated: true`.\n"
        )
        return head + yaml.dump(self.data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, default_flow_style=False, width=4096)


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors: a file people read and edit."""

    def ignore_aliases(self, data: Any) -> bool:
        """Repeated lists are written out, never as &id001 references."""
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        """Indent list items under their key, as the hand-written files do."""
        super().increase_indent(flow, False)


def _slug(issuer: str, year: int, campaign: str, number: str) -> str:
    region = next((s for k, s in ISSUER_SLUGS if k in canon(issuer)), "doc")
    what = next((s for k, s in CAMPAIGN_SLUGS if k in canon(campaign)), "")
    if not what:
        serial = re.search(r"(\d+)\s*号", canon(number))
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
    """Turns the parsed parts into the knowledge schema, with ids, draft questions and the report."""

    def __init__(self, p: Parser, report: Report) -> None:
        self.p, self.report = p, report
        title_issuer = re.match(r"^(.{4,30}?)关于", p.title)
        self.sources: dict[str, str] = {}
        self.issuer = self._pick("发文单位", (p.signer, "落款"), (p.issuer_head, "文头"),
                                 (title_issuer.group(1) if title_issuer and org_line(canon(title_issuer.group(1))) else "", "标题"),
                                 (p.meta.get("发布机构", "") if org_line(canon(p.meta.get("发布机构", ""))) else "", "网页信息栏"))
        self.number = self._pick("文号", (p.number, "文头"), (p.meta.get("文号", "") or p.meta.get("发文字号", ""), "网页信息栏"))
        if p.issued is None and p.meta.get("成文日期"):
            p.issued = parse_cn_date(p.meta["成文日期"])
        self.sources["发文日期"] = "落款" if p.issued and "成文日期" not in p.meta else ("网页信息栏" if p.issued else "")
        texts = [p.title, self.number, str(p.issued.year) if p.issued else ""] + [t for part in p.parts for _, t in para_texts(part)]
        years = [int(y) for t in texts for y in re.findall(r"(?<!\d)((?:19|20)\d\d)\s*(?:年|〕|\]|）|\))", canon(t))]
        title_years = re.findall(r"(\d{4})\s*年", p.title)
        if not years:
            raise ValueError("未能确定通知的年份：标题、文号、落款和正文里都没有年份。")
        self.year = int(title_years[0]) if title_years else (p.issued.year if p.issued else years[0])
        plan_titles = [part.title for part in p.parts[1:] if part.title]
        quoted = re.search(r"[“\"]([^”\"]+)[”\"]", p.title or " ".join(plan_titles))
        if quoted:
            self.campaign = quoted.group(1)
        else:
            m = re.search(r"\d{4}\s*(?:~\d{4})?年(?:度)?(?:全省|全市)?(.+?)(?:工作|活动)?的?(?:通知|意见|方案|函)$", p.title)
            self.campaign = m.group(1) if m else ""
        self.doc_id = p.doc_id or _slug(self.issuer, self.year, self.campaign, self.number)
        if not ID_RE.fullmatch(self.doc_id):
            raise ValueError(f"文档编号 {self.doc_id!r} 只能由小写字母、数字和连字符组成")
        self.prefix = _prefix(self.doc_id)
        self.name = f"{self.year}年{self.campaign}" if self.campaign and len(self.campaign) <= 10 else f"{self.year}年"
        self.deadlines: list[FoundDeadline] = []

    def _pick(self, label: str, *candidates: tuple[str, str]) -> str:
        value, where = next(((v, w) for v, w in candidates if v), ("", ""))
        self.sources[label] = where
        return value

    def uid(self, *parts: object) -> str:
        """A unit id unique across knowledge/: the document prefix keeps notices apart."""
        return "-".join([self.prefix, *(str(x) for x in parts)])

    def build(self) -> dict[str, Any]:
        """The whole knowledge file as plain data, keys in schema order."""
        p = self.p
        short = re.sub(r"^.*?关于", "", p.title)
        short = re.sub(r"^(组织开展|开展|做好|印发|举办)", "", short)
        short = re.sub(r"的(通知|意见|方案|函)$", r"\1", short)
        if not p.title:
            short = f"{self.issuer or ''}通知" + (f"（{day(p.issued)}）" if p.issued else f"（{self.year}年）")
        document: dict[str, Any] = {"id": self.doc_id}
        if p.title:
            document["title"] = p.title
        document["short_title"] = short or p.title
        for key, value in (("number", self.number), ("issuer", self.issuer), ("date", p.issued)):
            if value:
                document[key] = value
        document["year"] = self.year
        document["campaign"] = self.campaign or short
        kind = re.search(r"(通知|函|方案|意见|通报|公告)$", p.title)
        facts = Facts(self.number, p.title, self.issuer, self.name, self.campaign, kind.group(1) if kind else "通知")
        units = document_units(p, facts, self.uid)
        for n, part in enumerate(p.parts):
            maker = SectionUnits(self.name, self.campaign, self.uid, f"a{n}-" if n else "", event_of(part.title or p.title))
            if part.sections:
                units += [u for s in part.sections for u in maker.section(s)]
                if n:
                    units += maker.paragraphs(part)
            else:
                units += maker.paragraphs(part)
        self._find_deadlines()
        for text in (t for part in p.parts for _, t in para_texts(part)):
            relative = RELATIVE.search(canon(text))
            if relative:  # "于5日内寄至…": a period after an event, no date to remind of
                p.notes.append(f"有相对期限（{relative.group(0)}），没有具体日期，未写入截止时间：{text[:40]}…")
        data: dict[str, Any] = {"document": document, "units": units}
        deadlines = [self._deadline(i, d) for i, d in enumerate(self.deadlines, 1)]
        if deadlines:
            data["deadlines"] = deadlines
        contacts = self._contacts()
        if contacts:
            data["contacts"] = contacts
        tables = [self._table(i, t) for i, t in enumerate(p.tables, 1) if t.rows]
        if tables:
            data["tables"] = tables
        self._report(document, data)
        return data

    # -- deadlines -------------------------------------------------------------------------------

    def _find_deadlines(self) -> None:
        p = self.p
        base = p.issued.year if p.issued else self.year
        named = None
        for part in p.parts:
            for s in part.sections:
                if "截止" in s.title:
                    for text in ([s.inline] if s.inline else []) + [x.text for x in s.paras][:1]:
                        named = named or parse_cn_date(text, base, p.issued)
        found: list[FoundDeadline] = []
        for part in p.parts:
            for label, text in para_texts(part):
                found += deadlines_in(text, label, base, p.issued, named)
        if named and not any(d.date == named for d in found):
            title = next(s.title for part in p.parts for s in part.sections if "截止" in s.title)
            found.append(FoundDeadline(named, re.sub(r"截止(时间|日期)", "", title) or title, "", "", "", f"{title}：{day(named)}。", ""))
        unique: dict[tuple[dt.date, str], FoundDeadline] = {}
        for d in found:
            if (not d.what or d.what_guessed) and d.refers_attachment and p.attachments:
                ref = re.search(r"附件\s*(\d+)", canon(d.text))
                index = int(ref.group(1)) - 1 if ref else 0
                if ref and index < len(p.attachments) or len(p.attachments) == 1:
                    d.what = p.attachments[index if ref else 0]
            d.what = d.what or d.text.rstrip("。")
            unique.setdefault((d.date, d.what), d)
        self.deadlines = sorted(unique.values(), key=lambda d: d.date)

    def _deadline(self, i: int, d: FoundDeadline) -> dict[str, Any]:
        what = re.sub(r"[“”\"《》]|（[^）]*）|\([^)]*\)", "", d.what)
        md = f"{d.date.month}月{d.date.day}日"
        out: dict[str, Any] = {"id": self.uid("deadline", i), "date": d.date, "what": d.what}
        for key in ("who", "how", "to"):
            if getattr(d, key):
                out[key] = getattr(d, key)
        out["section"] = d.section or "正文"
        out["text"] = d.text
        short = what if len(what) <= 16 else "材料"
        asks = [f"{short}什么时候截止", f"{short}怎么报送", f"{short}报送给谁", f"{d.date.year}年{short}截止时间", f"{md}前要交什么"]
        office = re.search(r"(处|科|室|部|站|组)$", d.to)
        if office:  # "交去边个处": the kind of office it goes to
            asks.append(f"{short}交到哪个{office.group(1)}")
        if "@" in d.how + d.to:
            asks.append(f"{short}发哪个邮箱")
        if d.how:
            asks.append(f"{short}用什么形式报送")
        out["questions"] = questions_from(*asks[:3], *asks[5:], *asks[3:5], "截止时间是哪天")[:8]
        out["generated"] = True
        return out

    # -- contacts --------------------------------------------------------------------------------

    def _contacts(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        offices = {m.group(1) for d in self.deadlines if (m := OFFICE.search(OWN_OFFICE.sub("", d.to))) and OWN_OFFICE.match(d.to)}
        for block in self.p.contacts:
            for person in block.people:
                c = as_dict(person)
                if not any(k in c for k in ("phone", "mobile", "email")):
                    self.p.notes.append(f"联系人{person.name}没有电话、手机或邮箱：未写入草稿")
                    continue
                if (c["name"], c.get("phone", c.get("mobile", ""))) in seen:
                    continue
                seen.add((c["name"], c.get("phone", c.get("mobile", ""))))
                if "office" not in c and len(offices) == 1 and block.section in ("文尾", "正文"):
                    c["office"] = next(iter(offices))
                i = len(out) + 1
                entry: dict[str, Any] = {"id": self.uid("contact", i)}
                entry.update(c)
                entry["section"] = block.section
                entry["text"] = block.text
                name = person.name
                entry["questions"] = questions_from(
                    "联系人是谁", f"{name}的电话" if "phone" in c else f"{name}的手机", "联系电话",
                    "传真" if "fax" in c else "手机号码" if "mobile" in c else "邮箱" if "email" in c else "联系方式",
                    f"{c['office']}联系人" if c.get("office") else f"{self.name}联系人", "有问题找谁",
                )
                entry["keywords"] = [name]
                entry["generated"] = True
                out.append(entry)
        return out

    # -- tables ----------------------------------------------------------------------------------

    def _table(self, i: int, t: FoundTable) -> dict[str, Any]:
        columns = t.columns
        roles = table_roles(columns)
        title = t.title or "附件表格"
        subject = table_subject(title)
        number_col = roles.get("number")
        rows = []
        for row in t.rows:
            values: dict[str, Any] = {}
            for col in columns:
                cell = row.get(col, "")
                values[col] = int(cell) if col == number_col and cell.isdigit() else cell
            name = row.get(roles.get("name", ""), "")
            alias = re.sub(r"(项目|工程)$", "", re.sub(r"[（(][^）)]*[）)]", "", name))
            if alias and alias != name and len(alias) >= 2:
                values["aliases"] = [alias]
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
            "intent": "projects" if "项目" in title else "table",
            "section": t.section or "附件",
            "title": title,
            "columns": columns,
        }
        if roles:
            out["roles"] = {r: roles[r] for r in ROLES if r in roles}
        out["questions"] = [q for q in dict.fromkeys(questions) if "{" in q or questions_from(q)][: MAX_QUESTIONS + 3]
        out["generated"] = True
        out["rows"] = rows
        return out

    # -- report ----------------------------------------------------------------------------------

    def _report(self, document: dict[str, Any], data: dict[str, Any]) -> None:
        p, r = self.p, self.report
        r.facts = {"发文单位": self.issuer, "文号": self.number, "发文日期": day(p.issued), "标题": p.title, "主送单位": p.addressee}
        r.fact_sources = {k: v for k, v in self.sources.items() if v}
        r.missing = [MISSING[k] for k, v in r.facts.items() if not v]
        r.sections = [f"{part.label}{s.label}、{s.title}" if not part.label else f"{part.label}·{s.label}、{s.title}" for part in p.parts for s in part.sections]
        r.deadlines = [{"date": day(d["date"]), **{k: d.get(k, "") for k in ("what", "how", "to", "who")}} for d in data.get("deadlines", [])]
        if not r.deadlines:
            r.missing.append("未找到截止时间：没有“请于…前报送”一类的要求。")
        r.contacts = [{k: c.get(k, "") for k in ("name", "office", "phone", "mobile", "fax", "email")} for c in data.get("contacts", [])]
        if not r.contacts:
            r.missing.append("未找到联系人。")
        r.tables = [{"title": t["title"], "columns": t["columns"], "rows": len(t["rows"])} for t in data.get("tables", [])]
        bodies = {canon(re.sub(r"\s", "", x)) for x in [t.title for t in p.tables] + [part.title for part in p.parts]}
        r.attachments = [{"name": a, "has_body": canon(re.sub(r"\s", "", a)) in bodies} for a in p.attachments]


def ingest(text: str, *, doc_id: str | None = None, report: Report | None = None) -> IngestResult:
    """Draft the knowledge YAML of a notice's text, with a review report and every line it could not place."""
    parser = Parser(text, doc_id)
    parser.run()
    report = report or Report()
    data = _Builder(parser, report).build()
    leftover = [Leftover(x.no, x.text.strip()) for x in parser.all_lines if x.key.strip() and x.no not in parser.placed]
    report.ignored = [Ignored(x.no, x.text.strip(), x.dropped) for x in parser.all_lines if x.dropped]
    report.leftover = leftover
    report.notes = parser.notes
    return IngestResult(data=data, report=report, leftover=leftover, notes=parser.notes)


def ingest_file(source: bytes | str | Path, filename: str = "", *, doc_id: str | None = None) -> IngestResult:
    """Read a notice file (.txt, .docx, .pdf, .html; a path or its bytes) and draft it.

    Raises NoticeError (a ValueError) with a Chinese message when the file holds no usable text.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        data, filename = path.read_bytes(), filename or path.name
    else:
        data = source
    notice: NoticeText = read_notice(data, filename)
    report = Report(source=filename, format=notice.format, encoding=notice.encoding)
    result = ingest(notice.text, doc_id=doc_id, report=report)
    result.notes.extend(notice.notes)
    return result
