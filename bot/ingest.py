"""Turn a plain-text government notice into knowledge YAML, so staff review a draft instead of retyping it."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]*")
TERMINAL = "。：；！？:;!?"
CN_DIGITS = "一二三四五六七八九"

L1 = re.compile(r"^([一二三四五六七八九十]+)、\s*(.*)$")
L2 = re.compile(r"^[（(]\s*([一二三四五六七八九十]+)\s*[）)]\s*(.*)$")
L3 = re.compile(r"^(?:(\d{1,2})\s*[.．、](?!\d)|[（(](\d{1,2})[）)])\s*(.*)$")
DOC_NUMBER = re.compile(r"^\S{1,16}[〔\[［(（]\s*\d{4}\s*[〕\]］)）]\s*\d+\s*号$")
DATE_LINE = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日$")
ATTACH_LIST = re.compile(r"^附\s*件\s*[：:]\s*(.*)$")
ATTACH_HEAD = re.compile(r"^附\s*件\s*(\d*)\s*$")
CONTACT_START = re.compile(r"^[（(]?\s*联\s*系\s*人")
DISCLOSURE = re.compile(r"^公开方式\s*[：:]\s*(.+)$")
PAGE_NUMBER = re.compile(r"^[-—–\s]*\d{1,3}[-—–\s]*$")
TITLE_END = re.compile(r"(通知|意见|方案|办法|函|决定|通报|规定|细则|要点|公告|计划)$")
BASIS = re.compile(r"《[^《》]+》\s*[（(][^（）()]*〔\d{4}〕\d+号[）)]")
ENUM = re.compile(r"(?:^|(?<=[：。；，:;,]))([一二三四五六七八九十])是")
DATE = re.compile(
    r"(?:(?P<y>\d{4})\s*年\s*)?(?P<m>\d{1,2})\s*月\s*(?:(?P<d>\d{1,2})\s*[日号]|(?P<part>上旬|中旬|下旬|底|末))?"
)
DEADLINE = re.compile(
    r"^(?P<who>.*?)(?:请|须|应|要|务必)?(?:于|在)(?P<date>[^，。；,;]{2,20}?)(?:之)?前(?P<rest>.*)$"
)
SUBMIT = re.compile(r"报送|提交|上报|报至|送至|发送至|发送到|寄送|送交")
WHAT_FIRST = re.compile(
    r"^[，,]?\s*将(?P<what>.+?)(?:以(?P<how>[^，,；;。]+?(?:形式|方式)))?[，,]?\s*"
    r"(?:报送|提交|上报|报至|送至|发送至|发送到|寄送|送交)(?:至|到|给)?(?P<to>[^，,；;。]*)"
)
VERB_FIRST = re.compile(
    r"^[，,]?\s*(?:以(?P<how>[^，,；;。]+?(?:形式|方式))[，,]?)?\s*(?:报送|提交|上报|寄送|送交)"
    r"(?P<what>[^，,；;。]+?)(?:(?:至|到|给)(?P<to>[^，,；;。]+))?$"
)
OFFICE = re.compile(r"([^\s，、。；]*?(?:处|科|室|中心|站|办))$")
VERBS = (
    "进一步",
    "加强",
    "大力",
    "倡导",
    "认真",
    "开展",
    "精心",
    "组织",
    "积极",
    "全面",
    "落实",
    "充分",
    "发挥",
    "推广",
    "促进",
    "举办",
    "做好",
    "确保",
    "解决",
    "深入",
    "切实",
    "持续",
    "严格",
    "强化",
    "提升",
    "推进",
    "规范",
    "健全",
    "完善",
    "建立",
    "实施",
    "推动",
    "营造",
    "注重",
    "及时",
    "高度",
    "重视",
    "严厉",
    "查处",
    "研讨",
    "策划",
    "抓好",
    "加大",
    "着力",
    "不断",
    "通过",
    "结合",
    "充分利用",
    "利用",
    "要",
    "对",
    "以",
    "把",
    "将",
)
CAMPAIGN_SLUGS = (
    ("质量月", "quality-month"),
    ("安全生产月", "safety-month"),
    ("质量安全检查", "quality-safety-inspection"),
    ("质量检查", "quality-inspection"),
    ("安全检查", "safety-inspection"),
    ("检查", "inspection"),
)
ISSUER_SLUGS = (("广东", "gd"), ("广州", "gz"), ("深圳", "sz"), ("住房和城乡建设部", "mohurd"))
ROLE_NAMES = {
    "number": ("序号", "编号"),
    "city": ("地区", "城市", "地市", "所在地"),
    "name": ("项目名称", "工程名称", "名称", "检查组", "组别", "项目", "工程"),
    "org": ("施工单位", "承建单位", "总承包单位", "单位", "企业"),
}
ROLE_ORDER = ("number", "city", "name", "org")
MAX_QUESTIONS = 5


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


# --------------------------------------------------------------------------------- text helpers


def _wide(ch: str) -> bool:
    return ord(ch) >= 0x2000


def _ideograph(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff"


def tidy(text: str) -> str:
    """Drop the spaces PDF extraction puts between Chinese and Latin text, keep those between two phrases."""
    text = text.strip()

    def fix(m: re.Match[str]) -> str:
        before, after = text[m.start() - 1], text[m.end()]
        if _ideograph(before) and _ideograph(after):
            return " "
        if _wide(before) or _wide(after):
            return ""
        return " "

    return re.sub(r"(?<=.)\s+(?=.)", fix, text)


def cn_number(text: str) -> int:
    """一 → 1, 十二 → 12, 二十 → 20: section numbers as printed."""
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if "十" in text:
        tens, _, units = text.partition("十")
        return (CN_DIGITS.index(tens) + 1 if tens else 1) * 10 + (
            CN_DIGITS.index(units) + 1 if units else 0
        )
    return CN_DIGITS.index(text) + 1


def parse_date(text: str, year: int | None = None, after: dt.date | None = None) -> dt.date | None:
    """2021年9月30日, 9月30日, 9月中旬 or 9月 → a date; a period becomes its last day (a deadline is 'by then')."""
    m = DATE.search(text)
    if not m:
        return None
    y = int(m.group("y")) if m.group("y") else year
    if y is None:
        return None
    month = int(m.group("m"))
    if not 1 <= month <= 12:
        return None
    last = calendar.monthrange(y, month)[1]
    part = m.group("part")
    day = int(m.group("d")) if m.group("d") else {"上旬": 10, "中旬": 20}.get(part or "", last)
    try:
        when = dt.date(y, month, day)
    except ValueError:
        return None
    if not m.group("y") and after is not None and when < after - dt.timedelta(days=31):
        when = parse_date(text, y + 1) or when  # "1月15日" in a December notice means next January
    return when


def _split_keep(text: str, marks: str) -> list[str]:
    """Split after each of `marks`, keeping the mark with its clause."""
    return [p for p in re.split(f"(?<=[{marks}])", text) if p.strip()]


def _key_term(phrase: str) -> str:
    """The noun phrase a person would type: a 《title》 if there is one, else the clause without its verbs."""
    book = re.search(r"《([^》]+)》", phrase)
    if book:
        return re.sub(r"[(（][^)）]*[)）]$", "", book.group(1))
    phrase = re.sub(r"^[一二三四五六七八九十]是", "", phrase.strip(" ，。；："))
    changed = True
    while changed and phrase:
        changed = False
        for verb in VERBS:
            if phrase.startswith(verb) and len(phrase) > len(verb):
                phrase, changed = phrase[len(verb) :], True
                break
    return _shorten(phrase)


def _shorten(phrase: str, limit: int = 12) -> str:
    """Cut a long phrase at a joint (的, 和, 、, a verb) so the question stays short."""
    if len(phrase) <= limit:
        return phrase
    joints = ("的", "和", "及", "与", "、", "举办", "召开", "开展", "组织", "通过", "利用")
    tails = [phrase.rsplit(j, 1)[1] for j in joints if j in phrase]
    tails = [t for t in tails if 3 <= len(t) <= limit]
    if tails:
        return max(tails, key=len)
    heads = [phrase.split(j, 1)[0] for j in joints if j in phrase]
    heads = [h for h in heads if 3 <= len(h) <= limit]
    if heads:
        return max(heads, key=len)
    return phrase[:limit]


def _key_terms(title: str) -> list[str]:
    terms = []
    for clause in re.split(r"[，、；,;。]", title):
        term = _key_term(clause)
        if 2 <= len(term) <= 16 and term not in terms:
            terms.append(term)
    return terms


def _questions(*candidates: str) -> list[str]:
    out: list[str] = []
    for q in candidates:
        q = q.replace("“", "").replace("”", "").strip()
        if q and "{" not in q and q not in out:
            out.append(q)
    return out[:MAX_QUESTIONS]


# --------------------------------------------------------------------------------- parsing


@dataclass
class _Para:
    """One paragraph of the body after broken lines are joined."""

    text: str
    lines: list[int]


@dataclass
class _Block:
    """A numbered part of the body: 一、 (level 1), （一） (level 2) or 1. (level 3)."""

    level: int
    number: int
    label: str
    title: str
    inline: str = ""
    paras: list[_Para] = field(default_factory=list)
    children: list[_Block] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    deadline_paras: list[_Para] = field(default_factory=list)


def _heading_open(text: str) -> bool:
    """A heading line continues on the next line only if it already runs into body text."""
    return any(ch in "。；" for ch in text[:-1]) or len(text) > 40


def _is_heading(text: str) -> bool:
    return bool(L1.match(text) or L2.match(text) or L3.match(text))


def _paragraphs(lines: list[tuple[int, str]]) -> list[_Para]:
    """Rejoin lines a PDF broke inside a sentence: an open line followed by a non-heading continues."""
    paras: list[_Para] = []
    open_ = False
    for no, raw in lines:
        text = tidy(raw)
        if not text:
            continue
        if paras and open_ and not _is_heading(text):
            paras[-1].text += text
            paras[-1].lines.append(no)
        else:
            paras.append(_Para(text, [no]))
        last = paras[-1].text
        ended = last[-1] in TERMINAL
        open_ = not ended and (not _is_heading(last) or _heading_open(last))
    return paras


def _enumeration(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Split 'intro：一是…；二是…' into the intro and its (label, text) items, in order."""
    starts = []
    want = 1
    for m in ENUM.finditer(text):
        if cn_number(m.group(1)) == want:
            starts.append(m.start())
            want += 1
    if len(starts) < 2:
        return text, []
    intro = text[: starts[0]].rstrip("，,；; ")
    items = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunk = text[start:end].rstrip("，,；; ")
        items.append((chunk[:2], chunk))
    return intro, items


