"""Notices: upload a notice, review its ingest draft, edit, publish or discard; archive a past notice."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.channels.admin import render as r
from bot.channels.admin.base import Console, csrf, form_value, staff_of

MAX_UPLOAD = 5 * 1024 * 1024  # bytes
MAX_DRAFT = 2 * 1024 * 1024  # characters of an edited draft


def _list_page(c: Console, request: web.Request, upload_error: str = "", status: int = 200) -> web.Response:
    token = csrf(request)
    upload = r.form(
        "/admin/notices/upload",
        r.field(
            "通知文件",
            "notice",
            kind="file",
            ident="notice",
            error=upload_error,
            hint="Word（.docx）、PDF（文字版）、网页（.html）或纯文本（.txt，UTF-8 或 GBK 均可）。上传后生成草稿，审核后再发布，发布前不会影响机器人。",
            required=True,
        )
        + r.button("上传并生成草稿"),
        token,
        css="stack",
        multipart=True,
    )
    drafts = [
        (f'<a href="/admin/notices/draft/{d.name}">{r.esc(d.title or d.filename)}</a>', r.esc(d.filename), r.esc(d.uploaded_at.replace("T", " ")), r.esc(d.uploaded_by), str(len(d.leftover)))
        for d in c.services.drafts.all()
    ]
    k = c.services.engine.knowledge
    published = []
    for doc in sorted(k.documents.values(), key=lambda d: (-d.year, d.id)):
        archive = r.form(
            "/admin/notices/archive",
            r.hidden("doc", doc.id) + r.button("归档", kind="secondary"),
            token,
            css="inline",
            confirm=f"归档后机器人不再回答和提醒《{doc.short_title or doc.title}》，文件仍保留。确定归档吗？",
        )
        published.append((f'<a href="/admin/knowledge/{r.esc(doc.id)}">{r.esc(doc.title)}</a>', r.esc(doc.number), str(doc.year), archive))
    archived = [(r.esc(name),) for name in c.services.editor.archived()]
    body = f"""<section aria-labelledby="h-up"><h2 id="h-up">上传新通知</h2>{upload}</section>
<section aria-labelledby="h-drafts"><h2 id="h-drafts">待审核的草稿</h2>{r.table(["草稿", "文件", "上传时间", "上传人", "未归类的行"], drafts, raw=True)}</section>
<section aria-labelledby="h-pub"><h2 id="h-pub">正在使用的通知</h2>{r.table(["通知", "文号", "年份", "操作"], published, raw=True)}</section>
<section aria-labelledby="h-arch"><h2 id="h-arch">已归档</h2>{r.table(["文件（knowledge/archive/）"], archived, raw=True)}</section>"""
    return c.page(request, "通知", body, status=status)


async def notices(c: Console, request: web.Request) -> web.StreamResponse:
    """Upload form, drafts under review, published and archived notices."""
    return _list_page(c, request)


async def upload(c: Console, request: web.Request) -> web.StreamResponse:
    """Ingest an uploaded notice into a draft and open its review."""
    form = await request.post()
    item: Any = form.get("notice")
    if item is None or isinstance(item, str) or not getattr(item, "filename", ""):
        return _list_page(c, request, "请选择要上传的通知文件。", 400)
    data = item.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _list_page(c, request, f"文件太大（上限 {MAX_UPLOAD // 1024 // 1024} MB）。", 413)
    try:
        draft = c.services.draft_notice(data, item.filename, staff_of(request).name, c.now())
    except ValueError as exc:
        return _list_page(c, request, str(exc), 400)
    c.audit(request, "upload-notice", f"{draft.filename} → 草稿 {draft.name}")
    raise c.done(request, f"/admin/notices/draft/{draft.name}", f"已生成草稿：{draft.title or draft.filename}。请审核后发布。")


def _draft_page(c: Console, request: web.Request, draft: Any, text: str, box: str = "", error: str = "", status: int = 200) -> web.Response:
    token = csrf(request)
    leftover = "".join(f"<li><code>{r.esc(line)}</code></li>" for line in draft.leftover) or "<li>无</li>"
    notes = "".join(f"<li>{r.esc(n)}</li>" for n in draft.notes)
    report = f"""<section aria-labelledby="h-report" class="card"><h2 id="h-report">审核报告</h2>
