"""Browse and edit the knowledge: documents, units and their paraphrases, deadlines, contacts, table rows.

Every save goes through the service's editor: validated with the whole knowledge before it is
written, then the running bot reloads. A refused save shows its problems next to the fields and
keeps what the staff member typed.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from bot.channels.admin import render as r
from bot.channels.admin.base import Console, csrf, form_value

KINDS = {"section": "章节", "item": "分项", "deadline": "截止日期", "contact": "联系人", "table": "表格"}
CONTACT_FIELDS = (("name", "姓名"), ("phone", "电话"), ("fax", "传真"), ("email", "邮箱"), ("office", "处室"))


def field_errors(result: Any) -> dict[str, str]:
    """A save's errors by form field: its own, plus validation problems located at a field of the edit."""
    errors = dict(result.field_errors)
    for p in result.problems:
        name = re.sub(r"\[\d+\]$", "", p.path.rsplit(".", 1)[-1]) if p.path else ""
        if name:
            errors.setdefault(name, p.message)
    return errors


def refused_box(result: Any) -> str:
    """The red box above a form whose save was refused: nothing saved, why."""
    return r.alert("error", result.message, r.problems(result.problems))


def _unit(c: Console, uid: str) -> Any:
    unit = c.services.engine.knowledge.units.get(uid)
    if unit is None:
        raise web.HTTPNotFound(text="找不到这个条目", content_type="text/plain")
    return unit


def _back(c: Console, unit: Any) -> str:
    doc = c.services.engine.knowledge.documents.get(unit.document)
    title = doc.short_title or doc.title if doc else unit.document
    return f'<p><a href="/admin/knowledge/{r.esc(unit.document)}">返回：{r.esc(title)}</a></p>'


async def documents(c: Console, request: web.Request) -> web.StreamResponse:
    """Every notice the bot answers from, with what it holds."""
    k = c.services.engine.knowledge
    rows = []
    for doc in sorted(k.documents.values(), key=lambda d: (-d.year, d.id)):
        units = [u for u in k.units.values() if u.document == doc.id]
        count = {kind: sum(1 for u in units if u.kind == kind) for kind in KINDS}
        link = f'<a href="/admin/knowledge/{r.esc(doc.id)}">{r.esc(doc.title)}</a>'
        rows.append(
            (link, r.esc(doc.number), str(doc.year), str(count["section"] + count["item"]), str(count["deadline"]), str(count["contact"]), str(count["table"]))
        )
    table = r.table(["通知", "文号", "年份", "条目", "截止日期", "联系人", "表格"], rows, raw=True)
    note = '<p class="hint">要新增或归档通知，请到 <a href="/admin/notices">通知</a> 页面。</p>'
    return c.page(request, "知识库", table + note)


async def document(c: Console, request: web.Request) -> web.StreamResponse:
    """One notice: its units, deadlines, contacts and tables, each with an edit link."""
    k = c.services.engine.knowledge
    doc = k.documents.get(request.match_info["doc"])
    if doc is None:
        raise web.HTTPNotFound(text="找不到这份通知", content_type="text/plain")
    units = [u for u in k.units.values() if u.document == doc.id]

    def link(u: Any, path: str) -> str:
        return f'<a href="/admin/{path}/{r.esc(u.id)}">{r.esc(u.id)}</a>'

    sections = [
        (link(u, "unit"), r.esc(u.section), r.esc(("　" if u.kind == "item" else "") + (u.label + " " if u.label else "") + u.title[:60]), str(len(u.questions)))
        for u in units
        if u.kind in ("section", "item")
    ]
    deadlines = [
        (link(u, "deadline"), r.esc(u.deadline.date.isoformat()), r.esc(u.deadline.what), r.esc("、".join(map(str, u.deadline.remind_days))), r.esc(u.deadline.remind_at.strftime("%H:%M")))
        for u in units
        if u.deadline
    ]
    contacts = [
        (link(u, "contact"), r.esc(u.contact.name), r.esc(u.contact.phone), r.esc(u.contact.email), r.esc(u.contact.office))
        for u in units
        if u.contact
    ]
    tables = [(link(u, "table"), r.esc(u.title), str(len(u.table.rows))) for u in units if u.table]
    body = f"""<p>{r.esc(doc.number or '（无文号）')} · {r.esc(doc.issuer or '（未写明发文单位）')} · {doc.date.isoformat() if doc.date else '（未写明日期）'} · 文件 <code>{r.esc(doc.file)}</code></p>
<h2>条目</h2>{r.table(["编号", "章节", "标题", "问法数"], sections, raw=True)}
<h2>截止日期</h2>{r.table(["编号", "日期", "事项", "提前几天提醒", "提醒时间"], deadlines, raw=True)}
<h2>联系人</h2>{r.table(["编号", "姓名", "电话", "邮箱", "处室"], contacts, raw=True)}
<h2>表格</h2>{r.table(["编号", "标题", "行数"], tables, raw=True)}"""
    return c.page(request, doc.short_title or doc.title, body)


