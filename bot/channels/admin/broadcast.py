"""Broadcast (compose, preview per channel with recipients, confirm, delivery counts) and the reminder plan."""

from __future__ import annotations

from datetime import datetime, time

from aiohttp import web

from bot.channels.admin import render as r
from bot.channels.admin.base import Console, csrf, form_value, moment
from bot.state.insights import CHANNEL_NAMES, PLAN_NAMES
from bot.state.reminders import schedule

MAX_TEXT = 2000  # characters of one broadcast
WECHAT_BYTES = 2048  # a WeChat text message is cut here
MAX_PLAN_ROWS = 500


def _channels(c: Console) -> list[str]:
    return sorted(c.services.senders or {})


def _compose(c: Console, request: web.Request, text: str = "", chosen: list[str] | None = None, error: str = "", status: int = 200) -> web.Response:
    channels = _channels(c)
    if not channels:
        body = r.alert("info", "当前没有可以推送消息的渠道：配置 Telegram 或微信公众号（客服消息接口）后即可群发。")
        return c.page(request, "群发", body, status=status)
    chosen = channels if chosen is None else chosen
    boxes = "".join(
        f'<label class="check"><input type="checkbox" name="channel" value="{r.esc(ch)}"{" checked" if ch in chosen else ""}> '
        f"{r.esc(CHANNEL_NAMES.get(ch, ch))}（{len(c.services.broadcast_audience([ch]))} 个订阅者）</label>"
        for ch in channels
    )
    content = (
        r.field("群发内容", "text", text, kind="textarea", ident="text", error=error, required=True, hint=f"纯文字，最多 {MAX_TEXT} 字；下一步会先预览，确认后才发送。")
        + f'<fieldset class="channels"><legend>发送到</legend>{boxes}</fieldset>'
        + r.button("预览")
    )
    body = r.form("/admin/broadcast/preview", content, csrf(request), css="stack")
    return c.page(request, "群发", body, status=status)


async def compose(c: Console, request: web.Request) -> web.StreamResponse:
    """The broadcast form."""
    return _compose(c, request)


def _read(c: Console, form: object) -> tuple[str, list[str], str]:
    text = form_value(form, "text", MAX_TEXT + 1).strip()
    getall = getattr(form, "getall", None)
    picked = [str(v) for v in getall("channel", [])] if getall else []
    chosen = [ch for ch in _channels(c) if ch in picked]
    error = ""
    if not text:
        error = "请填写群发内容。"
    elif len(text) > MAX_TEXT:
        error = f"内容太长（上限 {MAX_TEXT} 字）。"
    elif not chosen:
        error = "请至少选择一个渠道。"
    return text, chosen, error


async def preview(c: Console, request: web.Request) -> web.StreamResponse:
    """What each channel's subscribers will get and how many they are; nothing is sent yet."""
    text, chosen, error = _read(c, await request.post())
    if error:
        return _compose(c, request, text, chosen, error, 400)
    total = 0
    cards = []
    for ch in chosen:
        count = len(c.services.broadcast_audience([ch]))
        total += count
        shown = text
        note = ""
        if ch in ("wechat", "wecom") and len(text.encode()) > WECHAT_BYTES:
            shown = text.encode()[:WECHAT_BYTES].decode(errors="ignore")
            note = '<p class="hint">微信单条消息最多 2048 字节，超出部分会被截去。</p>'
        if ch == "wechat":
            note += '<p class="hint">微信用户只能在其最近一次发消息后的 48 小时内收到，其余计为“无法送达”。</p>'
        cards.append(
            f'<article class="card preview" aria-labelledby="p-{ch}"><h2 id="p-{ch}">{r.esc(CHANNEL_NAMES.get(ch, ch))}：'
            f'<span class="count">{count}</span> 个订阅者</h2><div class="bubble">{r.esc(shown)}</div>{note}</article>'
        )
    keep = r.hidden("text", text) + "".join(r.hidden("channel", ch) for ch in chosen)
    confirm = r.form(
        "/admin/broadcast/send",
        keep + r.button(f"确认发送（共 {total} 人）"),
        csrf(request),
        css="inline",
        confirm=f"确定向 {total} 个订阅者发送吗？发送后无法撤回。",
    )
    back = r.form("/admin/broadcast", keep + r.button("返回修改", kind="secondary"), csrf(request), css="inline")
    body = "".join(cards) + f'<div class="actions">{confirm}{back}</div>'
    return c.page(request, "群发预览", body)


