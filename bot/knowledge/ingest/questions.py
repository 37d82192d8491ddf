"""Draft paraphrase questions from a notice's own headings and clauses."""

from __future__ import annotations

import logging
import re

import jieba

from bot.knowledge.ingest.clean import canon

jieba.setLogLevel(logging.WARNING)

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


MAX_QUESTIONS = 5


def key_term(phrase: str) -> str:
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
    """Cut a long phrase at a joint (的, 和, 、, a verb) so the question stays short; never inside a word."""
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
    out = ""
    for word in jieba.lcut(phrase, HMM=False):
        if len(out) + len(word) > limit and out:
            break
        out += word
    return out.rstrip("的和及与、之")


FUNCTION_WORDS = {"的", "和", "及", "与", "、", "之", "对", "在", "于", "将", "把", "以", "为", "或", "等", "并", "及其", "关于", "“", "《", "（", "是"}
SUFFIXES = ("是什么", "有哪些", "怎么做", "有什么要求", "什么时候截止", "怎么报送", "报送给谁", "截止时间", "的电话", "联系人", "名单", "全称")


def _dangles(text: str) -> bool:
    """Whether a phrase ends on a function word (a cut left 的, 和, 关于 … hanging)."""
    words = jieba.lcut(text, HMM=False)
    return bool(words) and words[-1] in FUNCTION_WORDS


def well_formed(question: str) -> bool:
    """A paraphrase a person could type: brackets closed, no clause cut before 的/是什么, not a bare particle."""
    q = question.strip()
    if len(q) < 2 or (_dangles(q) and not re.search(r"[发布写办定送交做签印出]的$", q)):
        return False
    for a, b in ("“”", "《》", "（）", "()"):
        if q.count(a) != q.count(b):
            return False
    for suffix in SUFFIXES:
        if q.endswith(suffix) and len(q) > len(suffix):
            stem = q[: -len(suffix)]
            if len(stem) < 2 or (_dangles(stem) and not suffix.startswith("的")):
                return False
    return not re.search(r"的的|是是|关于关于", q)


def key_terms(title: str) -> list[str]:
    """The noun phrases of a heading's clauses: the words its paraphrases are built from."""
    terms = []
    for clause in re.split(r"[，、；,;。]", title):
        term = key_term(clause)
        if 2 <= len(term) <= 16 and term not in terms:
            terms.append(term)
    return terms


def questions_from(*candidates: str) -> list[str]:
    """The first few well-formed, distinct candidates (quotes dropped: people do not type them)."""
    out: list[str] = []
    for q in candidates:
        q = re.sub(r"[“”\"]", "", q).strip()
        if q and "{" not in q and q not in out and well_formed(q):
            out.append(q)
    return out[:MAX_QUESTIONS]


def table_subject(title: str) -> str:
    """What a table lists, for questions: the words after the campaign name, or after the year."""
    if "”" in title and title.rsplit("”", 1)[1].strip():
        return title.rsplit("”", 1)[1].strip()
    if "的" in title:
        return title.rsplit("的", 1)[1]
    subject = re.sub(r"^\d{4}\s*年(度)?", "", title)
    return re.sub(r"^(全省|广东省|全市)", "", subject) or title


FACT = re.compile(r"\d|[一二三四五六七八九十两]+\s*(?:个|项|人|名|份|张|页|天|次|家|支|队|组)|不少于|不超过|以内|至少|地点|地址|自理|另行通知|免费|收取|保密|取消|不得|不再|领取|寄|凭")
CONTENT_FLAGS = ("n", "vn", "nz", "ns", "nt", "l", "j", "nr", "v")
STOP_WORDS = {"情况", "工作", "有关", "相关", "要求", "方面", "问题", "内容", "单位", "时间", "方式", "形式", "进行", "开展",
              "组织", "加强", "做好", "认真", "落实", "推进", "有", "是", "可", "要", "将", "应", "为", "以", "按", "由",
              "我会", "我厅", "我局", "我委", "本会", "现已", "希望", "不断", "持续", "各地", "各单位", "通知"}


