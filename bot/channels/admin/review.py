"""Hit test and the review of unanswered questions: what the bot saw, and one click to teach it.

Declined and 👎 questions are grouped by their normalised text; each group shows how the bot
answers it now and offers: add as a paraphrase of a unit, mark out of scope, or dismiss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.channels.admin import render as r
from bot.channels.admin.base import Console, csrf, form_value, moment, staff_of
from bot.channels.http import json_error, json_response
from bot.state.insights import Asked, mark_reviewed, reviewed, to_review

MAX_QUESTION = 500  # characters of a tested question
MAX_GROUPS = 100  # groups shown on the review page
DECISIONS = {"answered": "回答", "declined": "不回答（未能回答）", "intent": "对话意图"}


@dataclass
class Group:
    """Questions that normalise to the same text."""

    normalized: str
    texts: list[Asked] = field(default_factory=list)
    explanation: Any = None

    @property
    def question(self) -> str:
        """The wording asked most often."""
        return max(self.texts, key=lambda a: (a.count, a.last)).question

    @property
    def count(self) -> int:
        """How often any wording of it was asked."""
        return sum(a.count for a in self.texts)

    @property
    def last(self) -> datetime:
        """When it was last asked."""
        return max(a.last for a in self.texts)


def explain_html(x: Any) -> str:
    """A hit test's findings: normalised text, entities, top candidates, decision and reason."""
    entities = "、".join(f"{role}：{name}" for role, name in x.entities) or "无"
    rows = [(c.target, c.title, f"{c.score:.3f}") for c in x.candidates[:5]]
    decision = DECISIONS.get(x.decision, x.decision)
    css = "no" if x.decision == "declined" else "yes"
    return f"""<dl class="explain">
<dt>规范化后的问题</dt><dd class="normalized">{r.esc(x.normalized or "（空）")}</dd>
<dt>识别到的实体</dt><dd class="entities">{r.esc(entities)}</dd>
<dt>决定</dt><dd class="decision {css}"><strong>{r.esc(decision)}</strong>：<span class="reason">{r.esc(x.reason)}</span></dd>
</dl>
{r.table(["候选", "标题", "得分"], rows, caption="得分最高的五个候选")}
<details><summary>机器人的回答</summary><pre class="reply">{r.esc(x.reply.text)}</pre></details>"""


def _previous(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()][:5]


async def hit_test(c: Console, request: web.Request) -> web.StreamResponse:
    """Type a question (optionally a time and earlier turns) and see how the bot decides."""
    source: Any = await request.post() if request.method == "POST" else request.query
    question = form_value(source, "q", MAX_QUESTION).strip()
    now_text = form_value(source, "now", 40).strip()
    previous = form_value(source, "previous", 2000)
    result, error, now_error = "", "", ""
    if question:
        try:
            now = moment(now_text, c)
        except ValueError as exc:
            now_error = str(exc)
        else:
            x = c.services.hit_test(question, now, _previous(previous))
            result = f'<section aria-labelledby="h-result" class="result"><h2 id="h-result">结果：{r.esc(question)}</h2>{explain_html(x)}</section>'
    elif request.method == "POST":
        error = "请输入要测试的问题。"
    content = (
        r.field("问题", "q", question, ident="q", error=error, required=True)
        + r.field("模拟时间（可选）", "now", now_text, ident="now", hint="如 2021-09-25T10:00；留空为当前时间", error=now_error)
        + r.field("之前的对话（可选）", "previous", previous, kind="textarea", ident="previous", hint="每行一句，按先后顺序")
        + r.button("测试")
    )
    body = r.form("/admin/test", content, csrf(request), css="stack") + result
    return c.page(request, "命中测试", body, status=400 if error or now_error else 200)


async def hit_test_json(c: Console, request: web.Request) -> web.StreamResponse:
    """The hit test as JSON, for scripts and the page's future enhancements."""
    question = request.query.get("q", "").strip()[:MAX_QUESTION]
    if not question:
        return json_error(400, "缺少问题 q")
    try:
        now = moment(request.query.get("now", ""), c)
    except ValueError as exc:
        return json_error(400, str(exc))
    x = c.services.hit_test(question, now, None)
    return json_response(
        {
            "question": question,
            "normalized": x.normalized,
            "entities": [list(e) for e in x.entities],
            "candidates": [{"target": k.target, "title": k.title, "score": k.score} for k in x.candidates],
            "decision": x.decision,
            "reason": x.reason,
            "answer": x.reply.text,
        }
    )


def groups(c: Console) -> list[Group]:
    """Questions to review, grouped by normalised text, without those staff already dealt with."""
    found: dict[str, Group] = {}
    for asked in to_review(c.services.store):
        x = c.services.hit_test(asked.question)
        group = found.setdefault(x.normalized, Group(x.normalized))
        group.texts.append(asked)
        group.explanation = group.explanation or x
    done = reviewed(c.services.store)
    out = [g for g in found.values() if g.normalized not in done or done[g.normalized]["at"] < g.last]
    out.sort(key=lambda g: (-g.count, -g.last.timestamp()))
    return out[:MAX_GROUPS]


