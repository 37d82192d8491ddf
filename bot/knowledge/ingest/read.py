"""A notice file as staff have it (.txt, .docx, .pdf, saved .html) → its text, one paragraph a line.

Every format ends as the same kind of text, so one parser reads them all and the same notice gives
the same draft whatever file it came in: table rows become cells joined by tabs, a PDF's page
numbers and running headers go, and lines a PDF broke inside a paragraph are joined again.
"""

from __future__ import annotations

import io
import re
import statistics
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from lxml import html as lxml_html

MIN_TEXT = 20  # characters: less than this is no notice (an empty file, a scanned page)
PAGE_NUMBER = re.compile(r"^\s*(?:[-—–－]+\s*\d{1,3}\s*[-—–－]+|第\s*\d{1,3}\s*页(?:\s*[,，/]?\s*共\s*\d{1,3}\s*页)?|\d{1,3}\s*/\s*\d{1,3})\s*$")
MARKER = re.compile(r"^\s*(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[）)]|\d{1,2}[.．、]|附件|联系人|联系电话|电话|传真|邮箱)")


class NoticeError(ValueError):
    """A file that cannot be read as a notice; the message is for staff, in Chinese."""


@dataclass(frozen=True)
class NoticeText:
    """The text of a notice file, and how it was read (shown in the review report)."""

    text: str
    format: str
    encoding: str = ""
    pages: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def read_notice(data: bytes, filename: str) -> NoticeText:
    """The text of an uploaded or saved notice; NoticeError (in Chinese) when it holds none."""
    kind = _kind(data, filename)
    if kind == "docx":
        result = _docx(data)
    elif kind == "pdf":
        result = _pdf(data)
    elif kind == "html":
        text, encoding = decode_text(data, html=True)
        result = NoticeText(html_text(text), "html", encoding)
    else:
        text, encoding = decode_text(data)
        result = NoticeText(text, "txt", encoding)
    if len(re.sub(r"\s", "", result.text)) < MIN_TEXT:
        raise NoticeError(f"{filename}：文件里几乎没有文字，无法生成草稿。")
    return result


def _kind(data: bytes, filename: str) -> str:
    """The format, from the file's first bytes first and its name second (downloads are often misnamed)."""
    name = filename.lower()
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix in ("doc", "wps"):
        raise NoticeError(f"{filename}：不支持旧版 Word/WPS 格式（.{suffix}），请另存为 .docx 后再导入。")
    if data.startswith(b"%PDF"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        if suffix not in ("docx", ""):
            raise NoticeError(f"{filename}：这是一个压缩包或 Office 文件，只能导入 .docx、.pdf、.html 和 .txt。")
        return "docx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise NoticeError(f"{filename}：这是旧版 Word/WPS 文件（.doc），请另存为 .docx 后再导入。")
    if suffix in ("docx", "pdf"):
        raise NoticeError(f"{filename}：文件内容不是 .{suffix} 格式，可能已损坏。")
    head = data[:2048].lower()
    if suffix in ("html", "htm", "shtml", "mht") or b"<html" in head or b"<!doctype html" in head:
        return "html"
    return "txt"


def decode_text(data: bytes, html: bool = False) -> tuple[str, str]:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (which covers GBK and GB2312)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    candidates = ["utf-8-sig", "gb18030"]
    if html:
        declared = re.search(rb"<meta[^>]+charset\s*=\s*[\"']?([\w-]+)", data[:4096], re.I)
        if declared:
            name = declared.group(1).decode("ascii").lower()
            candidates.insert(0, "gb18030" if name in ("gbk", "gb2312", "gb18030") else name)
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if "\x00" in text:
            break
        return text, "utf-8" if encoding == "utf-8-sig" else encoding
    raise NoticeError("无法识别文件的文字编码（不是 UTF-8，也不是 GBK/GB18030），请另存为 UTF-8 文本后再导入。")


# -- .docx -----------------------------------------------------------------------------------


def _docx(data: bytes) -> NoticeText:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, etree.XMLSyntaxError) as exc:
        raise NoticeError("无法打开这个 Word 文件：文件可能已损坏，或不是 .docx 格式。") from exc
    lines: list[str] = []
    body = document.element.body
    for child in body.iterchildren():
        tag = etree.QName(child).localname
        if tag == "p":
            lines.extend(Paragraph(child, document).text.split("\n"))
        elif tag == "tbl":
            lines.extend(_docx_rows(Table(child, document)))
    return NoticeText("\n".join(lines), "docx")


