"""Organisation-name normalisation and duplicate detection."""

from __future__ import annotations

import pytest

from techfin.search import OrgNameIndex, find_similar, normalize_org_name, split_org_name


@pytest.mark.parametrize(
    ("name", "region", "core"),
    [
        ("中山市明辉照明科技有限公司", "中山", "明辉照明科技"),
        ("广东省中山市明辉照明科技有限公司", "中山", "明辉照明科技"),
        ("明辉照明（中山）有限公司", "中山", "明辉照明"),
        ("明辉(广东)照明科技有限公司", "广东", "明辉照明科技"),
        ("ＡＢＣ科技（深圳）股份有限公司", "深圳", "abc科技"),
        ("深圳市 腾讯计算机系统 有限责任公司", "深圳", "腾讯计算机系统"),
        ("明辉集团股份有限公司", "", "明辉"),
        ("中国银行股份有限公司中山分行", "", "中国银行中山分行"),
        ("中山市明辉照明科技有限公司东莞分公司", "中山", "明辉照明科技东莞分公司"),
        ("广西壮族自治区南宁市某某电子厂", "南宁", "某某电子"),
        ("【杭州】云栖数据有限公司", "杭州", "云栖数据"),
        ("Acme Co., Ltd.", "", "acme"),
        ("", "", ""),
    ],
)
def test_split_org_name(name: str, region: str, core: str) -> None:
    assert split_org_name(name) == (region, core)
    assert normalize_org_name(name) == core


CANDIDATES = [
    (1, "中山市明辉照明科技有限公司"),
    (2, "东莞市明辉照明科技有限公司"),
    (3, "中山市明华照明电器有限公司"),
    (4, "深圳市明辉光电有限公司"),
    (5, "深圳芯锐半导体有限公司"),
    (6, "中山农村商业银行股份有限公司"),
    (7, "广州市天河区星辰软件有限公司"),
]


@pytest.mark.parametrize(
    ("query", "top"),
    [
        ("中山明辉照明", 1),
        ("中山市明辉照明科技有限公司", 1),
        ("明辉照明科技（中山）有限公司", 1),
        ("东莞明辉照明", 2),
        ("东莞市明辉照明科技", 2),
        ("芯锐半导体", 5),
        ("深圳市芯锐半导体股份有限公司", 5),
        ("中山农商银行", 6),
        ("星辰软件", 7),
        ("ＳＴＡＲ星辰软件", 7),
    ],
)
def test_find_similar_top_hit(query: str, top: int) -> None:
    found = find_similar(query, CANDIDATES)
    assert found, query
    assert found[0][0] == top
    assert 0 <= found[0][2] <= 100


def test_find_similar_threshold_and_limit() -> None:
    assert find_similar("完全无关的名字", CANDIDATES) == []
    assert find_similar("", CANDIDATES) == []
    assert len(find_similar("明辉照明", CANDIDATES, limit=2, threshold=0)) == 2


def test_prebuilt_index_gives_the_same_answer() -> None:
    index = OrgNameIndex.build(CANDIDATES)
    for query in ("中山明辉照明", "芯锐半导体", "星辰软件"):
        assert find_similar(query, index) == find_similar(query, CANDIDATES)


def test_city_breaks_ties_and_penalises_other_cities() -> None:
    found = dict((i, s) for i, _, s in find_similar("中山明辉照明科技", CANDIDATES, threshold=0))
    assert found[1] > found[2]  # same core, the query's city wins