def unit_options(c: Console) -> list[tuple[str, str]]:
    """Every unit as (id, "id — title"), in file order."""
    k = c.services.engine.knowledge
    many = len(k.documents) > 1
    options = []
    for unit in k.units.values():
        doc = f"［{k.documents[unit.document].short_title or unit.document}］" if many and unit.document in k.documents else ""
        options.append((unit.id, f"{unit.id} — {doc}{unit.title[:40]}"))
    return options


def _card(c: Console, request: web.Request, i: int, g: Group, options: list[tuple[str, str]]) -> str:
    x = g.explanation
    declined = sum(a.declined for a in g.texts)
    down = sum(a.down for a in g.texts)
    when = g.last.astimezone(c.services.settings.zone).strftime("%m-%d %H:%M")
    variants = "".join(f"<li>{r.esc(a.question)}（{a.count} 次）</li>" for a in g.texts[:8])
    top_unit = next((k.target.split(":", 1)[1] for k in x.candidates if k.target.startswith("unit:")), "")
    keep = r.hidden("question", g.question) + r.hidden("normalized", g.normalized)
    token = csrf(request)
    paraphrase = r.form(
        "/admin/review/paraphrase",
        keep + r.select("加为哪个条目的问法", "unit", options, top_unit, ident=f"unit-{i}") + r.button("加为问法"),
        token,
        css="inline paraphrase",
    )
    scope = r.form("/admin/review/out-of-scope", keep + r.button("标为超出范围", kind="secondary"), token, css="inline")
    dismiss = r.form("/admin/review/dismiss", keep + r.button("忽略", kind="secondary"), token, css="inline")
    return f"""<article class="card review-item" aria-labelledby="q-{i}">
<h2 id="q-{i}" class="question">{r.esc(g.question)}</h2>
<p class="meta">共 {g.count} 次 · 未能回答 {declined} 次 · 被评“没用” {down} 次 · 最近 {when} · <a href="/admin/test?q={r.esc(quote(g.question, safe=""))}">单独测试</a></p>
{f"<details><summary>{len(g.texts)} 种问法</summary><ul>{variants}</ul></details>" if len(g.texts) > 1 else ""}
{explain_html(x)}
<div class="actions">{paraphrase}{scope}{dismiss}</div>
</article>"""


async def review(c: Console, request: web.Request) -> web.StreamResponse:
    """The unanswered and 👎 questions, most frequent first, each with its hit test and actions."""
    found = groups(c)
    options = unit_options(c)
    cards = "".join(_card(c, request, i, g, options) for i, g in enumerate(found))
    intro = '<p class="hint">未能回答和被评为“没用”的问题，按规范化后的文字归并。加为问法后会写入知识库、校验并立即生效。</p>'
    return c.page(request, "待处理问题", intro + (cards or r.alert("info", "暂时没有待处理的问题。")))


async def add_paraphrase(c: Console, request: web.Request) -> web.StreamResponse:
    """Write the question into the unit's paraphrases, reload, and say how the bot answers it now."""
    form = await request.post()
    question, normalized, unit = form_value(form, "question", 500), form_value(form, "normalized", 500), form_value(form, "unit", 100)
    if unit not in c.services.engine.knowledge.units:
        raise c.done(request, "/admin/review", "请选择一个条目。", "error")
    result = await c.services.edit_knowledge(lambda e: e.add_paraphrase(unit, question))
    if not result.saved:
        raise c.done(request, "/admin/review", result.message + " " + "；".join(r.problems(result.problems)), "error")
    mark_reviewed(c.services.store, normalized, "paraphrase", unit, staff_of(request).name, c.now())
    c.audit(request, "add-paraphrase", f"{unit}: {question}")
    x = c.services.hit_test(question)
    now_says = f"现在这个问题{DECISIONS.get(x.decision, x.decision)}：{x.reason}"
    raise c.done(request, "/admin/review", f"{result.message}{now_says}")


async def out_of_scope(c: Console, request: web.Request) -> web.StreamResponse:
    """The notice does not cover it: decline it on purpose from now on."""
    form = await request.post()
    question, normalized = form_value(form, "question", 500), form_value(form, "normalized", 500)
    result = await c.services.edit_knowledge(lambda e: e.add_out_of_scope(question))
    if not result.saved:
        raise c.done(request, "/admin/review", result.message + " " + "；".join(r.problems(result.problems)), "error")
    mark_reviewed(c.services.store, normalized, "out-of-scope", "", staff_of(request).name, c.now())
    c.audit(request, "out-of-scope", question)
    raise c.done(request, "/admin/review", result.message)


async def dismiss(c: Console, request: web.Request) -> web.StreamResponse:
    """Nothing to learn from it: hide it until it is asked (and declined) again."""
    form = await request.post()
    question, normalized = form_value(form, "question", 500), form_value(form, "normalized", 500)
    mark_reviewed(c.services.store, normalized, "dismiss", "", staff_of(request).name, c.now())
    c.audit(request, "dismiss", question)
    raise c.done(request, "/admin/review", f"已忽略“{question}”。")