def _docx_rows(table: Any) -> list[str]:
    """Each row once, each merged cell once, a cell's own paragraphs run together."""
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append("".join(p.text.strip() for p in cell.paragraphs))
        rows.append("\t".join(cells))
    return rows


# -- .pdf ------------------------------------------------------------------------------------


@dataclass
class _Line:
    text: str
    x0: float
    x1: float
    top: float
    page: int
    height: float
    table: bool = False


def _pdf(data: bytes) -> NoticeText:
    import pdfplumber
    from pdfminer.pdfparser import PDFSyntaxError

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except (PDFSyntaxError, ValueError, KeyError, TypeError) as exc:
        raise NoticeError("无法打开这个 PDF 文件：文件可能已损坏或已加密。") from exc
    except Exception as exc:  # pdfminer raises its own types for encryption and broken streams
        raise NoticeError("无法打开这个 PDF 文件：文件可能已损坏或已加密。") from exc
    with pdf:
        lines: list[_Line] = []
        images = 0
        try:
            for number, page in enumerate(pdf.pages):
                images += len(page.images)
                lines.extend(_page_lines(page, number))
        except Exception as exc:
            raise NoticeError("这个 PDF 文件读到一半出错，可能已损坏。") from exc
        pages = len(pdf.pages)
    chars = sum(len(line.text.strip()) for line in lines)
    if chars < MIN_TEXT * max(1, pages) // 2:
        if images:
            raise NoticeError(
                "这个 PDF 是扫描件或图片，没有可提取的文字。请向发文单位索取 Word 版或可复制文字的 PDF，"
                "或把文字复制到 .txt 文件后再导入。"
            )
        raise NoticeError("这个 PDF 里没有可提取的文字，无法生成草稿。")
    lines, dropped = _drop_running_lines(lines, pages)
    notes = (f"已去掉 PDF 的页码和页眉页脚 {dropped} 行",) if dropped else ()
    return NoticeText("\n".join(_join_pdf_lines(lines)), "pdf", pages=pages, notes=notes)


def _page_lines(page: Any, number: int) -> list[_Line]:
    """The page's text lines and table rows, top to bottom."""
    tables = page.find_tables()
    out: list[_Line] = []
    for table in tables:
        for row, cells in zip(table.rows, table.extract(), strict=False):
            text = "\t".join(re.sub(r"\s*\n\s*", "", c or "") for c in cells if c is not None)
            if text.strip():
                top = row.bbox[1]
                out.append(_Line(text, row.bbox[0], row.bbox[2], top, number, row.bbox[3] - top, True))
    rest = page
    for table in tables:
        rest = rest.outside_bbox(table.bbox)
    for line in rest.extract_text_lines(return_chars=False):
        out.append(_Line(line["text"], line["x0"], line["x1"], line["top"], number, line["bottom"] - line["top"]))
    out.sort(key=lambda x: x.top)
    for line in out:
        line.top += number * 10_000  # one running order over all pages
    return out


def _drop_running_lines(lines: list[_Line], pages: int) -> tuple[list[_Line], int]:
    """Page numbers ("— 2 —"), and a header or footer printed on every page."""
    if pages > 1:
        firsts = Counter(_digitless(ls[0].text) for ls in _by_page(lines) if ls)
        lasts = Counter(_digitless(ls[-1].text) for ls in _by_page(lines) if ls)
        running = {t for t, n in (firsts + lasts).items() if n >= max(2, pages - 1) and t}
    else:
        running = set()
    kept = [x for x in lines if x.table or not (PAGE_NUMBER.match(x.text) or _digitless(x.text) in running)]
    return kept, len(lines) - len(kept)


def _by_page(lines: list[_Line]) -> list[list[_Line]]:
    pages: dict[int, list[_Line]] = {}
    for line in lines:
        pages.setdefault(line.page, []).append(line)
    return list(pages.values())