@dataclass
class _Deadline:
    date: dt.date
    what: str
    who: str
    how: str
    to: str
    text: str
    section: str


def _deadlines_in(text: str, section: str, year: int, issued: dt.date | None) -> list[_Deadline]:
    """Every '…于X月X日前将…报送…' clause of a paragraph."""
    found: list[_Deadline] = []
    who = ""
    for sentence in _split_keep(text, "。"):
        for clause in _split_keep(sentence, "；;"):
            body = re.sub(r"^[（(][一二三四五六七八九十]+[）)]", "", clause.strip())
            m = DEADLINE.match(body.rstrip("。；;"))
            if not m or not SUBMIT.search(m.group("rest")):
                continue
            when = parse_date(m.group("date"), year, issued)
            if when is None:
                continue
            clause_who = re.sub(r"(请|须|应|要|务必)$", "", m.group("who")).strip("，, ")
            if "。" in clause_who:
                clause_who = clause_who.rsplit("。", 1)[1]
            who = clause_who or who
            rest = m.group("rest")
            what = how = to = ""
            w = WHAT_FIRST.match(rest) or VERB_FIRST.match(rest)
            if w:
                what = (w.group("what") or "").strip("，, ")
                how = (w.group("how") or "").strip()
                to = re.sub(r"^(至|到|给)", "", (w.group("to") or "").strip("，, "))
            if not what:
                what = SUBMIT.sub("", rest).strip("，,。； ") or "材料"
            text_out = body.rstrip("；;")
            if not text_out.endswith("。"):
                text_out += "。"
            found.append(_Deadline(when, what, who, how, to, text_out, section))
    return found


