"""Deadlines in a paragraph: the date, and what is sent how to whom — whole phrases, never half a sentence.

Notices word them as "请于X月X日前将…报送/反馈/发送至…", "…于X月X日前报我会…部", "截止日期为…",
"于X月X日前通过…上传…", or put the date under a heading "截止时间" and refer to it ("在截止时间前将…").
Every pattern runs on the matching form of the text (clean.canon) and cuts the verbatim text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from bot.core.text import parse_cn_date
from bot.knowledge.ingest.clean import canon

DATE = r"(?:\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*[日号](?:\s*（[^）]{1,6}）)?"
TIME = r"(?:下班|中午|上午|下午|晚上|\d{1,2}[:：]\d{2}|\d{1,2}\s*[时点](?:\d{1,2}分)?)?"
NAMED = r"截止(?:时间|日期)"
ANCHOR = re.compile(rf"(?:请|须|应|要|务必|并|需)?(?:于|在)\s*(?P<date>{DATE}|{NAMED})\s*{TIME}\s*(?:之前|以前|前)")
STATED = re.compile(rf"(?P<what>[^，。；]*?)(?:的)?(?:截止(?:日期|时间)|截至日期)\s*(?:为|是|：|至)\s*(?P<date>{DATE})")
VERBS = (
    "报送至|报送到|报送给|报送|提交至|提交到|提交给|提交|上报至|上报|报至|报到|报给|送至|送到|送达|送交|递交|"
    "发送至|发送到|发送给|发送|发至|发到|寄送至|寄送到|寄送|寄至|寄到|邮寄至|邮寄|传真至|传真到|传真给|传真|"
    "反馈至|反馈到|反馈给|反馈|上传至|上传到|上传|交至|交到|交给|报名(?!表|回执|信息|材料|费|人)|"
    "(?<![申汇填预通举情简周月年日快电海])报(?!告|表|道|纸|价|销|刊|批|建|考|名|备)"
)
VERB = re.compile(rf"(?:通过(?P<via>[^，；。]{{1,20}}?))?(?P<verb>{VERBS})")
FORM = re.compile(r"以(?P<form>[^，；。]{1,20}?(?:形式|方式))")
WORK = re.compile(r"填妥|填写完整|填写|填报|加盖|盖章|签字|扫描|审核|按照|按")
OBJECT_BEFORE = re.compile(r"(?:形成|填报|填写|编写|撰写|编制|准备|整理)")
ORG_END = re.compile(r"主管部门|部门|单位|协会|联合会|学会|委员会|局|厅|委|企业|各(?:地|区|市|县|镇)(?=[请要须应于在、和及与，]|$)")
PLAIN_VERBS = ("报送", "提交", "上报", "报", "交", "递交", "反馈", "报名", "回复")
RECIPIENT = re.compile(r"我厅|我局|我委|我会|我办|我站|处|科|室|部|中心|站|邮箱|@|协会|秘书处|检查组|联合会|平台|厅|局|委")
WHO = re.compile(r"各|部门|单位|协会|联合会|局|厅|委|企业|会员|推荐|申报|参赛|学员|负责人")
EXTRA = re.compile(r"^(?:并|同时|另|请)?(?:同时)?(?:将)?(?:电子版|电子文档|电子稿|纸质版|纸质材料|扫描件|同时)")
OPEN, CLOSE = "（《“〔【", "）》”〕】"


@dataclass
class FoundDeadline:
    """A deadline as found: the verbatim sentence and its parts ("" where the notice does not say)."""

    date: dt.date
    what: str
    who: str
    how: str
    to: str
    text: str
    section: str
    refers_attachment: bool = False
    what_guessed: bool = False  # taken from a verb's object earlier in the sentence, not from the deadline itself


def split_outside(text: str, marks: str) -> list[tuple[int, int]]:
    """Spans of `text` split after each of `marks` that is not inside brackets or quotes."""
    spans, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in OPEN:
            depth += 1
        elif ch in CLOSE:
            depth = max(0, depth - 1)
        elif ch in marks and depth == 0:
            spans.append((start, i + 1))
            start = i + 1
    if start < len(text):
        spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def first_outside(key: str, marks: str, start: int = 0) -> int:
    """Where the first of `marks` outside brackets is, from `start`; len(key) when none."""
    depth = 0
    for i in range(start, len(key)):
        ch = key[i]
        if ch in OPEN:
            depth += 1
        elif ch in CLOSE:
            depth = max(0, depth - 1)
        elif ch in marks and depth == 0:
            return i
    return len(key)


def search_outside(pattern: re.Pattern[str], key: str, start: int, stop: int) -> re.Match[str] | None:
    """The first match of `pattern` in key[start:stop] that is not inside brackets or quotes."""
    depth = 0
    depth_at = []
    for ch in key[:stop]:
        depth_at.append(depth)
        if ch in OPEN:
            depth += 1
        elif ch in CLOSE:
            depth = max(0, depth - 1)
    for m in pattern.finditer(key, start, stop):
        if depth_at[m.start()] == 0:
            return m
    return None


def org_phrase(text: str) -> str:
    """'各推荐单位汇总…' → '各推荐单位': the organisations a clause starts with ("" when it names none)."""
    text = text.strip("，, ")
    head = re.match(r"^(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十]+[）)])?(?:[^：。，]{0,10}：)?\s*请?", canon(text))
    text = text[head.end() :] if head else text
    key = canon(text)
    if re.match(r"^(?:经|按|对|将|由|向|把|在|于|从|为|根据|通过|结合|如|凡|自)", key):
        return ""
    end = 0
    for m in ORG_END.finditer(key):
        if end and key[end : end + 1] not in "、和及与":
            break
        if re.search(r"[，。；要请须应于在将]", key[end : m.start()]):
            break
        end = m.end()
    return text[:end]


def _trim(text: str) -> str:
    text = text.strip(" ，,；;。：:")
    while text and re.search(r"[（(][^（）()]*[）)]$", text) and re.search(r"联系|电话|下同", text[max(text.rfind("（"), text.rfind("(")) :]):
        text = text[: max(text.rfind("（"), text.rfind("("))].rstrip()
    return text.strip(" ，,；;。")


def deadlines_in(
    text: str, section: str, year: int, issued: dt.date | None, named: dt.date | None = None
) -> list[FoundDeadline]:
    """Every deadline stated in a paragraph; `named` is the date a heading "截止时间" gave."""
    key = canon(text)
    found: list[FoundDeadline] = []
    who = ""
    for s0, s1 in split_outside(key, "。"):
        sentence_key = key[s0:s1]
        sentence = re.sub(r"^\s*(?:[（(][一二三四五六七八九十\d]+[）)]|\d{1,2}[.．、](?!\d))\s*", "", text[s0:s1].strip())
        if not sentence.endswith(("。", ".")):
            sentence = sentence.rstrip("；;，,") + "。"
        refers = "附件" in sentence_key
        lead = re.match(r"^\s*(?:[（(][一二三四五六七八九十\d]+[）)]|[一二三四五六七八九十]+、)?[^。，；]{0,12}?。", sentence_key)
        for c0, c1 in split_outside(sentence_key, "；"):
            ctext, ckey = text[s0 + c0 : s0 + c1], sentence_key[c0:c1]
            for m in ANCHOR.finditer(ckey):
                raw = m.group("date")
                when = named if raw.startswith("截止") else parse_cn_date(raw, year, issued)
                if when is None:
                    continue
                s_from = lead.end() if lead and c0 == 0 and m.start() >= lead.end() else 0
                parts = _after(ctext, ckey, s_from, m.start(), m.end())
                if parts is None:
                    continue
                what, how, to, subject_who = parts
                who = subject_who or who
                guessed = not what
                if not what:
                    before = list(OBJECT_BEFORE.finditer(sentence_key, 0, c0 + m.start()))
                    if before:
                        start = before[-1].end()
                        what = _trim(text[s0 + start : s0 + first_outside(sentence_key, "，；", start)])
                found.append(FoundDeadline(when, what, who, how, to, sentence, section, refers, guessed))
        for m in STATED.finditer(sentence_key):
            when = parse_cn_date(m.group("date"), year, issued)
            if when is None:
                continue
            what = re.sub(r"(申报|报送|报名|提交|受理)$", "", _trim(text[s0 + m.start("what") : s0 + m.end("what")]))
            found.append(FoundDeadline(when, what, "", "", "", sentence, section, refers))
    return found


def _after(text: str, key: str, s_from: int, s_to: int, at: int) -> tuple[str, str, str, str] | None:
    """what, how, to and who of one clause from the words around its date; None when nothing is sent."""
    subject_key = key[s_from:s_to]
    modal = re.search(r"(?:请|须|应|要|务必|并|需)+$", subject_key.rstrip("，, "))
    s_end = s_from + (modal.start() if modal else len(subject_key.rstrip("，, ")))
    subject, subject_key = _trim(text[s_from:s_end]), key[s_from:s_end].strip("，, ")
    what = how = to = ""
    body = key[at:].lstrip("，, ")
    offset = len(key) - len(body)
    if body.startswith("将"):
        start = offset + 1
        stop = first_outside(key, "，", start)
        cut = [stop] + [m.start() for p in (WORK, FORM, VERB) if (m := search_outside(p, key, start + 2, stop))]
        what = _trim(text[start : min(cut)])
        verb = search_outside(VERB, key, start + max(1, len(what)), len(key))
    else:
        verb = VERB.match(key, offset) or search_outside(VERB, key, offset, first_outside(key, "，", offset))
    if verb is None:
        return None
    form = FORM.search(key, at, verb.start() + 1)
    if form:
        how = text[form.start("form") : form.end("form")]
    v1 = verb.end("verb")
    stop = first_outside(key, "，；。", v1)
    target = re.sub(r"^(?:至|到|给)", "", _trim(text[v1:stop]))
    aside = re.search(r"[（(]([^（）()]*)[）)]$", target)
    if aside and RECIPIENT.search(canon(target[: aside.start()])):
        target, note = target[: aside.start()].rstrip(), aside.group(1)
    else:
        note = ""
    plain = re.sub(r"(至|到|给)$", "", verb.group("verb")) in PLAIN_VERBS
    if target:
        if what or RECIPIENT.search(canon(target)):
            to = target
        else:
            what = target
    if not how and not plain:
        how = re.sub(r"(至|到|给)$", "", text[verb.start() : v1])
    if not to and verb.group("via"):  # "通过活动平台上传": the platform is where it goes
        to = text[verb.start("via") : verb.end("via")]
    extras, pos = [], stop
    while pos < len(key) and key[pos] == "，":
        nxt = first_outside(key, "，；。", pos + 1)
        piece = key[pos + 1 : nxt]
        if EXTRA.match(piece) and (VERB.search(piece) or piece.startswith("同时")):
            extras.append(_trim(text[pos + 1 : nxt]))
        pos = nxt
    how = "，".join(x for x in [how, note, *extras] if x)
    last = subject[max(subject.rfind("，"), subject.rfind(","), subject.rfind("："), subject.rfind(":")) + 1 :]
    who = org_phrase(last)
    noun = not re.match(r"^(?:经|按|对|由|在|为|请|并|将|通过)", canon(last)) and not re.search(r"[后时的]$", last)
    if not who and not what and last and noun:
        work = OBJECT_BEFORE.match(canon(last))
        what = _trim(last[work.end() :] if work else last)
    return what, how, to, who or org_phrase(subject)


def deadline_only(text: str) -> bool:
    """A paragraph that does nothing but set deadlines belongs to its part, not to the last sub-item."""
    key = canon(text)
    sentences = [key[a:b] for a, b in split_outside(key, "。") if key[a:b].strip("。 ")]
    return bool(sentences) and all(
        (m := ANCHOR.search(s)) is not None and VERB.search(s, m.end()) is not None and not re.match(r"^\s*[（(]", s)
        for s in sentences
    )