def _unit_page(c: Console, request: web.Request, unit: Any, questions: str, errors: dict[str, str], box: str, status: int) -> web.Response:
    content = (
        r.field("问法（每行一个）", "questions", questions, kind="textarea", ident="questions", error=errors.get("questions", ""), hint="用户可能怎么问，越口语越好；保存后立即生效")
        + r.button("保存问法")
    )
    body = f"""{_back(c, unit)}{box}
<dl class="facts"><dt>类型</dt><dd>{KINDS.get(unit.kind, unit.kind)}</dd><dt>章节</dt><dd>{r.esc(unit.section)}</dd>
<dt>标题</dt><dd>{r.esc(unit.title)}</dd><dt>原文</dt><dd class="quote">{r.esc(unit.text)}</dd></dl>
{r.form(f"/admin/unit/{unit.id}", content, csrf(request), css="stack")}"""
    return c.page(request, f"条目 {unit.id}", body, status=status)


async def unit_page(c: Console, request: web.Request) -> web.StreamResponse:
    """A unit's text and its paraphrases, editable."""
    unit = _unit(c, request.match_info["id"])
    return _unit_page(c, request, unit, "\n".join(unit.questions), {}, "", 200)


async def save_unit(c: Console, request: web.Request) -> web.StreamResponse:
    """Save a unit's paraphrases (one a line)."""
    unit = _unit(c, request.match_info["id"])
    text = form_value(await request.post(), "questions")
    questions = [q for q in text.splitlines() if q.strip()]
    result = await c.services.edit_knowledge(lambda e: e.set_questions(unit.id, questions))
    if not result.saved:
        return _unit_page(c, request, unit, text, field_errors(result), refused_box(result), 400)
    c.audit(request, "edit-questions", f"{unit.id}: {len(questions)} 个问法")
    raise c.done(request, f"/admin/unit/{unit.id}", result.message)


def _deadline_page(c: Console, request: web.Request, unit: Any, values: dict[str, str], errors: dict[str, str], box: str, status: int) -> web.Response:
    content = (
        r.field("截止日期", "date", values["date"], kind="date", ident="date", error=errors.get("date", ""), required=True)
        + r.field("提前几天提醒", "remind_days", values["remind_days"], ident="remind_days", error=errors.get("remind_days", ""), hint="用逗号分开，如 7, 3, 1, 0（0 为当天）")
        + r.field("提醒时间", "remind_at", values["remind_at"], ident="remind_at", error=errors.get("remind_at", ""), hint="北京时间，如 09:00")
        + r.button("保存")
    )
    body = f"""{_back(c, unit)}{box}<dl class="facts"><dt>事项</dt><dd>{r.esc(unit.deadline.what)}</dd><dt>原文</dt><dd class="quote">{r.esc(unit.text)}</dd></dl>
{r.form(f"/admin/deadline/{unit.id}", content, csrf(request), css="stack")}"""
    return c.page(request, f"截止日期 {unit.id}", body, status=status)


async def deadline_page(c: Console, request: web.Request) -> web.StreamResponse:
    """A deadline's date and reminder plan, editable."""
    unit = _unit(c, request.match_info["id"])
    if unit.deadline is None:
        raise web.HTTPNotFound(text="这不是截止日期", content_type="text/plain")
    d = unit.deadline
    values = {"date": d.date.isoformat(), "remind_days": ", ".join(map(str, d.remind_days)), "remind_at": d.remind_at.strftime("%H:%M")}
    return _deadline_page(c, request, unit, values, {}, "", 200)


async def save_deadline(c: Console, request: web.Request) -> web.StreamResponse:
    """Move a deadline or change its reminders; subscribers are reminded by the new plan."""
    unit = _unit(c, request.match_info["id"])
    if unit.deadline is None:
        raise web.HTTPNotFound(text="这不是截止日期", content_type="text/plain")
    form = await request.post()
    values = {k: form_value(form, k, 100) for k in ("date", "remind_days", "remind_at")}
    result = await c.services.edit_knowledge(lambda e: e.set_deadline(unit.id, values["date"], values["remind_days"], values["remind_at"]))
    if not result.saved:
        return _deadline_page(c, request, unit, values, field_errors(result), refused_box(result), 400)
    c.audit(request, "edit-deadline", f"{unit.id}: {values['date']}，提前 {values['remind_days']} 天，{values['remind_at']}")
    raise c.done(request, f"/admin/deadline/{unit.id}", result.message)