def _deadline_only(text: str) -> bool:
    """A paragraph that does nothing but set deadlines belongs to its part, not to the last sub-item."""
    sentences = [s for s in _split_keep(text, "。") if s.strip("。 ")]
    return bool(sentences) and all(
        (m := DEADLINE.match(s.rstrip("。"))) is not None and SUBMIT.search(m.group("rest"))
        for s in sentences
    )


def _contact_fields(text: str) -> dict[str, str]:
    keys = (
        ("name", r"联系人"),
        ("phone", r"(?:联系)?电话|手机|座机"),
        ("fax", r"传真"),
        ("email", r"(?:电子)?邮箱|电子邮件|邮件|[Ee]-?mail"),
        ("address", r"(?:通讯|联系)?地址"),
    )
    out: dict[str, str] = {}
    last = ""
    for part in re.split(r"[，,；;]", text.strip("（）() ")):
        part = part.strip()
        if not part:
            continue
        for key, pattern in keys:
            m = re.match(rf"^(?:{pattern})\s*[：:]\s*(.*)$", part)
            if m:
                out[key] = m.group(1).strip()
                last = key
                break
        else:
            if last and last != "name":
                out[last] = f"{out[last]}、{part}"
    return {k: v for k, v in out.items() if v}


def _split_row(line: str) -> list[str]:
    cells = re.split(r"\t+", line.strip()) if "\t" in line else re.split(r"\s{2,}", line.strip())
    return [tidy(c) for c in cells if c.strip()]


