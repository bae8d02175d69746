"""jieba TF-IDF text relevance, money display, and every reason / gap rendering."""

from __future__ import annotations

import numpy as np
import pytest

from techfin.matching import Gap, Reason, TextSpace, render_gap, render_reason
from techfin.matching.reasons import REASON_CODES, display_name, wan
from techfin.matching.text import cosine

DOCS = [
    "知识产权质押融资 发明专利 评估 科技型中小企业",
    "集成电路芯片设计研发流片资金",
    "LED 智能照明 灯饰 生产线 扩建",
    "物联网 传感器 智慧城市 平台",
]


def test_chinese_text_is_segmented_not_kept_as_one_run() -> None:
    space = TextSpace.fit(DOCS)
    vocab = space.vectorizer.vocabulary_
    assert {"质押", "融资", "芯片", "集成电路", "传感器", "照明"} <= set(vocab)
    # scikit-learn's default token_pattern would keep each run of Chinese as one token.
    assert "集成电路" in vocab and "集成电路芯片设计研发流片资金" not in vocab
    assert max(len(t) for t in vocab) <= 8


def test_single_text_vector_equals_sklearn_transform() -> None:
    space = TextSpace.fit(DOCS)
    for text in [*DOCS, "芯片 芯片 芯片", "完全无关的文字", ""]:
        dense = space.transform([text]).toarray()[0]
        np.testing.assert_allclose(space.dense(text), dense, rtol=1e-12, atol=1e-15)
        w = space.weights(text)
        np.testing.assert_allclose(
            [w.get(j, 0.0) for j in range(space.size)], dense, rtol=1e-12, atol=1e-15
        )


def test_unseen_words_count_in_the_length_with_the_idf_of_an_unseen_word() -> None:
    space = TextSpace.fit(DOCS)
    text = "芯片 芯片 芯片 知识产权"  # 知识产权 is not in DOCS' vocabulary
    assert "知识产权" not in space.vectorizer.vocabulary_
    sklearn = space.transform([text]).toarray()[0]  # drops the unseen word before norming
    ours = space.dense(text)
    # Same direction, shorter by exactly the unseen words' share of the length.
    from collections import Counter

    from techfin.matching.text import _tokens

    vocab, idf = space.vectorizer.vocabulary_, space.vectorizer.idf_
    counts = Counter(_tokens(text))
    seen = [(np.log(c) + 1) * idf[vocab[t]] for t, c in counts.items() if t in vocab]
    unseen_idf = np.log((1 + len(DOCS)) / 1) + 1  # sklearn's smooth idf for df = 0
    unseen = [(np.log(c) + 1) * unseen_idf for t, c in counts.items() if t not in vocab]
    assert seen and unseen
    share = np.linalg.norm(seen) / np.hypot(np.linalg.norm(seen), np.linalg.norm(unseen))
    np.testing.assert_allclose(ours, sklearn * share, rtol=1e-12)


def test_relevance_prefers_related_text() -> None:
    space = TextSpace.fit(DOCS)
    need = space.weights("芯片设计企业 申请研发资金")
    scores = [cosine(need, space.weights(d)) for d in DOCS]
    assert int(np.argmax(scores)) == 1
    assert cosine(space.weights(DOCS[0]), space.weights(DOCS[0])) == pytest.approx(1.0)
    assert cosine({}, space.weights(DOCS[0])) == 0.0


def test_empty_corpus_gives_zero_relevance() -> None:
    space = TextSpace.fit(["", "   ", "，。"])
    assert space.size == 0
    assert space.weights("芯片") == {}
    assert space.transform(["芯片", "x"]).shape == (2, 0)


@pytest.mark.parametrize(
    ("yuan", "shown"),
    [(5_000_000, "500"), (1_234_567, "123.46"), (42_000_000, "4,200"), (10_000, "1"), (None, "?")],
)
def test_wan(yuan: int | None, shown: str) -> None:
    assert wan(yuan) == shown