def _digitless(text: str) -> str:
    return re.sub(r"[\d\s]", "", text)


def _join_pdf_lines(lines: list[_Line]) -> list[str]:
    """Rejoin a paragraph the page width broke: a line reaching the right margin runs on into an unindented next line."""
    text_lines = [x for x in lines if not x.table and len(x.text) >= 8]
    if not text_lines:
        return [x.text for x in lines]
    left = min(Counter(round(x.x0) for x in text_lines).most_common(3))[0]
    right = statistics.median(x.x1 for x in text_lines)
    em = statistics.median(x.height for x in text_lines) or 10.0
    out: list[str] = []
    previous: _Line | None = None
    for line in lines:
        joins = (
            previous is not None
            and not line.table
            and not previous.table
            and previous.x1 >= right - 2.5 * em  # a Latin word that did not fit leaves a wider gap
            and previous.x0 <= left + 2.5 * em  # not a centred or right-aligned line (title, date)
            and line.x0 <= left + 0.5 * em
            and not MARKER.match(line.text)
        )
        if joins:
            out[-1] += line.text
        else:
            out.append(line.text)
        previous = line
    return out


# -- .html -----------------------------------------------------------------------------------

_DROP_TAGS = ("script", "style", "noscript", "iframe", "nav", "footer", "aside", "form", "select", "button", "head", "object")
_DROP_CLASS = re.compile(r"(^|[\s_-])(nav|navbar|menu|breadcrumbs?|crumbs?|share|footer|copyright|sidebar)($|[\s_-])", re.I)
_BLOCKS = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "table", "tr", "section", "article",
    "blockquote", "pre", "dd", "dt", "dl", "center", "header", "main", "br", "hr", "caption", "tbody",
}


def html_text(markup: str) -> str:
    """The visible text of a saved page, one block a line, data tables as tab-separated rows.

    Scripts, navigation bars, breadcrumbs, share buttons and footers go here; what is left of the
    site around the article (counters, 【字体：大 中 小】, 打印本页) the parser recognises as page furniture.
    """
    try:
        root = lxml_html.document_fromstring(markup)
    except (etree.ParserError, ValueError) as exc:
        raise NoticeError("无法解析这个网页文件。") from exc
    for element in list(root.iter()):
        if not isinstance(element.tag, str):  # comments and processing instructions
            continue
        tag = element.tag.lower()
        marks = f"{element.get('class', '')} {element.get('id', '')}"
        if element.getparent() is not None and (tag in _DROP_TAGS or _DROP_CLASS.search(marks)):
            element.drop_tree()
    body = root.find("body")
    parts: list[str] = []
    _walk(body if body is not None else root, parts)
    lines = [re.sub(r"[ \t\u00a0\u3000]+", " ", line).strip() if "\t" not in line else line for line in "".join(parts).split("\n")]
    return "\n".join(line for line in lines if line.strip())


def _walk(element: Any, parts: list[str]) -> None:
    if not isinstance(element.tag, str):  # a comment: only the text after it is shown
        parts.append(element.tail or "")
        return
    tag = element.tag.lower()
    if tag == "table" and _is_data_table(element):
        parts.append("\n")
        for row in element.iter("tr"):
            cells = [re.sub(r"\s+", "", c.text_content()) for c in row if isinstance(c.tag, str) and c.tag.lower() in ("td", "th")]
            parts.append("\t".join(cells) + "\n")
        parts.append(element.tail or "")
        return
    block = tag in _BLOCKS
    if block:
        parts.append("\n")
    if tag in ("td", "th"):
        parts.append(" ")
    parts.append(element.text or "")
    for child in element:
        _walk(child, parts)
    if block:
        parts.append("\n")
    parts.append(element.tail or "")


def _is_data_table(table: Any) -> bool:
    """A table of facts (rows of cells), not a page laid out with tables."""
    if table.find(".//table") is not None:
        return False
    rows = [r for r in table.iter("tr") if len([c for c in r if isinstance(c.tag, str) and c.tag.lower() in ("td", "th")]) >= 2]
    return len(rows) >= 2
