"""The review report of one ingest: what was found, what was not, and every line staff must look at.

`run_bot.py ingest` prints it; the staff console renders `Report.to_dict()`. Messages are Chinese
because staff read them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.core.text import cn_date


@dataclass(frozen=True)
class Leftover:
    """A notice line the ingest could not place: staff must look at it."""

    line: int
    text: str

    def __str__(self) -> str:
        return f"第{self.line}行：{self.text}"


@dataclass(frozen=True)
class Ignored:
    """A line left out on purpose: page furniture of a web page, a PDF or an aggregator."""

    line: int
    text: str
    reason: str


@dataclass
class Report:
    """What one ingest found and did not find, for staff to review before the draft goes live."""

    source: str = ""
    format: str = "txt"
    encoding: str = ""
    facts: dict[str, str] = field(default_factory=dict)  # 发文单位, 文号, 发文日期, 标题, 主送单位: "" = not found
    fact_sources: dict[str, str] = field(default_factory=dict)  # where each fact was read (落款, 文头 …)
    sections: list[str] = field(default_factory=list)
    deadlines: list[dict[str, str]] = field(default_factory=list)
    contacts: list[dict[str, str]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)  # name, has_body
    missing: list[str] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    leftover: list[Leftover] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data for the staff console."""
        return asdict(self)

    def text(self) -> str:
        """The report as staff read it in a terminal."""
        out = [f"导入报告：{self.source or '（未命名文件）'}（{_format(self)}）", "", "【找到的要素】"]
        for label, value in self.facts.items():
            where = self.fact_sources.get(label, "")
            out.append(f"  {label}：{value}" + (f"（取自{where}）" if where and value else "") if value else f"  {label}：未找到")
        out.append(f"  正文章节：{len(self.sections)} 个" + (f"（{'；'.join(self.sections[:12])}）" if self.sections else ""))
        out.append(f"【截止时间】{len(self.deadlines)} 项")
        for d in self.deadlines:
            parts = [f"{d['date']}", f"报送：{d.get('what') or '未写明'}"]
            parts.append(f"方式：{d['how']}" if d.get("how") else "方式：未写明")
            parts.append(f"报送给：{d['to']}" if d.get("to") else "报送给：未写明")
            out.append("  · " + "；".join(parts))
        out.append(f"【联系人】{len(self.contacts)} 位")
        for c in self.contacts:
            fields = [f"{k}{c[key]}" for key, k in (("office", ""), ("phone", "电话"), ("mobile", "手机"), ("fax", "传真"), ("email", "邮箱")) if c.get(key)]
            out.append(f"  · {c['name']}：" + "，".join(fields))
        out.append(f"【表格】{len(self.tables)} 张")
        for t in self.tables:
            out.append(f"  · {t['title']}：{len(t['columns'])} 列（{'、'.join(t['columns'])}），{t['rows']} 行")
        out.append(f"【附件】{len(self.attachments)} 个")
        for a in self.attachments:
            state = "正文已导入" if a["has_body"] else "只列了名称，通知里没有附件正文：未导入，请另行补充"
            out.append(f"  · {a['name']}：{state}")
        if self.missing:
            out.append("【未找到（草稿中不写，机器人也不会回答）】")
            out.extend(f"  · {m}" for m in self.missing)
        if self.ignored:
            out.append(f"【已忽略的网页/PDF 附带内容】{len(self.ignored)} 行")
            out.extend(f"  第{x.line}行（{x.reason}）：{x.text}" for x in self.ignored[:40])
        out.append(f"【未归位的行】{len(self.leftover)} 行" + ("：请逐行核对，必要时手工补入草稿" if self.leftover else ""))
        out.extend(f"  {x}" for x in self.leftover)
        if self.notes:
            out.append("【提示】")
            out.extend(f"  · {n}" for n in self.notes)
        out.append("")
        out.append("请核对草稿：标记 generated: true 的条目是自动生成的问法，改好后删除该标记，再运行 run_bot.py check。")
        return "\n".join(out)


def _format(report: Report) -> str:
    names = {"txt": "文本文件", "docx": "Word 文件", "pdf": "PDF 文件", "html": "网页文件"}
    name = names.get(report.format, report.format)
    return f"{name}，{report.encoding.upper()} 编码" if report.encoding and report.format in ("txt", "html") else name


def day(value: dt.date | None) -> str:
    """A date as the report shows it."""
    return cn_date(value) if value else ""