def test_names_dict_callable_and_fallback() -> None:
    assert display_name("442000", "zh_CN", {"442000": "中山市"}) == "中山市"
    assert display_name("442000", "en", lambda c, loc: {"en": "Zhongshan"}.get(loc)) == "Zhongshan"
    assert display_name("442000", "en", lambda c, loc: None) == "442000"
    assert display_name(None, "en", None) == "?"


PARAMS = {
    "amount": 5_000_000,
    "min": 1_000_000,
    "max": 10_000_000,
    "term": 12,
    "region": "442000",
    "industry": "C38",
    "stage": "growth",
    "n": 3,
    "ratio": 2.4,
    "size": "small",
    "revenue": 42_000_000,
    "employees": 86,
    "similarity": 0.4,
    "percent": 65,
    "funder_kind": "bank",
}


@pytest.mark.parametrize("code", REASON_CODES)
@pytest.mark.parametrize("locale", ["zh_CN", "en", "en_US", None])
def test_every_reason_renders(code: str, locale: str | None) -> None:
    text = render_reason(Reason(code, PARAMS, 1.0), locale)
    assert text and "{" not in text and "None" not in text


def test_reason_examples() -> None:
    assert (
        render_reason(Reason("region_same_city", {"region": "442000"}), names={"442000": "中山市"})
        == "同在中山市"
    )
    assert (
        render_reason(Reason("patent_coverage", {"n": 3, "ratio": 2.4}))
        == "3 项发明专利估值覆盖贷款额 2.4 倍"
    )
    assert (
        render_reason(Reason("funder_recent_approvals", {"n": 12, "funder_kind": "bank"}))
        == "该行近一年批准同行业企业 12 家"
    )
    assert (
        render_reason(Reason("amount_in_range", {"max": 5_000_000}))
        == "金额在产品区间内（不超过 500 万元）"
    )
    assert render_reason(Reason("text_relevance")) == "文本相关度高"
    assert render_reason(Reason("no_such_code")) == "no_such_code"
    assert Reason("high_tech", {}, 0.123456).to_dict() == {
        "code": "high_tech",
        "params": {},
        "weight": 0.1235,
    }


GAPS = [
    "amount_unknown",
    "amount_below_min",
    "amount_above_max",
    "term_below_min",
    "term_above_max",
    "region_unknown",
    "region_outside",
    "industry_unknown",
    "industry_outside",
    "stage_unknown",
    "stage_outside",
    "patent_invention_required",
    "patent_required",
    "collateral_required",
    "high_tech_required",
]


@pytest.mark.parametrize("code", GAPS)
def test_every_gap_renders_in_both_languages(code: str) -> None:
    gap = Gap(
        code,
        "rule",
        {**PARAMS, "shortfall": 10_000, "excess": 10_000, "allowed": ["growth"], "missing": 1},
    )
    zh, en = render_gap(gap), render_gap(gap, "en")
    assert zh and en and zh != en
    assert "{" not in zh + en and "None" not in zh + en
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in en.replace("万元", "")), en


def test_tokens_of_a_record_are_its_parts_tokens():
    """_tokens cuts each newline-separated part alone (the enterprise's text is cached across
    its needs): the tokens are exactly jieba's for the whole text, stopwords, full-width
    characters, English words and blank parts included."""
    from techfin.matching.profiles import text_of
    from techfin.matching.text import _tokens
    from techfin.search.analysis import segment

    records = [
        (
            "中山市明辉照明科技有限公司",
            "购置LED生产线，扩大产能",
            "专注于智能照明与物联网控制系统的研发",
        ),
        (
            "成都云图软件有限公司",
            "研发投入 R&D 5G模组",
            "SaaS platform for 中小企业 accounting。\n第二段：知识产权质押",
        ),
        ("Ａｂｃ科技", "", "全角ＡＢＣ１２３与半角abc123混排\r\n换行"),
        ("单一部分", None, None),
    ]
    for parts in records:
        text = text_of(*parts)
        assert _tokens(text) == segment(text), text