async def edit_again(c: Console, request: web.Request) -> web.StreamResponse:
    """Back from the preview to the form, with the text kept."""
    text, chosen, _ = _read(c, await request.post())
    return _compose(c, request, text, chosen)


async def send(c: Console, request: web.Request) -> web.StreamResponse:
    """Send to every active subscriber of the chosen channels and report the delivery counts."""
    text, chosen, error = _read(c, await request.post())
    if error:
        return _compose(c, request, text, chosen, error, 400)
    senders = c.services.senders or {}
    report = await c.services.broadcast(text, {ch: senders[ch] for ch in chosen})
    counts = f"送达 {report.sent}，已屏蔽 {report.blocked}，无法送达 {report.undeliverable}，失败 {report.failed}"
    c.audit(request, "broadcast", f"{'、'.join(chosen)}：{counts}；内容：{text[:200]}")
    raise c.done(request, "/admin/broadcast", report.describe())


async def reminders(c: Console, request: web.Request) -> web.StreamResponse:
    """The reminder plan as of a chosen moment: what goes to whom, and when."""
    source = await request.post() if request.method == "POST" else request.query
    typed = form_value(source, "at", 40).strip()
    error = ""
    services = c.services
    at: datetime = services.clock()
    if typed:
        try:
            parsed = moment(typed, c)
            if parsed is not None:
                at = parsed if "T" in typed or " " in typed else datetime.combine(parsed.date(), time(0), parsed.tzinfo)
        except ValueError as exc:
            error = str(exc)
    zone = services.settings.zone
    deadlines = services.engine.knowledge.deadlines()
    plan = schedule(deadlines, services.store.subscribers(), services.store, at, zone)
    what = {d.id: d.what for d in deadlines}
    counts: dict[str, int] = {}
    for p in plan:
        counts[p.status] = counts.get(p.status, 0) + 1
    rows = [
        (
            p.send_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            PLAN_NAMES.get(p.status, p.status),
            f"{what.get(p.deadline_id, p.deadline_id)}（{p.for_date.isoformat()}）",
            "当天" if p.offset == 0 else f"提前 {p.offset} 天",
            CHANNEL_NAMES.get(p.channel, p.channel),
            p.chat,
        )
        for p in plan[:MAX_PLAN_ROWS]
    ]
    summary = "，".join(f"{PLAN_NAMES.get(k, k)} {v}" for k, v in sorted(counts.items())) or "没有订阅者或截止日期"
    samples = "".join(
        f'<article class="card"><h3>{r.esc(d.what)}（{d.date.isoformat()}）</h3><pre class="reply">{r.esc(services.engine.render_reminder(d, at))}</pre></article>'
        for d in deadlines
    )
    content = r.field("查看哪个时间的计划", "at", typed or at.strftime("%Y-%m-%dT%H:%M"), ident="at", error=error, hint="如 2021-09-23 或 2021-09-23T09:30") + r.button("查看")
    body = f"""{r.form("/admin/reminders", content, csrf(request), css="stack")}
<p class="summary">截至 {at.astimezone(zone).strftime("%Y-%m-%d %H:%M")}：{r.esc(summary)}。</p>
{r.table(["发送时间", "状态", "截止事项", "提醒", "渠道", "接收者"], rows, caption="提醒计划")}
<details><summary>提醒内容示例</summary>{samples}</details>"""
    return c.page(request, "提醒计划", body, status=400 if error else 200)
