"""Segmentation: user dictionary, case, stopwords, bigrams."""

from __future__ import annotations

import pytest

from techfin.search.analysis import bigrams, query_terms, segment


@pytest.mark.parametrize(
    ("text", "must_contain"),
    [
        ("物联网芯片", ["物联网", "芯片"]),
        ("专精特新小巨人", ["专精特新"]),
        ("申请知识产权质押融资", ["知识产权质押融资"]),
        ("科技型中小企业", ["科技型中小企业"]),
        ("LED照明", ["led", "照明"]),
        ("ＬＥＤ照明", ["led"]),
        ("锂电池储能", ["锂电池", "储能"]),
        ("科技支行的风险准备金", ["科技支行", "风险准备金"]),
    ],
)
def test_segment_uses_user_dictionary(text: str, must_contain: list[str]) -> None:
    tokens = segment(text)
    for word in must_contain:
        assert word in tokens


def test_segment_drops_stopwords_punctuation_and_spaces() -> None:
    tokens = segment("我们的 产品，和 服务！\x00")
    assert tokens == ["产品", "服务"]


def test_segment_handles_empty() -> None:
    assert segment("") == []


def test_bigrams_cover_every_substring_of_two_characters() -> None:
    assert bigrams("芯片设计") == ["芯片", "片设", "设计"]
    assert bigrams("灯") == ["灯"]
    assert bigrams("Lighting 5G") == ["light", "5g"]


def test_query_terms_ignore_syntax() -> None:
    assert query_terms('title:"芯片" AND (LED') == ["title", "芯片", "led"]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("暗号词0号", ["暗号词", "0", "号"]),
        ("LED照明灯", ["led", "照明灯"]),
        ("深圳芯片企业", ["深圳", "芯片", "企业"]),
        ("芯片的设计", ["芯片", "设计"]),
        ("灯 具", ["灯", "具"]),
    ],
)
def test_query_terms_glue_single_characters(query: str, words: list[str]) -> None:
    assert query_terms(query) == words
