"""The overview: use per day as an inline SVG chart, answer and feedback rates, top questions, subscribers,
reminders and the last reload."""

from __future__ import annotations

from aiohttp import web

from bot.channels.admin import render as r
from bot.channels.admin.base import Console
from bot.state.insights import (
    CHANNEL_NAMES,
    REMINDER_NAMES,
    Day,
    feedback_counts,
    pct,
    questions_per_day,
    reminder_counts,
    top_questions,
)

DAYS = 30


def chart(days: list[Day]) -> str:
    """Stacked bars (answered, declined) per day, drawn as SVG on the server; a table says the same in text."""
    width, height, left, bottom, top = 720, 220, 36, 28, 12
    peak = max([d.total for d in days] + [1])
    step = (width - left - 8) / len(days)
    bar = max(2.0, step * 0.7)
    plot = height - bottom - top
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc" '
        'xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">每日提问数</title>',
        f'<desc id="chart-desc">最近 {len(days)} 天每天的提问数，深色为已回答，红色为未能回答；最多一天 {peak} 个。</desc>',
        f'<line x1="{left}" y1="{top + plot}" x2="{width - 4}" y2="{top + plot}" stroke="#4a4f55"/>',
        f'<text x="{left - 6}" y="{top + 8}" text-anchor="end" font-size="12" fill="#333">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot}" text-anchor="end" font-size="12" fill="#333">0</text>',
    ]
    for i, d in enumerate(days):
        x = left + i * step + (step - bar) / 2
        answered = d.total - d.declined
        h_ok = plot * answered / peak
        h_no = plot * d.declined / peak
        y_ok = top + plot - h_ok
        label = f"{d.day.month}月{d.day.day}日：{d.total} 个提问，{d.declined} 个未能回答"
        parts.append(f"<g><title>{r.esc(label)}</title>")
        if h_ok:
            parts.append(f'<rect x="{x:.1f}" y="{y_ok:.1f}" width="{bar:.1f}" height="{h_ok:.1f}" fill="#1a5fb4"/>')
        if h_no:
            parts.append(f'<rect x="{x:.1f}" y="{y_ok - h_no:.1f}" width="{bar:.1f}" height="{h_no:.1f}" fill="#b3261e"/>')
        parts.append("</g>")
        if i % 5 == 0 or i == len(days) - 1:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle" font-size="12" fill="#333">'
                f"{d.day.month}/{d.day.day}</text>"
            )
    parts.append("</svg>")
    legend = '<p class="legend"><span class="key ok"></span>已回答 <span class="key no"></span>未能回答</p>'
    rows = [(d.day.isoformat(), str(d.total), str(d.declined)) for d in reversed(days) if d.total]
    details = f"<details><summary>按日数据</summary>{r.table(['日期', '提问数', '未能回答'], rows)}</details>"
    return "".join(parts) + legend + details


def _stat(label: str, value: str, note: str = "") -> str:
    return f'<div class="stat"><p class="stat-label">{r.esc(label)}</p><p class="stat-value">{r.esc(value)}</p><p class="hint">{r.esc(note)}</p></div>'


async def overview(c: Console, request: web.Request) -> web.StreamResponse:
    """One page that says how the bot is doing."""
    services = c.services
    store = services.store
    today = services.real_clock().astimezone(services.settings.zone).date()  # log rows are dated by the real clock
    days = questions_per_day(store, today, DAYS, services.settings.zone)
    stats = store.stats()
    total, declined = int(stats["questions"]), int(stats["fallbacks"])
    up, down = feedback_counts(store)
    reminders = reminder_counts(store)
    status = services.status
    since = status.since.astimezone(services.settings.zone).strftime("%Y-%m-%d %H:%M") if status.since else "启动时"
    reload_state = "正常" if status.ok else "失败（见页首红色提示）"
    cards = "".join(
        [
            _stat("提问总数", str(total), f"最近 {DAYS} 天 {sum(d.total for d in days)} 个"),
            _stat("已回答", pct(total - declined, total), f"{total - declined} 个"),
            _stat("未能回答", pct(declined, total), f"{declined} 个"),
            _stat("有用", pct(up, up + down), f"{up} 票"),
            _stat("没用", pct(down, up + down), f"{down} 票"),
            _stat("知识库", reload_state, f"版本 {services.engine.version}，{since}"),
        ]
    )
    subscribers = stats.get("subscribers") or {}
    sub_rows = [(CHANNEL_NAMES.get(k, k), str(v)) for k, v in sorted(subscribers.items())]
    rem_rows = [(REMINDER_NAMES.get(k, k), str(reminders.get(k, 0))) for k in ("sent", "failed", "undeliverable", "skipped", "pending")]
    top = [(q, str(n)) for q, n in top_questions(store, 10)]
    unanswered = [(q, str(n)) for q, n in store.unanswered(10)]
    body = f"""
<section aria-labelledby="h-cards"><h2 id="h-cards" class="visually-hidden">主要指标</h2><div class="stats">{cards}</div></section>
<section aria-labelledby="h-chart"><h2 id="h-chart">每日提问数（最近 {DAYS} 天）</h2>{chart(days)}</section>
<div class="columns">
<section aria-labelledby="h-top"><h2 id="h-top">最常问的问题</h2>{r.table(["问题", "次数"], top)}</section>
<section aria-labelledby="h-un"><h2 id="h-un">最常见的未能回答</h2>{r.table(["问题", "次数"], unanswered)}
<p><a href="/admin/review">去处理未能回答的问题</a></p></section>
<section aria-labelledby="h-subs"><h2 id="h-subs">订阅者</h2>{r.table(["渠道", "订阅者"], sub_rows)}</section>
<section aria-labelledby="h-rem"><h2 id="h-rem">提醒发送情况</h2>{r.table(["状态", "条数"], rem_rows)}
<p><a href="/admin/reminders">查看提醒计划</a></p></section>
</div>"""
    return c.page(request, "概览", body)
