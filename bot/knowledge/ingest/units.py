"""Answer units of a draft: the document's own facts, its sections, sub-items and paragraphs.

Each unit quotes the notice verbatim and carries draft paraphrase questions built from its own
heading; a fact the notice does not print gets no unit at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.core.text import cn_date, cn_numeral, to_cn_numeral
from bot.knowledge.ingest.clean import canon
from bot.knowledge.ingest.deadlines import split_outside
from bot.knowledge.ingest.layout import Block
from bot.knowledge.ingest.parse import Parser, Part
from bot.knowledge.ingest.questions import (
    fact_questions,
    key_term,
    key_terms,
    kind_questions,
    questions_from,
)

BASIS = re.compile(r"《[^《》]+》\s*[（(][^（）()]*[〔\[]\d{4}[〕\]]\d+号[）)]")
ENUM = re.compile(r"(?:^|(?<=[：。；，:;,]))([一二三四五六七八九十])是")


@dataclass
class Facts:
    """The document facts the units state (empty when the notice does not print them)."""

    number: str
    title: str
    issuer: str
    name: str  # "2021年质量月": how questions name this notice
    campaign: str
    kind: str = "通知"  # 通知, 函, 方案 …: what the notice calls itself


def unit(uid: str, intent: str, section: str, title: str, text: str, questions: list[str], keywords: list[str] | None = None) -> dict[str, Any]:
    """One unit in schema order, marked for review; never fewer than three questions."""
    if len(questions) < 3:
        first = re.split(r"[，。；：]", text, maxsplit=1)[0]
        more = questions_from(*questions, title, f"{title}是什么", f"关于{title}的规定", key_term(first), f"{key_term(first)}是什么", first[:20])
        questions = more if more else [title]
    if intent == "content":  # what people ask about a part is often one number or rule in it
        questions += [q for q in fact_questions(text) if q not in questions][: max(0, 8 - len(questions))]
    out: dict[str, Any] = {"id": uid, "intent": intent, "section": section, "title": title, "text": text, "questions": questions}
    if keywords:
        out["keywords"] = keywords
    out["generated"] = True
    return out


def document_units(p: Parser, f: Facts, uid: Callable[..., str]) -> list[dict[str, Any]]:
    """文号, title, issuer, date, basis, addressee, 公开方式, 抄送, attachments, period, purpose: those printed."""
    n, c = f.name, f.campaign or "通知"
    out = []
    if f.number:
        serial = re.search(r"(\d+)\s*[号號]$", f.number)
        out.append(unit(uid("doc-number"), "document", "文首", "文号", f"本通知文号：{f.number}。",
                        questions_from("文号是多少", "发文字号", f"{n}通知的文号", f"{serial.group(1)}号文" if serial else "文件号"),
                        [re.sub(r"[〔\[［(（].*$", "", f.number)]))
    if f.title:
        out.append(unit(uid("doc-title"), "document", "文首", "通知标题", f"通知标题：{f.title}。",
                        questions_from("通知的标题是什么", "文件全称", f"{n}通知全称", "通知名称")))
    if f.issuer:
        out.append(unit(uid("doc-issuer"), "document", "文尾", "发文单位", f"发文单位：{f.issuer}。",
                        questions_from("谁发布的通知", "发文单位", f"{n}通知是哪个单位发的", "发文机关", f"这份{f.kind}是谁发的")))
    if p.issued:
        out.append(unit(uid("doc-date"), "document", "文尾", "发文日期", f"发文日期：{cn_date(p.issued)}。",
                        questions_from("通知哪天发的", "印发日期", f"{n}通知什么时候发布的", "发文日期")))
    main = p.parts[0] if p.parts else None
    purpose = "".join(x.text for x in main.preamble) if main and main.sections else ""
    basis = BASIS.findall(canon(purpose))
    if basis:
        sentence = next(purpose[a:b] for a, b in split_outside(purpose, "。") if basis[0] in canon(purpose[a:b]))
        if "根据" in sentence:
            sentence = sentence[sentence.index("根据") :]
        number = re.search(r"[（(]([^（）()]*[〔\[]\d{4}[〕\]]\d+号)[）)]", sentence)
        out.append(unit(uid("doc-basis"), "document", "文首", "依据文件", sentence,
                        questions_from("依据哪个文件", "根据什么文件开展", "上级文件是哪个", f"{n}的依据",
                                       re.sub(r"[〔\[]\d{4}[〕\]]", "", number.group(1)) if number else ""),
                        [re.sub(r"[〔\[].*$", "", number.group(1))] if number else None))
    if p.addressee:
        out.append(unit(uid("doc-addressee"), "document", "文首", "主送单位", p.addressee,
                        questions_from("主送单位有哪些", "通知发给哪些单位", "通知对象是谁", f"{n}通知发给谁")))
    if p.disclosure:
        out.append(unit(uid("doc-disclosure"), "document", "文尾", "公开方式", p.disclosure,
                        questions_from("这个文件公开吗", "公开方式", "是否主动公开", f"{n}通知是否公开")))
    if p.copy:
        out.append(unit(uid("doc-copy"), "document", "文尾", "抄送单位", p.copy,
                        questions_from("抄送哪些单位", "抄送单位", "还抄送给谁")))
    if p.attachments:
        listed = "；".join(f"{i}. {a}" if len(p.attachments) > 1 else a for i, a in enumerate(p.attachments, 1))
        out.append(unit(uid("doc-attachments"), "document", "附件", "附件", f"附件：{listed}",
                        questions_from("附件有哪些", "有什么附件", "附件是什么", "表格在哪里", "要填什么表"),
                        [a for a in p.attachments if len(a) <= 12]))
    period = re.search(r"[^，。]*决定于([^，。]*?(?:\d+月|\d{4}年)[^，。]*?)(?:在[^，。]*?)?(?:组织)?开展[^。]*。", purpose)
    if period:
        out.append(unit(uid("doc-period"), "document", "文首", "活动时间", period.group(0),
                        questions_from(f"{c}活动时间", f"{c}什么时候开展", f"{n}在几月开展", "活动时间", "几月份开展")))
    if main and main.sections and main.preamble:
        out.append(unit(uid("doc-purpose"), "document", "文首", "通知目的", "\n".join(x.text for x in main.preamble),
                        questions_from(f"为什么开展{c}", f"{c}的目的是什么", "这个通知讲什么", f"{n}通知的目的")))
    return out


def enumeration(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Split 'intro：一是…；二是…' into the intro and its (label, text) items, in order."""
    starts = []
    want = 1
    for m in ENUM.finditer(text):
        if cn_numeral(m.group(1)) == want:
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


