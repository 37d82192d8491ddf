"""Admins only: the audit log (who changed what and when) and the staff accounts."""

from __future__ import annotations

from aiohttp import web

from bot.channels.admin import render as r
from bot.channels.admin.base import Console, csrf, form_value, staff_of
from bot.state.accounts import ROLE_NAMES, ROLES

PAGE = 200
ACTIONS = {
    "login": "登录",
    "login-failed": "登录失败",
    "login-locked": "账户锁定",
    "logout": "退出",
    "add-paraphrase": "加为问法",
    "out-of-scope": "标为超出范围",
    "dismiss": "忽略问题",
    "edit-questions": "修改问法",
    "edit-deadline": "修改截止日期",
    "edit-contact": "修改联系人",
    "edit-row": "修改表格",
    "upload-notice": "上传通知",
    "publish-notice": "发布通知",
    "discard-draft": "放弃草稿",
    "archive-notice": "归档通知",
    "broadcast": "群发",
    "add-user": "新增账户",
    "passwd": "重设密码",
    "remove-user": "删除账户",
}


async def audit_log(c: Console, request: web.Request) -> web.StreamResponse:
    """The newest entries first, a page at a time."""
    raw = request.query.get("page", "1")
    page = int(raw) if raw.isdigit() and 0 < int(raw) < 100000 else 1
    entries = c.accounts.audit_rows(PAGE + 1, (page - 1) * PAGE)
    zone = c.services.settings.zone
    rows = [
        (e["at"].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if e["at"] else "", e["who"], ACTIONS.get(e["action"], e["action"]), e["detail"])
        for e in entries[:PAGE]
    ]
    more = f'<p><a href="/admin/audit?page={page + 1}">更早的记录</a></p>' if len(entries) > PAGE else ""
    newer = f'<p><a href="/admin/audit?page={page - 1}">较新的记录</a></p>' if page > 1 else ""
    return c.page(request, "审计日志", r.table(["时间", "账户", "操作", "内容"], rows, caption="谁在什么时候做了什么") + newer + more)


def _users_page(c: Console, request: web.Request, errors: dict[str, str] | None = None, typed: dict[str, str] | None = None, status: int = 200) -> web.Response:
    errors, typed = errors or {}, typed or {}
    token = csrf(request)
    me = staff_of(request).name
    now = c.now()
    rows = []
    for account in c.accounts.all():
        locked = "锁定中" if account.locked(now) else "正常"
        reset = r.form(
            "/admin/users/passwd",
            r.hidden("name", account.name)
            + r.field("新密码", "password", "", kind="password", ident=f"pw-{account.name}", extra=' autocomplete="new-password"')
            + r.button("重设密码", kind="secondary"),
            token,
            css="inline",
        )
        remove = (
            r.form("/admin/users/remove", r.hidden("name", account.name) + r.button("删除", kind="danger"), token, css="inline", confirm=f"确定删除账户 {account.name} 吗？")
            if account.name != me
            else ""
        )
        rows.append((r.esc(account.name), r.esc(ROLE_NAMES.get(account.role, account.role)), locked, reset + remove))
    add = r.form(
        "/admin/users/add",
        r.field("用户名", "name", typed.get("name", ""), ident="new-name", error=errors.get("name", ""), required=True)
        + r.select("角色", "role", [(role, ROLE_NAMES[role]) for role in ROLES], typed.get("role", "editor"), ident="new-role")
        + r.field("初始密码", "password", "", kind="password", ident="new-password", error=errors.get("password", ""), required=True, hint="至少 8 个字符；请当面或电话告知本人", extra=' autocomplete="new-password"')
        + r.button("新增账户"),
        token,
        css="stack",
    )
    body = f"""{r.table(["用户名", "角色", "状态", "操作"], rows, raw=True)}
<section aria-labelledby="h-add"><h2 id="h-add">新增账户</h2>{add}</section>
<p class="hint">编辑可以修改知识库、处理问题和发布通知；管理员另外可以群发、管理账户和查看审计日志。</p>"""
    return c.page(request, "账户", body, status=status)


async def users(c: Console, request: web.Request) -> web.StreamResponse:
    """Accounts with their role and lock state."""
    return _users_page(c, request)


async def add_user(c: Console, request: web.Request) -> web.StreamResponse:
    """Create an account."""
    form = await request.post()
    name, role, password = form_value(form, "name", 64).strip(), form_value(form, "role", 16), form_value(form, "password", 2000)
    try:
        c.accounts.add(name, role, password, c.now())
    except ValueError as exc:
        key = "password" if "密码" in str(exc) else "name"
        return _users_page(c, request, {key: str(exc)}, {"name": name, "role": role}, 400)
    c.audit(request, "add-user", f"{name}（{ROLE_NAMES.get(role, role)}）")
    raise c.done(request, "/admin/users", f"已新增账户 {name}。")


async def passwd(c: Console, request: web.Request) -> web.StreamResponse:
    """Set a new password (ends that account's sessions, lifts a lock)."""
    form = await request.post()
    name, password = form_value(form, "name", 64), form_value(form, "password", 2000)
    try:
        c.accounts.set_password(name, password)
    except ValueError as exc:
        raise c.done(request, "/admin/users", str(exc), "error") from None
    c.audit(request, "passwd", name)
    if name == staff_of(request).name:
        raise c.done(request, "/admin/login", "密码已修改，请重新登录。")
    raise c.done(request, "/admin/users", f"已重设 {name} 的密码。")


async def remove_user(c: Console, request: web.Request) -> web.StreamResponse:
    """Delete an account (not one's own)."""
    name = form_value(await request.post(), "name", 64)
    if name == staff_of(request).name:
        raise c.done(request, "/admin/users", "不能删除自己的账户。", "error")
    if not c.accounts.remove(name):
        raise c.done(request, "/admin/users", f"没有账户 {name}。", "error")
    c.audit(request, "remove-user", name)
    raise c.done(request, "/admin/users", f"已删除账户 {name}。")