def _roles(columns: list[str]) -> dict[str, str]:
    roles: dict[str, str] = {}
    taken: set[str] = set()
    for role in ROLE_ORDER:
        names = ROLE_NAMES[role]
        pick = next((n for n in names if n in columns and n not in taken), None)
        if pick is None:
            pick = next((c for n in names for c in columns if n in c and c not in taken), None)
        if pick:
            roles[role] = pick
            taken.add(pick)
    return roles


def _subject(title: str) -> str:
    """What a table lists, for questions: the words after the campaign name, or after the year."""
    if "”" in title and title.rsplit("”", 1)[1].strip():
        return title.rsplit("”", 1)[1].strip()
    if "的" in title:
        return title.rsplit("的", 1)[1]
    subject = re.sub(r"^\d{4}\s*年(度)?", "", title)
    return re.sub(r"^(全省|广东省|全市)", "", subject) or title


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


class _Parser:
    """One pass over the notice's lines, region by region."""

    def __init__(self, text: str, doc_id: str | None) -> None:
        raw = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
        self.lines: list[tuple[int, str]] = []
        for no, line in enumerate(raw, 1):
            line = line.rstrip()
            if PAGE_NUMBER.match(line) and line.strip():
                continue
            self.lines.append((no, line.strip(" \u3000")))
        self.doc_id = doc_id
        self.placed: set[int] = set()
        self.notes: list[str] = []
        self.issuer = self.number = self.title = self.addressee = self.disclosure = ""
        self.signer = ""
        self.issued: dt.date | None = None
        self.attachments: list[str] = []
        self.contact_text = ""
        self.contact_lines: list[int] = []
        self.tables: list[dict[str, Any]] = []
        self.preamble: list[_Para] = []
        self.sections: list[_Block] = []

    def place(self, *numbers: int) -> None:
        """Mark lines as accounted for."""
        self.placed.update(numbers)

    def nonblank(self, start: int, end: int) -> list[int]:
        return [i for i in range(start, end) if self.lines[i][1].strip()]

    def run(self) -> None:
        """Header, body, tail, attachments: each region ends where the next one's marker starts."""
        idx = self.nonblank(0, len(self.lines))
        if not idx:
            raise ValueError("the notice is empty")
        pos = self._header(idx)
        body_end = self._body_end(idx, pos)
        self._body(idx[pos] if pos < len(idx) else len(self.lines), body_end)
        attach_start = next(
            (i for i in idx if i >= body_end and ATTACH_HEAD.match(self.lines[i][1])),
            len(self.lines),
        )
        self._tail([i for i in idx if body_end <= i < attach_start])
        self._attachments([i for i in idx if i >= attach_start])

    def _header(self, idx: list[int]) -> int:
        texts = [self.lines[i][1] for i in idx]
        number_at = next((k for k, t in enumerate(texts[:8]) if DOC_NUMBER.match(tidy(t))), None)
        if number_at is not None:
            self.number = re.sub(r"\s", "", texts[number_at])
            self.place(self.lines[idx[number_at]][0])
            pos = number_at + 1
            before = list(range(number_at))
        else:
            self.notes.append("no 文号 line found")
            pos = 0
            while pos < min(len(texts), 8) and "关于" not in texts[pos]:
                pos += 1
            if pos >= min(len(texts), 8):
                pos = 0
            before = list(range(pos))
        if before:
            self.issuer = re.sub(r"文件$", "", tidy(texts[before[0]]))
            self.place(self.lines[idx[before[0]]][0])
        title: list[str] = []
        while pos < len(texts) and len(title) < 4:
            title.append(texts[pos])
            self.place(self.lines[idx[pos]][0])
            pos += 1
            if TITLE_END.search(tidy(texts[pos - 1])):
                break
        self.title = tidy("".join(tidy(t) for t in title))
        addressee: list[str] = []
        look = pos
        while look < len(texts) and look - pos < 4 and not _is_heading(texts[look]):
            addressee.append(texts[look])
            if texts[look].endswith(("：", ":")):
                self.addressee = "".join(tidy(t) for t in addressee)
                for k in range(pos, look + 1):
                    self.place(self.lines[idx[k]][0])
                return look + 1
            look += 1
        self.notes.append("no addressee line (ending in ：) found")
        return pos

    def _body_end(self, idx: list[int], pos: int) -> int:
        for k in range(pos, len(idx)):
            text = self.lines[idx[k]][1]
            nxt = self.lines[idx[k + 1]][1] if k + 1 < len(idx) else ""
            signature = (
                DATE_LINE.match(nxt.strip())
                and len(text) <= 40
                and not any(ch in text for ch in "。，；：")
            )
            if (
                ATTACH_LIST.match(text)
                or ATTACH_HEAD.match(text)
                or CONTACT_START.match(text)
                or DISCLOSURE.match(text)
                or DATE_LINE.match(text)
                or signature
            ):
                return idx[k]
        return len(self.lines)

    def _body(self, start: int, end: int) -> None:
        paras = _paragraphs(self.lines[start:end])
        section: _Block | None = None
        sub: _Block | None = None
        for para in paras:
            text = para.text
            if m := L1.match(text):
                title, inline = _head_split(m.group(2), "：:。")
                section = _Block(
                    1, cn_number(m.group(1)), m.group(1), title, inline, lines=list(para.lines)
                )
                self.sections.append(section)
                sub = None
            elif section is not None and (m := L2.match(text)):
                title, _ = _head_split(m.group(2), "。")
                sub = _Block(
                    2,
                    cn_number(m.group(1)),
                    f"{section.label}（{m.group(1)}）",
                    title,
                    lines=list(para.lines),
                )
                sub.inline = (
                    m.group(2) if m.group(2) != title and m.group(2) != title + "。" else ""
                )
                section.children.append(sub)
            elif section is not None and (m := L3.match(text)):
                owner = sub or section
                number = m.group(1) or m.group(2)
                label = f"{number}." if m.group(1) else f"（{number}）"
                owner.children.append(
                    _Block(3, int(number), label, "", m.group(3), lines=list(para.lines))
                )
            elif section is None:
                self.preamble.append(para)
            elif _deadline_only(text):
                section.deadline_paras.append(para)
            else:
                (sub or section).paras.append(para)
            self.place(*para.lines)

    def _tail(self, idx: list[int]) -> None:
        k = 0
        while k < len(idx):
            no, text = self.lines[idx[k]]
            text = tidy(text)
            if m := ATTACH_LIST.match(text):
                if m.group(1):
                    self.attachments.append(re.sub(r"^\d+[.．、]\s*", "", m.group(1)))
                self.place(no)
                while k + 1 < len(idx) and re.match(r"^\d+[.．、]", self.lines[idx[k + 1]][1]):
                    k += 1
                    self.attachments.append(
                        re.sub(r"^\d+[.．、]\s*", "", tidy(self.lines[idx[k]][1]))
                    )
                    self.place(self.lines[idx[k]][0])
            elif m := DATE_LINE.match(text):
                self.issued = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                self.place(no)
            elif (
                k + 1 < len(idx)
                and DATE_LINE.match(self.lines[idx[k + 1]][1].strip())
                and len(text) <= 40
            ):
                self.signer = self.signer or text
                self.place(no)
            elif CONTACT_START.match(text):
                parts, numbers = [text], [no]
                paren = text[0] in "（("
                while (paren and not re.search(r"[）)]$", parts[-1])) or (
                    not paren
                    and k + 1 < len(idx)
                    and re.match(r"^(电话|传真|邮箱|手机)", self.lines[idx[k + 1]][1])
                ):
                    if k + 1 >= len(idx):
                        break
                    k += 1
                    parts.append(tidy(self.lines[idx[k]][1]))
                    numbers.append(self.lines[idx[k]][0])
                if self.contact_text:
                    self.notes.append(f"a second contact block at line {no} was not read")
                else:
                    self.contact_text, self.contact_lines = "".join(parts), numbers
                    self.place(*numbers)
            elif m := DISCLOSURE.match(text):
                self.disclosure = text
                self.place(no)
            k += 1

    def _attachments(self, idx: list[int]) -> None:
        k = 0
        while k < len(idx):
            no, text = self.lines[idx[k]]
            if not ATTACH_HEAD.match(tidy(text)):
                k += 1
                continue
            self.place(no)
            k += 1
            title: list[str] = []
            while (
                k < len(idx)
                and len(_split_row(self.lines[idx[k]][1])) < 2
                and not ATTACH_HEAD.match(tidy(self.lines[idx[k]][1]))
            ):
                title.append(tidy(self.lines[idx[k]][1]))
                self.place(self.lines[idx[k]][0])
                k += 1
            if k >= len(idx) or ATTACH_HEAD.match(tidy(self.lines[idx[k]][1])):
                for n in range(len(title)):
                    self.placed.discard(self.lines[idx[k - len(title) + n]][0])
                continue
            header_no, header = self.lines[idx[k]]
            columns = _split_row(header)
            self.place(header_no)
            k += 1
            rows: list[dict[str, Any]] = []
            while k < len(idx) and not ATTACH_HEAD.match(tidy(self.lines[idx[k]][1])):
                row_no, row_text = self.lines[idx[k]]
                cells = _split_row(row_text)
                if len(cells) == len(columns):
                    rows.append(dict(zip(columns, cells, strict=True)))
                    self.place(row_no)
                k += 1
            name = tidy("".join(title)) or (
                self.attachments[len(self.tables)]
                if len(self.attachments) > len(self.tables)
                else "附件"
            )
            self.tables.append({"title": name, "columns": columns, "rows": rows})