def _contact_page(c: Console, request: web.Request, unit: Any, values: dict[str, str], errors: dict[str, str], box: str, status: int) -> web.Response:
    content = "".join(
        r.field(label, key, values.get(key, ""), ident=key, error=errors.get(key, ""), required=key in ("name", "phone"), kind="email" if key == "email" else "text")
        for key, label in CONTACT_FIELDS
    ) + r.button("保存")
    body = f"""{_back(c, unit)}{box}<dl class="facts"><dt>原文</dt><dd class="quote">{r.esc(unit.text)}</dd></dl>
<p class="hint">原文是通知里的句子，回答时会引用；改了电话等字段后，请确认原文是否也需要更新。</p>
{r.form(f"/admin/contact/{unit.id}", content, csrf(request), css="stack")}"""
    return c.page(request, f"联系人 {unit.id}", body, status=status)


async def contact_page(c: Console, request: web.Request) -> web.StreamResponse:
    """A contact's fields, editable."""
    unit = _unit(c, request.match_info["id"])
    if unit.contact is None:
        raise web.HTTPNotFound(text="这不是联系人", content_type="text/plain")
    values = {key: getattr(unit.contact, key) for key, _ in CONTACT_FIELDS}
    return _contact_page(c, request, unit, values, {}, "", 200)


async def save_contact(c: Console, request: web.Request) -> web.StreamResponse:
    """Correct a contact."""
    unit = _unit(c, request.match_info["id"])
    if unit.contact is None:
        raise web.HTTPNotFound(text="这不是联系人", content_type="text/plain")
    form = await request.post()
    values = {key: form_value(form, key, 600) for key, _ in CONTACT_FIELDS}
    result = await c.services.edit_knowledge(lambda e: e.set_contact(unit.id, values))
    if not result.saved:
        return _contact_page(c, request, unit, values, field_errors(result), refused_box(result), 400)
    c.audit(request, "edit-contact", f"{unit.id}: {values['name']} {values['phone']}")
    raise c.done(request, f"/admin/contact/{unit.id}", result.message)


def _table_page(c: Console, request: web.Request, unit: Any, box: str, status: int, typed: dict[int, dict[str, str]] | None = None, errors: dict[str, str] | None = None, bad_row: int = -2) -> web.Response:
    columns = list(unit.table.columns)
    token = csrf(request)
    typed = typed or {}
    forms = []
    for i, row in enumerate([*unit.table.rows, None]):
        values = typed.get(i) or ({col: row.values.get(col, "") for col in columns} if row else {})
        errs = (errors or {}) if i == bad_row else {}
        cells = "".join(r.field(col, col, values.get(col, ""), ident=f"r{i}-{col}", error=errs.get(col, "")) for col in columns)
        label = f"第 {i + 1} 行" if row else "新增一行"
        save = r.button("保存这一行" if row else "添加", name="action", value="save")
        remove = r.button("删除这一行", kind="danger", name="action", value="delete") if row else ""
        forms.append(
            f'<fieldset class="row-form"><legend>{label}</legend>'
            + r.form(f"/admin/table/{unit.id}/{i if row else 'new'}", cells + f'<div class="actions">{save}{remove}</div>', token, css="grid")
            + "</fieldset>"
        )
    body = f"{_back(c, unit)}{box}<p>{r.esc(unit.title)}</p>{''.join(forms)}"
    return c.page(request, f"表格 {unit.id}", body, status=status)


async def table_page(c: Console, request: web.Request) -> web.StreamResponse:
    """A table's rows, each editable, plus a form to add one."""
    unit = _unit(c, request.match_info["id"])
    if unit.table is None:
        raise web.HTTPNotFound(text="这不是表格", content_type="text/plain")
    return _table_page(c, request, unit, "", 200)


async def save_row(c: Console, request: web.Request) -> web.StreamResponse:
    """Save, add or delete one table row."""
    unit = _unit(c, request.match_info["id"])
    if unit.table is None:
        raise web.HTTPNotFound(text="这不是表格", content_type="text/plain")
    raw = request.match_info["row"]
    index = None if raw == "new" else int(raw) if raw.isdigit() else -1
    form = await request.post()
    values = {col: form_value(form, col, 600) for col in unit.table.columns}
    if form_value(form, "action", 10) == "delete" and index is not None:
        result = await c.services.edit_knowledge(lambda e: e.remove_row(unit.id, index))
    else:
        result = await c.services.edit_knowledge(lambda e: e.set_row(unit.id, index, values))
    slot = len(unit.table.rows) if index is None else index
    if not result.saved:
        return _table_page(c, request, unit, refused_box(result), 400, {slot: values}, field_errors(result), slot)
    c.audit(request, "edit-row", f"{unit.id}: {result.message}")
    raise c.done(request, f"/admin/table/{unit.id}", result.message)