def fact_questions(text: str, limit: int = 3, every: bool = False) -> list[str]:
    """Short content-word phrases of the clauses that state a fact (a number, a place, a rule): what people ask about.

    With `every`, each clause counts: a paragraph without a heading is asked about by its own words.
    """
    import jieba.posseg as pseg

    out: list[str] = []
    for clause in re.split(r"[，。；：,;:]", text):
        if not (every or FACT.search(clause)) or len(clause) < 4:
            continue
        words: list[str] = []
        nouns = 0
        negated = False
        for w, flag in pseg.lcut(clause, HMM=False):
            if w in ("不", "未", "无", "非", "禁止", "不得", "严禁"):
                negated = True  # "不低于" must not become "低于"
                continue
            if flag.startswith(CONTENT_FLAGS) and len(w) >= 2 and w not in STOP_WORDS:
                words.append(("不" if negated and not flag.startswith("n") else "") + w)
                nouns += not flag.startswith("v")
            negated = False
        if not nouns:
            continue  # a bare verb ("印发") is no question
        words = words[-3:]  # the words nearest the clause's verb say what it is about
        phrase = "".join(words)
        while len(phrase) > 10 and len(words) > 1:
            words = words[1:]
            phrase = "".join(words)
        if 2 <= len(phrase) <= 10 and phrase not in out and well_formed(phrase):
            out.append(phrase)
        if len(out) >= limit:
            break
    return out


KIND_QUESTIONS = (
    (re.compile(r"(时间|日期|安排)$"), ("{stem}什么时候", "{stem}几号", "{stem}在哪天")),
    (re.compile(r"(地点|地址|场地)$"), ("{stem}在哪里", "在哪里{stem}", "{stem}地址")),
    (re.compile(r"(对象|人员|范围)$"), ("{title}有哪些", "哪些人可以参加", "{stem}包括哪些")),
    (re.compile(r"(费用|收费|经费)$"), ("{stem}多少钱", "{stem}收费标准", "{title}是多少")),
    (re.compile(r"(形式|方式|程序|流程)$"), ("{stem}怎么进行", "{title}是怎样的", "怎样{stem}")),
    (re.compile(r"(内容|重点)$"), ("{stem}有哪些内容", "{title}有哪些", "{stem}查什么")),
    (re.compile(r"(奖项|奖励|设置)$"), ("设了哪些奖", "{title}有哪些", "{stem}有几个")),
    (re.compile(r"(材料|资料)$"), ("要交哪些{title}", "{title}有哪些", "{title}要几份")),
)


EVENT_QUESTIONS = {
    "时间": ("{event}什么时候开始", "{event}什么时候举行"),
    "日期": ("{event}什么时候开始",),
    "地点": ("{event}在哪里举行", "在哪里开{event}"),
    "费用": ("{event}要交多少钱",),
    "对象": ("谁可以参加{event}",),
}


def event_of(title: str) -> str:
    """What a notice is about, as people name it: 关于召开…成果发布会的通知 → 发布会."""
    key = canon(title)
    start = key.find("关于") + 2 if "关于" in key else 0
    tail = re.search(r"(的)?(通知|函|方案|意见)$", key)
    end = tail.start() if tail else len(key)
    pos, last = start, ""
    for word in jieba.lcut(key[start:end], HMM=False):  # segmented in simplified script, cut from the original
        if re.match(r"^[\u4e00-\u9fff]{2,6}$", word):
            last = title[pos : pos + len(word)]
        pos += len(word)
    return last


def kind_questions(title: str, event: str = "") -> list[str]:
    """Questions a heading's last word invites: 会议时间 → 会议什么时候, 培训地点 → 培训在哪里."""
    for pattern, templates in KIND_QUESTIONS:
        m = pattern.search(title)
        if m:
            stem = title[: m.start()] or title
            extra = EVENT_QUESTIONS.get(m.group(1), ()) if event and event not in stem else ()
            return [t.format(stem=stem, title=title, event=event) for t in (*templates, *extra)]
    return []