class SectionUnits:
    """The units of one body (the notice's own, or a plan appended to it)."""

    def __init__(self, name: str, campaign: str, uid: Callable[..., str], prefix: str = "", event: str = "") -> None:
        self.name, self.campaign, self.uid, self.prefix, self.event = name, campaign, uid, prefix, event

    def paragraphs(self, part: Part) -> list[dict[str, Any]]:
        """A body without numbered sections: one unit per paragraph, titled by its first phrase."""
        out = []
        pieces: list[str] = []
        for para in part.preamble:  # a long paragraph answers one question per sentence
            sentences = [para.text[a:b] for a, b in split_outside(para.text, "。")]
            pieces += sentences if len(para.text) > 80 and len(sentences) > 1 else [para.text]
        for i, text in enumerate(pieces, 1):
            phrases = fact_questions(text, 6, every=True)
            first = re.split(r"[，。；：]", text, maxsplit=1)[0]
            title = phrases[0] if phrases else key_term(first)[:16]
            section = part.label or "正文"
            out.append(unit(self.uid(f"{self.prefix}p{i}"), "content", section, title, text,
                            questions_from(*phrases, *fact_questions(text, 3)), [p for p in phrases if len(p) <= 8][:3]))
        return out

    def section(self, s: Block) -> list[dict[str, Any]]:
        """A 一、 part with its （一） sub-parts, each a unit; 1. 2. lines and 一是…二是… become items."""
        n = self.name
        subs = [b for b in s.children if b.level == 2]
        numbered = [b for b in s.children if b.level == 3]
        texts = ([s.inline] if s.inline else []) + [x.text for x in s.paras]
        if subs:
            texts.append("；".join(f"（{to_cn_numeral(b.number)}）{b.title}" for b in subs) + "。")
        sid = f"{self.prefix}s{s.number}"
        text, items = self.items(texts, numbered, s.title, self.uid(sid))
        terms = key_terms(s.title)
        if "主题" in s.title and not subs:
            intent = "theme"
            terms = [key_term(t) for t in re.split(r"\s+", text) if len(t) >= 2][:4]
            questions = questions_from(f"{s.title}是什么", f"{n}的主题", "主题是什么", f"{self.campaign}主题" if self.campaign else "活动主题", *terms)
        elif subs:
            intent = "content"
            questions = questions_from(s.title, f"{s.title}有哪些", f"{s.title}是什么", f"{n}的{s.title}")
        else:
            intent = "content"
            key = terms[0] if terms else s.title
            questions = questions_from(s.title, *kind_questions(s.title, self.event), f"{key}是什么", f"关于{key}有什么要求", f"{n}的{s.title}", f"{key}怎么做")
        label = s.label if not self.prefix else f"{s.label}"
        u = unit(self.uid(sid), intent, label, s.title, text, questions, [t for t in terms if len(t) <= 8])
        if items:
            u["items"] = items
        return [u] + [self.sub(s, b) for b in subs]

    def sub(self, s: Block, b: Block) -> dict[str, Any]:
        """A （一） part: its own unit, titled by its heading."""
        uid = self.uid(f"{self.prefix}s{s.number}-{b.number}")
        texts = ([b.inline] if b.inline else []) + [x.text for x in b.paras]
        text, items = self.items(texts, b.children, b.title, uid)
        terms = key_terms(b.title)
        key = terms[0] if terms else b.title
        second = terms[1] if len(terms) > 1 else key
        questions = questions_from(b.title, *kind_questions(b.title, self.event), f"{key}是什么", f"关于{key}有什么要求", f"{second}怎么做", f"{self.name}{key}")
        u = unit(uid, "content", b.label, b.title, text, questions, [t for t in terms if len(t) <= 8])
        if items:
            u["items"] = items
        return u

    def items(self, texts: list[str], numbered: list[Block], title: str, uid: str) -> tuple[str, list[dict[str, Any]]]:
        """Split 一是…二是… and 1. 2. lines into items; what is left is the unit's own text."""
        kept: list[str] = []
        items: list[dict[str, Any]] = []
        for t in texts:
            intro, enum = enumeration(t)
            if intro:
                kept.append(intro)
            for label, chunk in enum:
                items.append(self.item(f"{uid}-{len(items) + 1}", label, chunk))
        for b in numbered:
            items.append(self.item(f"{uid}-{len(items) + 1}", b.label, b.inline.rstrip("；;，,")))
        return "\n".join(kept) or title, items

    def item(self, uid: str, label: str, text: str) -> dict[str, Any]:
        """One sub-item, answerable alone."""
        clause = re.split(r"[，。；：,;]", re.sub(r"^[一二三四五六七八九十]是", "", text))[0]
        key = key_term(clause)
        out: dict[str, Any] = {"id": uid, "label": label, "text": text}
        questions = questions_from(key, f"关于{key}有什么要求", f"{key}怎么做", f"{key}是什么", clause[:16]) or [clause[:16] or label]
        out["questions"] = questions + [q for q in fact_questions(text, 2) if q not in questions]
        if 2 <= len(key) <= 8:
            out["keywords"] = [key]
        out["generated"] = True
        return out


def para_texts(part: Part) -> list[tuple[str, str]]:
    """(section label, paragraph text) of every paragraph of a body, for deadline search."""
    out: list[tuple[str, str]] = [(part.label or "文首", x.text) for x in part.preamble]
    for s in part.sections:
        # A heading that is itself the sentence ("二、复查结束后，请…寄至我会。") is searched as text too.
        own = [s.inline] if s.inline else [] if s.paras else [s.title]
        out += [(s.label, t) for t in own + [x.text for x in s.paras + s.deadline_paras]]
        for b in s.children:
            label = b.label if b.level == 2 else s.label
            own = [b.inline] if b.inline else [] if b.paras or b.level == 3 else [b.title]
            out += [(label, t) for t in own + [x.text for x in b.paras]]
            out += [(label, c.inline) for c in b.children if c.inline]
    return out

