"""Command line: ask, chat, check, eval, serve, reminders, stats: the same engine as every channel."""

from __future__ import annotations

import argparse
import errno
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bot.channels.console import render, repl
from bot.config import ROOT, Settings, load_settings, parse_moment
from bot.core.engine import Engine
from bot.core.model import Context, Incoming, Reply
from bot.knowledge.check import KnowledgeError
from bot.knowledge.evaluate import SetSpec, load_cases, load_manifest, score
from bot.service import load_engine
from bot.state.conversations import Conversations


def parse_now(value: str | None, settings: Settings) -> datetime | None:
    """--now: an ISO-8601 time; a naive one is taken as the bot's time zone."""
    if not value:
        return None
    try:
        return parse_moment(value, settings.zone)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--now {value!r}: {exc}") from exc


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        knowledge_dir=Path(args.knowledge) if args.knowledge else None,
        intents_file=Path(args.intents) if args.intents else None,
        db=Path(args.db) if getattr(args, "db", None) else None,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


def _engine(settings: Settings) -> Engine:
    return load_engine(settings.knowledge_dir, settings.intents_file, zone=settings.zone, cache_dir=settings.cache_dir)


def _now(args: argparse.Namespace, settings: Settings) -> datetime:
    return parse_now(args.now, settings) or datetime.now(settings.zone)


def cmd_ask(args: argparse.Namespace, out: TextIO) -> int:
    """One question (or one a line with --jsonl), loading everything once."""
    settings = _settings(args)
    engine = _engine(settings)
    now = _now(args, settings)
    if args.jsonl:
        conversations = Conversations()
        for line in sys.stdin:
            question, chat = _jsonl_line(line)
            if not question.strip():
                continue
            ctx = conversations.get(chat, now) if chat else Context()
            reply, ctx = engine.respond(Incoming(question, "cli", chat=chat), now, ctx)
            conversations.put(chat, ctx, now)
            out.write(json.dumps({**reply.to_dict(question), **({"chat": chat} if chat else {})}, ensure_ascii=False) + "\n")
            out.flush()
        return 0
    question = " ".join(args.question)
    reply = engine.answer(Incoming(question, "cli"), now)
    if args.json:
        out.write(json.dumps(reply.to_dict(question), ensure_ascii=False) + "\n")
    else:
        out.write(render(reply) + "\n")
    return 0


def _jsonl_line(line: str) -> tuple[str, str]:
    """A plain question a line, or {"text": "…", "chat": "ID"}: lines of one chat id are one conversation."""
    text = line.rstrip("\n")
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return text, ""
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            chat = data.get("chat", "")
            return data["text"], str(chat) if chat is not None else ""
    return text, ""


def cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    """A REPL for staff trying questions out; it keeps the conversation, as a chat does."""
    settings = _settings(args)
    engine = _engine(settings)
    context = Context()

    def answer(question: str) -> Reply:
        nonlocal context
        reply, context = engine.respond(Incoming(question, "cli", chat="console"), _now(args, settings), context)
        return reply

    return repl(answer, engine.intent_reply("help"), out)


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Validate knowledge and intents; exit 1 with every problem."""
    settings = _settings(args)
    try:
        engine = _engine(settings)
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"共发现 {len(exc.problems)} 个问题，请按上面的文件、行号和位置逐一修改。", file=sys.stderr)
        return 1
    counts = engine.counts()
    out.write(
        f"检查通过：{counts['documents']} 份通知，{counts['units']} 条内容，{counts['deadlines']} 个截止日期，"
        f"{counts['projects']} 行表格；版本 {engine.version}\n"
    )
    return 0


def cmd_eval(args: argparse.Namespace, out: TextIO) -> int:
    """Score question sets (every set the project keeps when no file is given); exit 1 below the floor."""
    settings = _settings(args)
    engine = _engine(settings)
    if args.file:
        specs = [SetSpec(Path(args.file), args.now or "", args.min)]
    else:
        try:
            specs = load_manifest(ROOT / "tests" / "data" / "eval_sets.yaml")
        except (ValueError, KeyError) as exc:
            print(f"cannot read the list of question sets: {exc}", file=sys.stderr)
            return 2
    ok = True
    for spec in specs:
        try:
            cases = load_cases(spec.path)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        now = parse_now(args.now or spec.now, settings) or datetime.now(settings.zone)
        result = score(engine, cases, now)
        if args.file or args.verbose:
            for line in result.failures:
                out.write(line + "\n")
        tags = "  ".join(f"{tag} {p}/{t}" for tag, (p, t) in sorted(result.by_tag.items()) if tag != "-")
        passed = result.rate >= spec.min_rate
        ok = ok and passed
        mark = "" if args.file else ("  ok" if passed else f"  BELOW {spec.min_rate:.0%}")
        out.write(f"{spec.path.name}: {result.passed}/{result.total} passed ({result.rate:.1%}){mark}\n")
        if tags and (args.file or args.verbose):
            out.write(f"  {tags}\n")
    return 0 if ok else 1


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    """Start the server on the embedded defaults (web chat on localhost, SQLite file)."""
    import asyncio
    import logging

    from bot.app import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings(args)
    try:
        asyncio.run(serve(settings, parse_now(args.now, settings)))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        reason = {errno.EADDRINUSE: "端口已被占用", errno.EACCES: "没有权限使用这个端口", errno.EADDRNOTAVAIL: "这个地址不属于本机"}
        print(
            f"无法在 {settings.host}:{settings.port} 启动：{reason[exc.errno]}。"
            f"请换一个端口或地址，例如 make run PORT={settings.port + 1}（或 run_bot.py serve --port {settings.port + 1}）。",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_reminders(args: argparse.Namespace, out: TextIO) -> int:
    """Print the schedule, or send what is due and exit (for cron): run twice, sent once."""
    import asyncio

    from bot.app import build_services, send_due_once
    from bot.state.insights import CHANNEL_NAMES, PLAN_NAMES, SEND_NAMES
    from bot.state.reminders import schedule

    settings = _settings(args)
    now = _now(args, settings)
    services = build_services(settings, now)
    try:
        if args.action == "send":
            report = asyncio.run(send_due_once(services, now))
            if args.json:
                out.write(json.dumps(report, ensure_ascii=False) + "\n")
            else:
                done = "，".join(f"{SEND_NAMES[k]} {v}" for k, v in report.items() if v or k == "sent")
                out.write(f"本次提醒：{done}\n")
            return 0
        deadlines = services.engine.knowledge.deadlines()
        plan = schedule(deadlines, services.store.subscribers(), services.store, now, settings.zone)
        if args.json:
            rows = [{**vars(p), "for_date": p.for_date.isoformat(), "send_at": p.send_at.isoformat()} for p in plan]
            out.write(json.dumps(rows, ensure_ascii=False) + "\n")
            return 0
        if not plan:
            out.write("没有待发的提醒（还没有订阅者，或截止日期都已过去）。\n")
        for p in plan:
            status = PLAN_NAMES.get(p.status, p.status)
            when = p.send_at.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M")
            ahead = f"提前 {p.offset} 天" if p.offset else "当天"
            out.write(f"{when}  {status}  {p.deadline_id}（{ahead}）  {CHANNEL_NAMES.get(p.channel, p.channel)} {p.chat}\n")
        return 0
    finally:
        services.store.close()


def cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    """Questions, answer and feedback rates, subscribers per channel, reminders: a table, or --json."""
    from bot.state.insights import usage, usage_table
    from bot.state.store import Store

    settings = _settings(args)
    with Store(settings.db) as store:
        report = usage(store)
    out.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n" if args.json else usage_table(report))
    return 0


def cmd_forget(args: argparse.Namespace, out: TextIO) -> int:
    """Delete everything kept about one user, as the law lets them ask."""
    from bot.state.store import Store

    settings = _settings(args)
    with Store(settings.db) as store:
        removed = store.delete_user(args.channel, args.user)
    out.write(f"已删除 {args.channel} 用户 {args.user} 的全部记录（{removed} 行）。\n")
    return 0


def cmd_unanswered(args: argparse.Namespace, out: TextIO) -> int:
    """The most frequent questions the bot could not answer."""
    from bot.state.store import Store

    settings = _settings(args)
    with Store(settings.db) as store:
        rows = store.unanswered(args.limit)
    if args.json:
        out.write(json.dumps([{"question": q, "count": n} for q, n in rows], ensure_ascii=False) + "\n")
        return 0
    if not rows:
        out.write("暂时没有未能回答的问题。\n")
        return 0
    out.write(" 次数  问题\n")
    for question, count in rows:
        out.write(f"{count:>5}  {question}\n")
    return 0


def cmd_ingest(args: argparse.Namespace, out: TextIO) -> int:
    """Write the draft (stdout or -o) and the review report (stderr), never clobbering a file."""
    from bot.knowledge.ingest.draft import ingest_file

    source = Path(args.notice)
    target = Path(args.output) if args.output else None
    if target is not None and target.exists() and not args.force:
        print(f"{target} 已存在，未覆盖（如要覆盖请加 --force）", file=sys.stderr)
        return 1
    try:
        data = source.read_bytes()
    except OSError as exc:
        print(f"无法读取 {source}：{exc.strerror}", file=sys.stderr)
        return 2
    try:
        result = ingest_file(data, source.name, doc_id=args.id)
    except ValueError as exc:  # NoticeError too: an unreadable, scanned or empty file
        print(f"{source.name}：未生成草稿。{exc}", file=sys.stderr)
        return 2
    rendered = result.yaml()
    if target is None:
        out.write(rendered)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rendered, encoding="utf-8")
    print(result.report.text(), file=sys.stderr)
    if target is not None:
        print(f"草稿已写入 {target}", file=sys.stderr)
    return 0


def read_password(prompt: str) -> str:
    """A password from the terminal without echo (asked twice), or one line of piped stdin."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass(prompt)
        if getpass.getpass("再输入一次：") != first:
            raise ValueError("两次输入的密码不一致。")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_users(args: argparse.Namespace, out: TextIO) -> int:
    """Staff console accounts: add, list, passwd, remove (passwords never on the command line)."""
    from bot.state.accounts import ROLE_NAMES, Accounts
    from bot.state.store import Store

    settings = _settings(args)
    now = datetime.now(settings.zone)
    with Store(settings.db) as store:
        accounts = Accounts(store)
        try:
            if args.action == "list":
                rows = accounts.all()
                if not rows:
                    out.write("还没有账户。新增：.venv/bin/python run_bot.py users add 用户名 --role admin\n")
                for a in rows:
                    state = "，已锁定" if a.locked(now) else ""
                    out.write(f"{a.name}\t{ROLE_NAMES.get(a.role, a.role)}{state}\n")
                return 0
            if not args.name:
                raise ValueError(f"users {args.action} 需要用户名。")
            if args.action == "add":
                accounts.add(args.name, args.role, read_password(f"{args.name} 的密码："), now)
                accounts.audit("命令行", "add-user", f"{args.name}（{ROLE_NAMES.get(args.role, args.role)}）", now)
                out.write(f"已新增账户 {args.name}（{ROLE_NAMES.get(args.role, args.role)}），登录地址 /admin/login\n")
            elif args.action == "passwd":
                accounts.set_password(args.name, read_password(f"{args.name} 的新密码："))
                accounts.audit("命令行", "passwd", args.name, now)
                out.write(f"已修改 {args.name} 的密码，其已登录的会话全部失效。\n")
            elif accounts.remove(args.name):
                accounts.audit("命令行", "remove-user", args.name, now)
                out.write(f"已删除账户 {args.name}。\n")
            else:
                raise ValueError(f"没有账户 {args.name}。")
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """All subcommands share --now, --knowledge and --intents."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--now", help="answer as if it were this ISO-8601 time (default: now)")
    common.add_argument("--knowledge", help=f"knowledge folder (default {ROOT / 'knowledge'})")
    common.add_argument("--intents", help=f"intents file (default {ROOT / 'intents.yaml'})")
    common.add_argument("--db", help="SQLite file (default data/bot.sqlite3 or BOT_DB)")
    parser = argparse.ArgumentParser(prog="run_bot.py", description="质量月问答机器人")
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", parents=[common], help="answer one question")
    ask.add_argument("question", nargs="*")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--jsonl", action="store_true", help="read questions from stdin, one JSON object a line")
    ask.set_defaults(func=cmd_ask)
    sub.add_parser("chat", parents=[common], help="interactive chat in the terminal").set_defaults(func=cmd_chat)
    sub.add_parser("check", parents=[common], help="validate knowledge and intents").set_defaults(func=cmd_check)
    ev = sub.add_parser("eval", parents=[common], help="score a question set")
    ev.add_argument("file", nargs="?", help="a question or dialogue set (default: every set in tests/data/eval_sets.yaml)")
    ev.add_argument("--min", type=float, default=0.0, help="exit 1 below this pass rate (0-1)")
    ev.add_argument("-v", "--verbose", action="store_true", help="list the failures of every set")
    ev.set_defaults(func=cmd_eval)
    serve_p = sub.add_parser("serve", parents=[common], help="run the web chat, WeChat, Telegram and reminders")
    serve_p.add_argument("--host", help="listen address (default 127.0.0.1 or BOT_HOST)")
    serve_p.add_argument("--port", type=int, help="listen port (default 8080 or BOT_PORT)")
    serve_p.set_defaults(func=cmd_serve)
    rem = sub.add_parser("reminders", parents=[common], help="print the reminder schedule, or `send` what is due")
    rem.add_argument("action", nargs="?", choices=["list", "send"], default="list")
    rem.add_argument("--json", action="store_true", help="print JSON instead of lines")
    rem.set_defaults(func=cmd_reminders)
    st = sub.add_parser("stats", parents=[common], help="questions, answer and feedback rates, subscribers, reminders")
    st.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    st.set_defaults(func=cmd_stats)
    fg = sub.add_parser("forget", parents=[common], help="delete everything kept about one user")
    fg.add_argument("channel", choices=["wechat", "wecom", "telegram", "web"])
    fg.add_argument("user", help="openid, userid, Telegram id or web session id")
    fg.set_defaults(func=cmd_forget)
    un = sub.add_parser("unanswered", parents=[common], help="most frequent questions without an answer")
    un.add_argument("--limit", type=int, default=20)
    un.add_argument("--json", action="store_true", help="print a JSON list instead of the table")
    un.set_defaults(func=cmd_unanswered)
    users = sub.add_parser("users", parents=[common], help="staff console accounts (password read from stdin)")
    users.add_argument("action", choices=["add", "list", "passwd", "remove"])
    users.add_argument("name", nargs="?", default="")
    users.add_argument("--role", choices=["admin", "editor"], default="editor", help="for add (default editor)")
    users.set_defaults(func=cmd_users)
    p = sub.add_parser("ingest", help="draft knowledge YAML from a notice (.txt, .docx, .pdf, .html)")
    p.add_argument("notice", help="the notice file: .txt (UTF-8 or GBK), .docx, text .pdf or a saved .html page")
    p.add_argument("-o", "--output", help="write here (e.g. knowledge/NAME.yaml) instead of stdout")
    p.add_argument("--id", help="document id (default from issuer, year and campaign)")
    p.add_argument("--force", action="store_true", help="overwrite an existing -o file")
    p.set_defaults(func=cmd_ingest)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of run_bot.py."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "ask" and not args.jsonl and not args.question:
        parser.error("ask needs a question (or --jsonl)")
    try:
        return int(args.func(args, sys.stdout) or 0)
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except BrokenPipeError:  # `ask … | head` closed the pipe: not an error worth a traceback
        sys.stderr.close()
        return 0
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
        return 2
