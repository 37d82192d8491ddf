"""Staff-written reply templates: a fact the notice lacks leaves no empty brackets or dangling lines."""

from __future__ import annotations

from bot.core.compose import fill


def test_a_line_whose_facts_are_all_missing_is_left_out() -> None:
    template = "抱歉，《{title}》（{number}）里没有。\n我可以回答：{topics}。\n如需进一步咨询，请联系{contact}。"
    assert fill(template, title="某通知", number="", topics="", contact="") == "抱歉，《某通知》里没有。"
    full = fill(template, title="某通知", number="粤建质〔2021〕1号", topics="主题", contact="张三")
    assert full.splitlines() == ["抱歉，《某通知》（粤建质〔2021〕1号）里没有。", "我可以回答：主题。", "如需进一步咨询，请联系张三。"]


def test_a_clause_whose_fact_is_missing_goes_and_the_rest_of_the_line_stays() -> None:
    line = "{name}，电话{phone}，手机{mobile}，邮箱{email}"
    assert fill(line, name="张三", phone="", mobile="13800000000", email="") == "张三，手机13800000000"
    assert fill("请联系{name}，电话{phone}。", name="张三", phone="") == "请联系张三。"
    assert fill("没有占位符的一行\n{x}", x="") == "没有占位符的一行"


def test_a_broken_template_is_shown_as_written_rather_than_crashing() -> None:
    assert fill("联系{contact", contact="张三") == "联系{contact"