<p>文件 <code>{r.esc(draft.filename)}</code>，{r.esc(draft.uploaded_by)} 上传于 {r.esc(draft.uploaded_at.replace("T", " "))}。</p>
<p>有 <strong>{draft.generated}</strong> 处标记为 <code>generated: true</code>：其中的问法是自动生成的，请改成用户会怎么问，然后删去这个标记。</p>
<h3>未能归类的行（{len(draft.leftover)}）</h3><ul class="leftover">{leftover}</ul>
{f"<h3>提示</h3><ul>{notes}</ul>" if notes else ""}</section>"""
    content = (
        r.field("草稿内容（YAML）", "text", text, kind="textarea", ident="draft-text", error=error, hint="发布时会与现有知识库一起校验；有错误不会发布。", extra=' rows="24" spellcheck="false"')
        + '<div class="actions">'
        + r.button("保存草稿", kind="secondary", name="action", value="save")
        + r.button("发布", name="action", value="publish")
        + "</div>"
    )
    editor = r.form(f"/admin/notices/draft/{draft.name}", content, token, css="stack")
    discard = r.form(f"/admin/notices/draft/{draft.name}/discard", r.button("放弃这个草稿", kind="danger"), token, css="inline", confirm="确定放弃这个草稿吗？")
    body = f'<p><a href="/admin/notices">返回通知列表</a></p>{box}{report}{editor}{discard}'
    return c.page(request, f"草稿：{draft.title or draft.filename}", body, status=status)


def _draft(c: Console, request: web.Request) -> Any:
    draft = c.services.drafts.get(request.match_info["name"])
    if draft is None:
        raise web.HTTPNotFound(text="找不到这个草稿（可能已发布或放弃）", content_type="text/plain")
    return draft


async def draft_page(c: Console, request: web.Request) -> web.StreamResponse:
    """The ingest's draft, its review report and the editor."""
    draft = _draft(c, request)
    return _draft_page(c, request, draft, draft.text)


async def save_draft(c: Console, request: web.Request) -> web.StreamResponse:
    """Keep the edits, or publish: validated with the whole knowledge, written under knowledge/, reloaded."""
    draft = _draft(c, request)
    form = await request.post()
    text = form_value(form, "text", MAX_DRAFT).replace("\r\n", "\n")
    draft = c.services.drafts.update(draft, text)
    if form_value(form, "action", 10) != "publish":
        syntax = r.problems(draft.problems())
        box = r.alert("error", "草稿已保存，但 YAML 有语法错误：", syntax) if syntax else ""
        if not syntax:
            raise c.done(request, f"/admin/notices/draft/{draft.name}", "草稿已保存（尚未发布）。")
        return _draft_page(c, request, draft, text, box, syntax[0], 400)
    result = await c.services.publish_notice(draft)
    if not result.saved:
        listed = r.problems(result.problems)
        box = r.alert("error", result.message, listed)
        return _draft_page(c, request, draft, text, box, listed[0] if listed else result.message, 400)
    c.audit(request, "publish-notice", f"{draft.filename} → {result.file}")
    raise c.done(request, f"/admin/knowledge/{result.target}", result.message)


async def discard(c: Console, request: web.Request) -> web.StreamResponse:
    """Throw a draft away; the bot never saw it."""
    draft = _draft(c, request)
    c.services.drafts.discard(draft.name)
    c.audit(request, "discard-draft", draft.filename)
    raise c.done(request, "/admin/notices", f"已放弃草稿 {draft.filename}。")


async def archive(c: Console, request: web.Request) -> web.StreamResponse:
    """A past notice stops being answered and reminded; its file moves to knowledge/archive/."""
    doc = form_value(await request.post(), "doc", 100)
    result = await c.services.edit_knowledge(lambda e: e.archive(doc))
    if not result.saved:
        raise c.done(request, "/admin/notices", f"{result.message} {'；'.join(r.problems(result.problems))}", "error")
    c.audit(request, "archive-notice", f"{doc} ({result.file})")
    raise c.done(request, "/admin/notices", result.message)
