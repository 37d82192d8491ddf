"""What each part of the knowledge can answer: the kinds of fact it holds, whose they are, what it cites.

Retrieval always finds a nearest passage; whether to answer with it is a separate decision. A
question asks for a kind of fact (a phone, a date, an amount …) about a subject; a unit answers
only if it holds that kind, for that subject. The kinds are read off the unit's structure (a
contact holds a phone when it has one) and off its text (a date, an amount, an address in it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.core.model import Knowledge, Unit
from bot.core.text import fold

_DATE = re.compile(r"\d{1,2}\s*月(?:\s*\d{1,2}\s*[日号])?|[上中下]旬|\d{4}\s*年\s*\d{1,2}\s*月|\d{4}-\d{1,2}-\d{1,2}")
_TIME = re.compile(r"\d{1,2}\s*[:：]\s*\d{2}|\d{1,2}\s*点(?:\d{1,2}分|半|钟)?|[上下]午\s*\d")
_AMOUNT = re.compile(r"\d+(?:\.\d+)?\s*(?:万|千|百)?元|费用|收费标准|奖金|罚款\s*\d")
_PHONE = re.compile(r"\d{3,4}\s*-\s*\d{7,8}|(?<!\d)1[3-9]\d{9}(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ADDRESS = re.compile(r"地址|[\u4e00-\u9fff]{2,}(?:路|街|大道|大街|巷)\s*\d+\s*号")
_VENUE = re.compile(r"地点|会场|举办地|在[\u4e00-\u9fff]{2,12}(?:举行|举办|召开)|酒店|宾馆|会议室|礼堂|会议中心|展览馆")
_WEBSITE = re.compile(r"https?://|www\.|网址|网站")
_WECHAT = re.compile(r"微信")
_POSITION = re.compile(r"职务|职位")
_CONDITION = re.compile(r"条件|资格|须具备|应具备|应当具备|符合以下|符合下列")
_PROCEDURE = re.compile(r"报名|报考|申报方式|申报程序|申请方式|登录[\u4e00-\u9fff]{0,8}系统|网上申报")
# How many of something the text gives: 推荐1个, 3至5张, 每家限报5人, 一份.
_QUANTITY = re.compile(r"(?:\d+|[一二两三四五六七八九十]+)\s*(?:(?:至|到|-|~|～)\s*(?:\d+|[一二两三四五六七八九十]+)\s*)?(?:个|张|份|项|人|名|家|篇|条|次|件|本|套|组)")
_SIZE = re.compile(r"\d+\s*(?:层|米|平方米|万平方米|㎡|亿元|万元)")
_NUMBER = re.compile(r"[〔\[［(（]\s*\d{4}\s*[〕\]］)）]\s*\d+\s*号")
_START = re.compile(r"\s*(?:\d{1,2}\s*[日号])?\s*(?:起|开始|开放|启动|开通)")  # right after a date: it starts then
# A question about when something ends, not when it is or starts.
ENDING = re.compile(r"截止|最迟|最晚|期限|到什么时候|到哪天|到几号")
_LENGTH = re.compile(r"\d+\s*字|字数|篇幅|\d+\s*页|\d+\s*(?:分钟|小时)|时长")  # how long a text, a video, a talk
_FORM = re.compile(r"模板|范本|样表|格式")
_ISSUED = re.compile(r"(?:\d{4}\s*年)?\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日|[上中下]旬|底)?[^。《]{0,6}(?:印发|发布|下发|出台|公布)")
_ROLE_WORDS = ("项目经理", "厅长", "局长", "处长", "会长", "秘书长", "主任", "总工")
_CITATION = re.compile(r"《([^《》]{4,80})》\s*(?:[(（]([^()（）]{2,30}?\d+号)[)）])?")
# Parties named in formal text: an office, an association, a company … starting after a delimiter.
_PARTY = re.compile(
    r"(?:^|(?<=[，、；：。（）()“”\s和及与或由向是联合报送给对]))"
    r"((?:广东省|省|市|[\u4e00-\u9fff]{2,3}市)?[\u4e00-\u9fff]{1,12}?"
    r"(?:协会|学会|联合会|厅|局|委员会|监管处|处|办公室|中心|公司|集团|监督站))"
)
# Parties a question names that the text need not mention: a city's bureau, a provincial association.
_ASKED_PARTY = re.compile(
    r"(?:[\u4e00-\u9fff]{2,3}市?(?:住建|住房城乡建设|住房和城乡建设|建设|交通运输|交通|轨道交通|规划|城管|质监|质量监督)"
    r"(?:局|委|部门|站)|省[\u4e00-\u9fff]{2,10}?(?:协会|学会)|[\u4e00-\u9fff]{2,8}(?:集团|公司))"
)
_NOT_A_PARTY = re.compile(r"哪|什么|啥|谁|几|这个|那个|其他|有关|相关|惩处|查处|处理|处罚")
_LEAD = re.compile(r"^(?:[一二三四五六七八九十]是|联合|报送|向|由|和|及|与|对|给|是|合|充分|调动|发挥|组织|举办|鼓励|引导|推进)+")
_DOCUMENT_NOUN = re.compile(r"通知|文件|文号|号文|\d+号|办法|意见|方案|规定|决定")
_SELF = ("我厅", "本厅", "省厅", "厅里", "我局", "本局", "我会", "本会")


@dataclass(frozen=True)
class Citation:
    """Another document a unit names (《…》 with its number): the notice gives its name, not its content."""

    title: str
    number: str
    key: str  # a distinctive stretch of the title, as normalised text
    holds: frozenset[str]  # what the citing sentence says about it (date, number)


@dataclass
class UnitFacts:
    """The kinds of fact one unit holds and the parties they belong to."""

    kinds: set[str] = field(default_factory=set)
    holders: set[str] = field(default_factory=set)  # normalised party names the unit's facts are about
    citations: list[Citation] = field(default_factory=list)
    starts_only: bool = False  # every date it gives is when something begins (自3月6日起), none an end


def _normalise_party(name: str) -> str:
    for prefix in ("广东省", "全省", "省级", "各", "我", "本"):
        if name.startswith(prefix) and len(name) - len(prefix) >= 2:
            name = name[len(prefix) :]
    return name


def same_party(asked: str, holder: str) -> bool:
    """Whether a party named in a question is one the facts belong to (住建厅 ≈ 广东省住建厅)."""
    a, h = _normalise_party(asked), _normalise_party(holder)
    if not a or not h:
        return False
    return a in h or h in a or asked in _SELF


class Facts:
    """Facts of every unit of one knowledge snapshot, computed once at index time."""

    def __init__(self, knowledge: Knowledge, normalize: object) -> None:
        """Read kinds from structure and text; `normalize` is the question normaliser (callable)."""
        self.by_unit: dict[str, UnitFacts] = {}
        self._normalize = normalize
        self.parties: set[str] = set()  # every party the knowledge names, normalised
        for unit in knowledge.units.values():
            doc = knowledge.documents.get(unit.document)
            issuer = doc.issuer if doc else ""
            facts = self._facts(unit, issuer, knowledge)
            self.by_unit[unit.id] = facts
            self.parties.update(facts.holders)
            for text in (unit.text, unit.title):
                for m in _PARTY.finditer(str(self._normalize(text))):  # type: ignore[operator]
                    name = _LEAD.sub("", m.group(1))
                    if len(name) >= 3 and not _NOT_A_PARTY.search(name):
                        self.parties.add(name)
            if unit.table is not None:
                for row in unit.table.rows:
                    org = unit.table.cell(row, "org")
                    if org:
                        self.parties.add(self.norm(org))
        # Per citing unit: the stretches of its citations' titles that other units use too (worked out
        # once, for the few units that cite; a copy of every other text per unit would grow as n²).
        self._shared_pieces: dict[str, frozenset[str]] = {}
        citing = [u for u in knowledge.units.values() if self.by_unit[u.id].citations]
        if citing:
            wanted = {u.id: _pieces(self.by_unit[u.id].citations) for u in citing}
            every = frozenset().union(*wanted.values())
            users: dict[str, int] = {}  # how many units' texts use each piece
            found: dict[str, frozenset[str]] = {}
            for unit in knowledge.units.values():
                text = self.norm(f"{unit.title}{unit.text}")
                here = frozenset(w for n in (6, 5, 4) for i in range(len(text) - n + 1) if (w := text[i : i + n]) in every)
                found[unit.id] = here
                for w in here:
                    users[w] = users.get(w, 0) + 1
            for unit in citing:
                own = found[unit.id]
                self._shared_pieces[unit.id] = frozenset(w for w in wanted[unit.id] if users.get(w, 0) > (w in own))
        # Parties by their normalised key, so a question is matched by its own substrings (a few hundred
        # lookups) rather than by testing every party the knowledge names (thousands, in a large one).
        self._party_keys: dict[str, list[str]] = {}
        for party in sorted(self.parties):
            key = _normalise_party(party)
            if len(key) >= 3:
                self._party_keys.setdefault(key, []).append(party)
        self._longest_party = max(map(len, self._party_keys), default=0)

    def parties_in(self, normalized: str) -> list[str]:
        """Parties a question names: those the knowledge mentions, and bureaus or associations it does not."""
        compact = normalized.replace(" ", "")
        found: list[str] = []
        n = len(compact)
        keys = {compact[i:j] for i in range(n) for j in range(i + 3, min(n, i + self._longest_party) + 1)}
        for key in sorted(keys & self._party_keys.keys(), key=lambda k: (-len(k), k)):  # longest first
            for party in self._party_keys[key]:
                if not any(key in f for f in found):
                    found.append(party)
        for m in _ASKED_PARTY.finditer(compact):
            name = m.group(0)
            if not _NOT_A_PARTY.search(name) and not any(name in f or f in name for f in found):
                found.append(name)
        return found

    def norm(self, text: str) -> str:
        """Normalise like a question, spaces dropped."""
        return str(self._normalize(text)).replace(" ", "")  # type: ignore[operator]

    def _facts(self, unit: Unit, issuer: str, knowledge: Knowledge) -> UnitFacts:
        facts = UnitFacts()
        kinds = facts.kinds
        text = fold(f"{unit.title}。{unit.text}")  # simplified script, half-width: one set of patterns
        kinds.add("content")
        if unit.deadline is not None:
            kinds.update({"date", "countdown", "recipient"})
            if unit.deadline.to:
                facts.holders.add(self.norm(unit.deadline.to))
        if unit.contact is not None:
            c = unit.contact
            kinds.update(k for k, v in (("phone", c.phone or getattr(c, "mobile", "")), ("fax", c.fax), ("email", c.email)) if v)
            if c.name:
                facts.holders.add(self.norm(c.name))
                kinds.add("person")
            if c.office:
                facts.holders.add(self.norm(c.office))
                kinds.add("recipient")
        if unit.table is not None:
            roles = unit.table.roles
            kinds.add("count")
            if "org" in roles:
                kinds.add("constructor")
            if "city" in roles:
                kinds.add("city")
            if "number" in roles or unit.table.rows:
                kinds.add("rank")
        if unit.children:
            kinds.add("count")
        for kind, pattern in (
            ("date", _DATE),
            ("time_of_day", _TIME),
            ("amount", _AMOUNT),
            ("phone", _PHONE),
            ("email", _EMAIL),
            ("address", _ADDRESS),
            ("venue", _VENUE),
            ("website", _WEBSITE),
            ("wechat", _WECHAT),
            ("position", _POSITION),
            ("condition", _CONDITION),
            ("procedure", _PROCEDURE),
            ("size", _SIZE),
            ("number", _NUMBER),
            ("length", _LENGTH),
            ("form", _FORM),
            ("quantity", _QUANTITY),
        ):
            if pattern.search(text):
                kinds.add(kind)
        if "date" in kinds and unit.deadline is None:
            dates = list(_DATE.finditer(text))
            facts.starts_only = bool(dates) and all(_START.match(text, m.end()) for m in dates)
        if any(word in text for word in _ROLE_WORDS):
            kinds.add("role_person")
        if issuer:
            facts.holders.add(self.norm(issuer))
        facts.citations = self._citations(unit.text)
        return facts

    def _citations(self, text: str) -> list[Citation]:
        found = []
        for m in _CITATION.finditer(text):
            title, number = m.group(1), m.group(2) or ""
            sentence_end = text.find("。", m.end())
            sentence = text[max(0, text.rfind("。", 0, m.start()) + 1) : sentence_end if sentence_end >= 0 else len(text)]
            holds = {"name"}
            if number:
                holds.add("number")
            if _ISSUED.search(sentence[: sentence.find(m.group(0))] if m.group(0) in sentence else ""):
                holds.add("date")  # "于2021年8月中旬印发了《…》": the notice says when it was issued
            key = self.norm(_distinctive(title))
            found.append(Citation(title, number, key, frozenset(holds)))
        return found

    def cited(self, unit_id: str, normalized: str, own_title: str = "") -> Citation | None:
        """The cited document a question is about, if it names one the unit cites (by number or title).

        The question must speak of a document (通知, 文件, 文 …) and name it by a stretch of its title
        that nothing else in the notice uses: "2021年质量月活动" names no document in particular.
        """
        compact = normalized.replace(" ", "")
        if not _DOCUMENT_NOUN.search(compact):
            return None
        shared = self._shared_pieces.get(unit_id, frozenset())
        for citation in self.by_unit.get(unit_id, UnitFacts()).citations:
            if citation.number:
                serial = re.search(r"(\d+)号", citation.number)
                prefix = re.sub(r"[〔\[［(（].*$", "", citation.number)
                if serial and f"{serial.group(1)}号" in compact and self.norm(prefix)[:2] in compact:
                    return citation
            key = citation.key
            for size in (6, 5, 4):
                for i in range(len(key) - size + 1):
                    piece = key[i : i + size]
                    if piece in compact and piece not in own_title and piece not in shared:
                        return citation
        return None


def _pieces(citations: list[Citation] | tuple[Citation, ...]) -> frozenset[str]:
    """The 4- to 6-character stretches of the cited titles' keys: how a question may name a cited document."""
    return frozenset(c.key[i : i + n] for c in citations for n in (6, 5, 4) for i in range(len(c.key) - n + 1))


def _distinctive(title: str) -> str:
    """The part of a cited title that tells it apart: without the issuer and the 关于…的通知 frame."""
    core = re.sub(r"^.*?关于", "", title)
    core = re.sub(r"的?(?:通知|意见|方案|办法|函|决定|通报|规定)$", "", core)
    return core or title