def test_stored_reasons_and_gaps_are_written_as_their_to_dict():
    """A full recompute hands Reason and Gap dataclasses to orjson (stored._dumps), not a
    dict each: the stored JSON has to_dict()'s keys, in its order, numpy numbers as plain
    numbers, and a gap's derived `fixable` (a field now, so orjson sees it)."""
    import json

    import numpy as np

    from techfin.matching.reasons import Gap, Reason
    from techfin.services.matching.stored import _dumps

    gaps = [Gap("amount_above_max", "amount", {"max": np.int64(5_000_000), "ratio": 1.5}),
            Gap("region_outside", "region", {"regions": ["4420"]})]  # fmt: skip
    reasons = [Reason("patent_coverage", {"n": np.int64(2), "ratio": 1.2, "kinds": ["invention"]},
                      np.float64(0.123456789))]  # fmt: skip
    assert _dumps(gaps) == _dumps([g.to_dict() for g in gaps])
    assert [g.fixable for g in gaps] == [True, False]
    assert Gap("x", "amount") == Gap("x", "amount") and Gap("x", "amount").fixable
    stored, shown = json.loads(_dumps(reasons)), [r.to_dict() for r in reasons]
    assert [list(r) for r in stored] == [list(r) for r in shown] == [["code", "params", "weight"]]
    assert stored[0]["params"] == {"n": 2, "ratio": 1.2, "kinds": ["invention"]}
    assert round(stored[0]["weight"], 4) == shown[0]["weight"]  # kept unrounded; shown to 4


@pytest.mark.parametrize("extras", [False, True])
def test_reasons_of_many_pairs_are_each_pairs_own_reasons(small_world, extras: bool) -> None:
    """explain_rows (a full recompute's reasons, pooled and ordered as array operations)
    gives every pair what explain() gives it alone, weights to the bit: on
    feature rows drawn to sit on each condition's edges (a range met or not, the region and
    industry levels, the text cut-off, coverage with and without valued IP), with tied,
    zero and negative contributions, with and without the learned effects."""
    from techfin.matching.features import FEATURE_INDEX, FEATURES
    from techfin.matching.profiles import need_profile, product_profile
    from techfin.matching.ranking import TEXT_REASON_MIN, explain, explain_rows

    rng = np.random.default_rng(7)
    from dataclasses import replace

    base = [need_profile(n) for n in small_world.needs[:60]]
    needs = [
        *base,  # and each without what the conditions ask for, or with valued IP
        *(replace(n, amount=None, term=None, region=None, industry=None, size=None,
                  revenue=None, employees=None, high_tech=False, collateral=False,
                  inventions=0) for n in base[:20]),
        *(replace(n, ip_count=(2, 1, 0, 0, 0), ip_value=(4e6, 1e6, 0.0, 0.0, 0.0),
                  ip_valued=(1, 1, 0, 0, 0)) for n in base[20:40]),
        *(replace(n, amount=0.0) for n in base[40:]),
    ]  # fmt: skip
    products = [product_profile(p) for p in small_world.products[:60]]
    n = 3_000
    pairs = [
        (needs[rng.integers(len(needs))], products[rng.integers(len(products))],
         tuple(int(v) for v in rng.choice([0, 0, 1, 3], size=3)))
        for _ in range(n)
    ]  # fmt: skip
    X = rng.choice([0.0, 0.5, 1.0, 2.0, 3.0], size=(n, len(FEATURES)))
    X[:, FEATURE_INDEX["text_relevance"]] = rng.choice(
        [0.0, TEXT_REASON_MIN, np.nextafter(TEXT_REASON_MIN, 0), 0.4], size=n
    )
    width = len(FEATURES) + (2 if extras else 0)
    # Few distinct weights: many ties, which explain() breaks by feature order.
    C = rng.choice([-0.2, 0.0, 0.1, 0.1, 0.3, 0.7], size=(n, width))
    got = explain_rows(pairs, X, C)
    want = [explain(nd, pd, X[i], C[i], s) for i, (nd, pd, s) in enumerate(pairs)]
    assert got == want
    said = {r.code for rs in got for r in rs}
    assert {"amount_in_range", "region_same_city", "region_same_province",
            "industry_division", "text_relevance", "funder_approval_rate",
            "patent_coverage", "term_in_range", "staff", "high_tech"} <= said  # fmt: skip
    if extras:
        assert {"institution_appetite", "product_appetite"} & said
