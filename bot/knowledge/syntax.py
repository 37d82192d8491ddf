"""YAML syntax errors told in plain Chinese: staff who edit a notice file never read PyYAML's jargon.

The parser names what it expected ("could not find expected ':'"); staff need to know what they
typed: a Tab, a Chinese colon, a missing "- ", a quote left open. Each rule reads the parser's
message and the offending line, and says what to change there. Unknown errors keep the parser's
own words after a plain lead-in, so nothing is lost.
"""

from __future__ import annotations


def explain(exc: Exception, text: str) -> tuple[int, str]:
    """The 1-based line to look at and what to change there (PyYAML's and ruamel.yaml's errors alike)."""
    problem = (getattr(exc, "problem", None) or "").lower()
    context = (getattr(exc, "context", None) or "").lower()
    problem_mark, context_mark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    mark = problem_mark or context_mark
    line = mark.line + 1 if mark else 1
    at_context = context_mark.line + 1 if context_mark else line
    lines = text.split("\n")

    def source(n: int) -> str:
        return lines[n - 1] if 0 < n <= len(lines) else ""

    found = _char_at(text, problem_mark)
    if "tab" in problem or found == "\t" or "\t" in source(line)[: len(source(line)) - len(source(line).lstrip())]:
        return line, "这一行用了制表符（Tab）缩进。YAML 只认空格：请把 Tab 换成空格，与同一层的其他行对齐。"
    if "could not find expected ':'" in problem:
        key_line = at_context
        if "：" in source(key_line):
            return key_line, "这一行用了中文冒号“：”。请改成英文冒号“:”，并在后面加一个空格，例如 title: 标题。"
        return key_line, (
            "这一行缺少冒号：每一项应写成“名称: 内容”（冒号后有一个空格）；如果它是列表中的一项，行首要加“- ”。"
        )
    if "mapping values are not allowed" in problem:
        previous = source(line - 1)
        if "：" in previous and ":" not in previous:
            return line - 1, "这一行用了中文冒号“：”。请改成英文冒号“:”，并在后面加一个空格。"
        return line, (
            "这一行的内容里还有一个“: ”，YAML 会把它当成新的名称。请把冒号后的整段内容用引号括起来，"
            "例如 text: \"联系人: 张三\"。"
        )
    if "'-' indicator" in problem or ("block collection" in context and "block end" in problem):
        return line, "这一行缺少列表符号“- ”，或者它的缩进与同一列表的其他项没有对齐。"
    if "block mapping" in context and ("expected key" in problem or "block end" in problem):
        opened = next((n for n in range(at_context, line) if source(n).count('"') % 2), 0)
        if opened:  # a quote left open runs on to the next quote, lines below
            return opened, "这一行的引号没有配对：一个引号开了头却没有结束。请补上结尾的引号。"
        if _quote_then_text(source(line)):
            return line, "这一行引号结束后还有文字。请把整段内容都放进引号里，或去掉引号。"
        return line, "这一行的缩进与上面同一层的项不一致：同一层的名称要用空格左边对齐。"
    if "quoted scalar" in context:
        return at_context, "这一行的引号没有配对：一个引号开了头却没有结束。请补上结尾的引号。"
    if "flow sequence" in context or "flow mapping" in context:
        return at_context, "这一行的方括号“[ ]”或花括号“{ }”没有配对，或里面的项没有用英文逗号“,”隔开。"
    if "undefined alias" in problem or found == "*":
        return line, "以“*”开头的内容在 YAML 中有特殊含义。请把这段内容用引号括起来。"
    if "cannot start any token" in problem:
        shown = f"“{found}”" if found and found.strip() else "这个字符"
        return line, f"{shown}不能出现在内容的开头。请把这段内容用引号括起来。"
    words = " ".join(x for x in (getattr(exc, "context", None), getattr(exc, "problem", None)) if x) or str(exc)
    return line, f"格式有误，无法读懂这一行（解析器提示：{words}）。"


def _char_at(text: str, mark: object) -> str:
    index = getattr(mark, "index", -1)
    return text[index] if isinstance(index, int) and 0 <= index < len(text) else ""


def _quote_then_text(line: str) -> bool:
    value = line.split(":", 1)[1].strip() if ":" in line else ""
    if len(value) < 2 or value[0] not in "\"'":
        return False
    end = value.find(value[0], 1)
    return 0 < end < len(value) - 1 and bool(value[end + 1 :].strip())
