"""HTML of the console: one layout, form fields with their labels and errors, tables; everything escaped.

Pages are drawn on the server (no framework, no CDN); the only script is a small file for
confirm dialogs, and the page works without it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import web

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
SITE = "质量月问答机器人 · 管理后台"
NAV = [  # path, label, admins only
    ("/admin/", "概览", False),
    ("/admin/review", "待处理问题", False),
    ("/admin/test", "命中测试", False),
    ("/admin/knowledge", "知识库", False),
    ("/admin/notices", "通知", False),
    ("/admin/reminders", "提醒计划", False),
    ("/admin/broadcast", "群发", True),
    ("/admin/audit", "审计日志", True),
    ("/admin/users", "账户", True),
]


def esc(value: object) -> str:
    """Text as HTML, quotes included (safe in attributes too)."""
    return html.escape(str(value), quote=True)


def html_page(
    title: str,
    body: str,
    *,
    status: int = 200,
    nav: str = "",
    banner: str = "",
    flash: str = "",
) -> web.Response:
    """The one layout: skip link, header with the menu, the degraded-knowledge banner, flash, main."""
    document = f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · {SITE}</title>
<link rel="stylesheet" href="/admin/static/admin.css">
<script src="/admin/static/admin.js" defer></script>
</head>
<body>
<a class="skip" href="#main">跳到正文</a>
<header class="top"><p class="brand">{SITE}</p>{nav}</header>
{banner}
<main id="main" tabindex="-1">
{flash}
<h1>{esc(title)}</h1>
{body}
</main>
</body>
</html>
"""
    return web.Response(text=document, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


def nav(path: str, is_admin: bool, name: str, role: str, csrf: str) -> str:
    """The main menu (admin-only entries for admins), the account and a logout button."""
    items = []
    for href, label, admin_only in NAV:
        if admin_only and not is_admin:
            continue
        current = path == href or (href != "/admin/" and path.startswith(href))
        mark = ' aria-current="page"' if current else ""
        items.append(f'<li><a href="{href}"{mark}>{esc(label)}</a></li>')
    logout = form("/admin/logout", '<button type="submit" class="link">退出登录</button>', csrf, css="logout")
    return (
        f'<nav aria-label="主菜单"><ul>{"".join(items)}</ul></nav>'
        f'<div class="who"><span>{esc(name)}（{esc(role)}）</span>{logout}</div>'
    )


def banner(ok: bool, describe: str, problems: Sequence[str]) -> str:
    """The red notice on every page while the bot answers from an older, good copy of the knowledge."""
    if ok:
        return ""
    items = "".join(f"<li><code>{esc(p)}</code></li>" for p in problems[:10])
    return (
        '<div class="banner" role="alert" id="knowledge-error"><p><strong>知识库重新加载失败</strong>：'
        f"{esc(describe.split('：', 1)[0])}。机器人仍按上一个正确的版本回答，请修正下列问题：</p>"
        f"<ul>{items}</ul></div>"
    )


def alert(kind: str, message: str, items: Iterable[str] = ()) -> str:
    """A message box: ok (green), error (red) or info; items become a list under it."""
    role = "alert" if kind == "error" else "status"
    listed = "".join(f"<li>{esc(i)}</li>" for i in items)
    return f'<div class="alert {kind}" role="{role}"><p>{esc(message)}</p>{f"<ul>{listed}</ul>" if listed else ""}</div>'


def problems(found: Iterable[Any]) -> list[str]:
    """Validation problems as lines staff can act on: file, line, where, what."""
    out = []
    for p in found:
        where = f"{p.file} 第 {p.line} 行" + (f"（{p.path}）" if p.path else "")
        out.append(f"{where}：{p.message}")
    return out


def form(action: str, content: str, csrf: str, *, css: str = "", confirm: str = "", multipart: bool = False) -> str:
    """A POST form carrying the CSRF token; `confirm` asks before submitting (admin.js)."""
    attrs = f' class="{css}"' if css else ""
    attrs += f' data-confirm="{esc(confirm)}"' if confirm else ""
    attrs += ' enctype="multipart/form-data"' if multipart else ""
    return f'<form method="post" action="{esc(action)}"{attrs}><input type="hidden" name="csrf" value="{esc(csrf)}">{content}</form>'


def field(
    label: str,
    name: str,
    value: object = "",
    *,
    error: str = "",
    hint: str = "",
    kind: str = "text",
    ident: str = "",
    required: bool = False,
    extra: str = "",
) -> str:
    """A labelled input with its hint and its error right below it, tied together for screen readers."""
    ident = ident or f"f-{name}"
    described = " ".join(x for x in (f"{ident}-hint" if hint else "", f"{ident}-error" if error else "") if x)
    attrs = f' aria-describedby="{described}"' if described else ""
    attrs += ' aria-invalid="true"' if error else ""
    attrs += " required" if required else ""
    if kind == "textarea":
        control = f'<textarea id="{ident}" name="{esc(name)}"{attrs}{extra}>{esc(value)}</textarea>'
    else:
        control = f'<input id="{ident}" name="{esc(name)}" type="{kind}" value="{esc(value)}"{attrs}{extra}>'
    hint_html = f'<p class="hint" id="{ident}-hint">{esc(hint)}</p>' if hint else ""
    error_html = f'<p class="field-error" id="{ident}-error">{esc(error)}</p>' if error else ""
    return f'<div class="field{" invalid" if error else ""}"><label for="{ident}">{esc(label)}</label>{control}{hint_html}{error_html}</div>'


def select(label: str, name: str, options: Iterable[tuple[str, str]], selected: str = "", *, ident: str = "") -> str:
    """A labelled drop-down of (value, text) options."""
    ident = ident or f"f-{name}"
    opts = "".join(
        f'<option value="{esc(v)}"{" selected" if v == selected else ""}>{esc(t)}</option>' for v, t in options
    )
    return f'<div class="field"><label for="{ident}">{esc(label)}</label><select id="{ident}" name="{esc(name)}">{opts}</select></div>'


def hidden(name: str, value: object) -> str:
    """A hidden form value."""
    return f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'


def button(text: str, *, kind: str = "primary", name: str = "", value: str = "") -> str:
    """A submit button."""
    named = f' name="{esc(name)}" value="{esc(value)}"' if name else ""
    return f'<button type="submit" class="{kind}"{named}>{esc(text)}</button>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str = "", raw: bool = False) -> str:
    """A data table with a caption and column headers; cells are escaped unless `raw` (already HTML)."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="empty">暂无数据</td></tr>'
    return f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def login_body(csrf: str, error: str, next_url: str, username: str) -> str:
    """The login form: fields named username and password."""
    content = (
        (alert("error", error) if error else "")
        + field("用户名", "username", username, ident="username", required=True, extra=' autocomplete="username" autofocus')
        + field("密码", "password", "", kind="password", ident="password", required=True, extra=' autocomplete="current-password"')
        + hidden("next", next_url)
        + button("登录")
    )
    note = '<p class="hint">还没有账户？请管理员在服务器上运行 <code>.venv/bin/python run_bot.py users add 用户名 --role editor</code>。</p>'
    return f'<div class="login">{form("/admin/login", content, csrf)}{note}</div>'