def _head_split(text: str, marks: str) -> tuple[str, str]:
    """'活动主题：xxx' or '加强统筹协调。要…' → (title, rest)."""
    for i, ch in enumerate(text):
        if ch in marks:
            rest = text[i + 1 :].strip()
            return text[:i].strip(), rest
    return text.strip(), ""


# --------------------------------------------------------------------------------- building


class _Builder:
    """Turns the parsed parts into the knowledge schema, with ids and draft questions."""

    def __init__(self, p: _Parser) -> None:
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
        if not ID_PATTERN.fullmatch(self.doc_id):
            raise ValueError(
                f"document id {self.doc_id!r} must be lower-case letters, digits and dashes"
            )
        self.prefix = _prefix(self.doc_id)
        self.name = f"{self.year}年{self.campaign}" if self.campaign else f"{self.year}年通知"
        self.deadlines: list[_Deadline] = []

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
            self.deadlines += _deadlines_in(para.text, "文首", self.year, p.issued)
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
                    _questions(
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
                _questions("通知的标题是什么", "文件全称", f"{n}通知全称", "通知名称"),
            )
        )
        out.append(
            self._unit(
                self.uid("doc-issuer"),
                "document",
                "文尾",
                "发文单位",
                f"发文单位：{self.issuer}。",
                _questions("谁发布的通知", "发文单位", f"{n}通知是哪个单位发的", "发文机关"),
            )
        )
        if p.issued:
            date = f"{p.issued.year}年{p.issued.month}月{p.issued.day}日"
            out.append(
                self._unit(
                    self.uid("doc-date"),
                    "document",
                    "文尾",
                    "发文日期",
                    f"发文日期：{date}。",
                    _questions("通知哪天发的", "印发日期", f"{n}通知什么时候发布的", "发文日期"),
                )
            )
        purpose = "".join(para.text for para in p.preamble)
        basis = BASIS.findall(purpose)
        if basis:
            sentence = next(s for s in _split_keep(purpose, "。") if basis[0] in s)
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
                    _questions(
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
                    _questions(
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
                    _questions("这个文件公开吗", "公开方式", "是否主动公开", f"{n}通知是否公开"),
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
                    _questions(
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
                    _questions(
                        f"为什么开展{c}", f"{c}的目的是什么", "这个通知讲什么", f"{n}通知的目的"
                    ),
                )
            )
        return out

    def _section(self, s: _Block) -> list[dict[str, Any]]:
        n = self.name
        subs = [b for b in s.children if b.level == 2]
        numbered = [b for b in s.children if b.level == 3]
        for para in s.deadline_paras:
            self.deadlines += _deadlines_in(para.text, s.label, self.year, self.p.issued)
        texts = ([s.inline] if s.inline else []) + [para.text for para in s.paras]
        for para in s.paras:
            self.deadlines += _deadlines_in(para.text, s.label, self.year, self.p.issued)
        if subs:
            texts.append("；".join(f"（{_cn(b.number)}）{b.title}" for b in subs) + "。")
        text, items = self._items(texts, numbered, s.title, self.uid(f"s{s.number}"))
        terms = _key_terms(s.title)
        if "主题" in s.title and not subs:
            intent = "theme"
            terms = [_key_term(t) for t in re.split(r"\s+", text) if len(t) >= 2][:4]
            questions = _questions(
                f"{s.title}是什么",
                f"{n}的主题",
                "主题是什么",
                f"{self.campaign}主题" if self.campaign else "活动主题",
                *terms,
            )
        elif subs:
            intent = "content"
            questions = _questions(
                s.title, f"{s.title}有哪些", f"{s.title}是什么", f"{n}的{s.title}"
            )
        else:
            intent = "content"
            key = terms[0] if terms else s.title
            questions = _questions(
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

    def _sub(self, s: _Block, b: _Block) -> dict[str, Any]:
        uid = self.uid(f"s{s.number}-{b.number}")
        texts = ([b.inline] if b.inline else []) + [para.text for para in b.paras]
        for t in texts:
            self.deadlines += _deadlines_in(t, b.label, self.year, self.p.issued)
        for c in b.children:
            self.deadlines += _deadlines_in(c.inline, b.label, self.year, self.p.issued)
        text, items = self._items(texts, b.children, b.title, uid)
        terms = _key_terms(b.title)
        key = terms[0] if terms else b.title
        second = terms[1] if len(terms) > 1 else key
        questions = _questions(
            b.title, f"{key}是什么", f"关于{key}有什么要求", f"{second}怎么做", f"{self.name}{key}"
        )
        unit = self._unit(
            uid, "content", b.label, b.title, text, questions, [t for t in terms if len(t) <= 8]
        )
        if items:
            unit["items"] = items
        return unit

    def _items(
        self, texts: list[str], numbered: list[_Block], title: str, uid: str
    ) -> tuple[str, list[dict[str, Any]]]:
        """Split 一是…二是… and 1. 2. lines into items; what is left is the unit's own text."""
        kept: list[str] = []
        items: list[dict[str, Any]] = []
        for t in texts:
            intro, enum = _enumeration(t)
            if intro:
                kept.append(intro)
            for label, chunk in enum:
                items.append(self._item(f"{uid}-{len(items) + 1}", label, chunk))
        for b in numbered:
            items.append(self._item(f"{uid}-{len(items) + 1}", b.label, b.inline.rstrip("；;，,")))
        return "\n".join(kept) or title, items

    def _item(self, uid: str, label: str, text: str) -> dict[str, Any]:
        clause = re.split(r"[，。；：,;]", re.sub(r"^[一二三四五六七八九十]是", "", text))[0]
        key = _key_term(clause)
        item: dict[str, Any] = {"id": uid, "label": label, "text": text}
        item["questions"] = _questions(key, f"关于{key}有什么要求", f"{key}怎么做", f"{key}是什么")
        if 2 <= len(key) <= 8:
            item["keywords"] = [key]
        item["generated"] = True
        return item

    # -- deadlines, contact, tables ------------------------------------------------------------------

    def _deadline(self, i: int, d: _Deadline) -> dict[str, Any]:
        what = d.what.replace("“", "").replace("”", "")
        md = f"{d.date.month}月{d.date.day}日"
        out: dict[str, Any] = {"id": self.uid("deadline", i), "date": d.date, "what": d.what}
        for key in ("who", "how", "to"):
            if getattr(d, key):
                out[key] = getattr(d, key)
        out["section"] = d.section
        out["text"] = d.text
        out["questions"] = _questions(
            f"{what}什么时候截止",
            f"{what}怎么报送",
            f"{what}报送给谁",
            f"{d.date.year}年{what}截止时间",
            f"{md}前要交什么",
        )
        out["generated"] = True
        return out

    def _contact(self) -> dict[str, Any] | None:
        fields = _contact_fields(self.p.contact_text)
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
        out["questions"] = _questions(
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
        roles = _roles(columns)
        subject = _subject(t["title"])
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
            out["roles"] = {r: roles[r] for r in ROLE_ORDER if r in roles}
        out["questions"] = list(dict.fromkeys(questions))[: MAX_QUESTIONS + 3]  # a table answers more kinds
        out["generated"] = True
        out["rows"] = rows
        return out


def _cn(number: int) -> str:
    if number <= 10:
        return "十" if number == 10 else CN_DIGITS[number - 1]
    tens, units = divmod(number, 10)
    return (
        (CN_DIGITS[tens - 1] if tens > 1 else "") + "十" + (CN_DIGITS[units - 1] if units else "")
    )


def ingest(text: str, *, doc_id: str | None = None) -> IngestResult:
    """Draft the knowledge YAML of a notice, listing every line it could not place for staff to check."""
    parser = _Parser(text, doc_id)
    parser.run()
    builder = _Builder(parser)
    data = builder.build()
    leftover = [
        Leftover(no, line) for no, line in parser.lines if line.strip() and no not in parser.placed
    ]
    return IngestResult(data=data, leftover=leftover, notes=parser.notes)
