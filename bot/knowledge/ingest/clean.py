"""The lines of a notice's text: a matching form of each, and the page furniture a copy brings along.

Matching runs on `canon(text)`, which has the same length as the text (one character for one), so
every span found in it cuts the verbatim text: traditional script, ASCII punctuation and
full-width digits all match the same patterns, and what is quoted stays as printed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import zhconv

_PUNCT = {",": "，", ":": "：", ";": "；", "(": "（", ")": "）", "?": "？", "!": "！", "[": "〔", "]": "〕",
          "［": "〔", "］": "〕", "【": "【", "\u3000": " ", "\u00a0": " ", "\t": "\t", "：": "：", "∶": "："}


@lru_cache(maxsize=8192)
def _canon_char(ch: str) -> str:
    if ch in _PUNCT:
        return _PUNCT[ch]
    folded = unicodedata.normalize("NFKC", ch)
    if len(folded) != 1:
        folded = ch
    if folded in _PUNCT:
        return _PUNCT[folded]
    simple = zhconv.convert(folded, "zh-hans") if "\u3400" <= folded <= "\u9fff" else folded
    return simple if len(simple) == 1 else folded


def canon(text: str) -> str:
    """Same length as `text`: simplified script, full-width Chinese punctuation, ASCII digits and letters."""
    return "".join(_canon_char(ch) for ch in text)


def ideograph(ch: str) -> bool:
    """A CJK character (not punctuation)."""
    return "\u3400" <= ch <= "\u9fff"


def _wide(ch: str) -> bool:
    return ord(ch) >= 0x2000


def tidy(text: str) -> str:
    """Drop the spaces extraction puts between Chinese and Latin text, keep those between two phrases."""
    text = text.strip(" \u3000\t")

    def fix(m: re.Match[str]) -> str:
        before, after = text[m.start() - 1], text[m.end()]
        if ideograph(before) and ideograph(after):
            return " "
        if _wide(before) or _wide(after):
            return ""
        return " "

    return re.sub(r"(?<=.)[ \u3000\u00a0]+(?=.)", fix, text)


def squeeze_spaced(text: str) -> str:
    """'广 州 市 住 房 …' (a spaced red-head or label) → '广州市住房…'."""
    if re.fullmatch(r"(?:\S[ \u3000]+){3,}\S", text.strip()) and all(len(p) == 1 for p in text.split()):
        return "".join(text.split())
    return text


# -- page furniture ------------------------------------------------------------------------------

# Lines a web page, a PDF or a tender aggregator adds around a notice: never part of it.
_FURNITURE = [
    (re.compile(r"^[-—–－\s]*\d{1,3}[-—–－\s]*$|^第\s*\d+\s*页(?:\s*[，/]?\s*共\s*\d+\s*页)?$"), "页码"),
    (re.compile(r"(首页|当前位置|所在的?位置|您的位置)\s*[>＞»›]|^(首页|网站首页)\s*[|｜]|^[^。，]{0,30}[>＞»›][^。，]{0,20}[>＞»›]"), "网页导航"),
    (re.compile(r"分享到|【?\s*字体\s*：|【\s*打印|【\s*关闭|打印本页|关闭窗口|^\s*[【\[]?\s*(打印|关闭|收藏|返回顶部)\s*[】\]]?\s*$"), "网页按钮"),
    (re.compile(r"(浏览|点击|阅读|访问)(次数|量)?\s*：\s*\d+|浏览器版本|升级浏览器|支持IPv6|无障碍|长者模式|^欢迎访问"), "网页提示"),
    (re.compile(r"^(上一篇|下一篇|上一条|下一条)\s*："), "网页链接"),
    (re.compile(r"版权所有|ICP备|网站标识码|^主办\s*：|^承办\s*：|技术支持\s*：|Processed in"), "网站页脚"),
    (re.compile(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}(\s+\d{1,2}：\d{2}(：\d{2})?)?$"), "网页发布信息"),
    (re.compile(r"^(发布时间|发布日期|信息来源|来源)\s*：\s*(\d{4}[-/年]|本网|\S{2,20}\s+(浏览|点击))"), "网页发布信息"),
    (re.compile(r"^\S{2,8}\s*[-－]\s*$|^(公告摘要|公告正文|项目概况)$"), "网页模板字段"),
    (re.compile(r"^(相关附件|附件下载)\s*：?\s*$|^(附件\s*\d*\s*：?\s*)?\S{1,60}\.(docx?|pdf|xlsx?|wps|zip|rar)$", re.I), "网页附件链接"),
]
_RELATED = re.compile(r"^(相关公告|相关链接|相关文章|相关新闻|相关阅读|推荐阅读|热点文章)\s*：?$")
_METADATA = re.compile(r"^[•·\-*]?\s*(名称|标题|文号|发文字号|发布机构|发文机关|发文单位|分类|主题分类|成文日期|发布日期|索引号|主题词)\s*：(.*)$")


@dataclass
class Line:
    """One line of the notice as read: its number in the file, its text, and its matching form."""

    no: int
    text: str
    key: str
    dropped: str = ""  # why it is page furniture, or "" when it belongs to the notice


def read_lines(text: str) -> list[Line]:
    """The file's lines, with page furniture marked, and a metadata block (名称：/文号：) kept as such."""
    raw = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    lines: list[Line] = []
    related = False
    for no, original in enumerate(raw, 1):
        stripped = squeeze_spaced(original.rstrip().lstrip(" \u3000\u00a0"))
        key = canon(stripped)
        line = Line(no, stripped, key)
        if key.strip() and related:
            line.dropped = "网页相关链接"
        elif key.strip():
            if _RELATED.match(key.strip()):
                related, line.dropped = True, "网页相关链接"
            else:
                line.dropped = next((why for pattern, why in _FURNITURE if pattern.search(key.strip())), "")
        lines.append(line)
    return lines


def metadata(key: str) -> tuple[str, str] | None:
    """A site's metadata row ('文号：粤建质〔2024〕208号') as (label, value), else None."""
    m = _METADATA.match(key.strip())
    return (m.group(1), m.group(2).strip()) if m else None
