"""Rebuild techfin/reference/data/industries.csv: all four levels of GB/T 4754-2017.

Sections and divisions (with their English names) are kept from the CSV itself; groups and
classes come from gbt4754_2017.txt beside this script, a transcription of a public copy of
the standard (its header names the copy). English names exist for the sections, the divisions
and a few groups only; other rows get an empty name_en and the app shows the Chinese name.

    python tools/refdata/build_industries.py
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CSV = HERE.parents[1] / "techfin" / "reference" / "data" / "industries.csv"
FIELDS = ["code", "name_zh", "name_en", "level", "parent"]


def transcription() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """[(group digits, group name, [(class digits, class name)…])] in file order."""
    out = []
    for line in (HERE / "gbt4754_2017.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        head, *rest = (part.strip() for part in line.split("|"))
        group, name = head.split(" ", 1)
        classes = [(group + part[0], part[2:].strip()) for part in rest]
        # A group without subdivisions is also its own single class, code ending in 0.
        out.append((group, name, classes or [(group + "0", name)]))
    return out


def main() -> int:
    old = list(csv.DictReader(CSV.open(encoding="utf-8")))
    by_code = {r["code"]: r for r in old}
    section_of = {r["code"][1:]: r["code"][0] for r in old if r["level"] == "division"}
    rows = [r for r in old if r["level"] in ("section", "division")]
    problems = []
    for group, name, classes in transcription():
        section = section_of[group[:2]]
        code = section + group
        kept = by_code.get(code)
        if kept is not None and kept["name_zh"] != name:
            problems.append(f"{code}: CSV has {kept['name_zh']!r}, transcription {name!r}")
        en = kept["name_en"] if kept is not None else ""
        rows.append(
            {"code": code, "name_zh": name, "name_en": en, "level": "group",
             "parent": section + group[:2]}
        )  # fmt: skip
        for digits, class_name in classes:
            rows.append(
                {"code": section + digits, "name_zh": class_name, "name_en": "",
                 "level": "class", "parent": code}
            )  # fmt: skip
    rows.sort(key=lambda r: r["code"])
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    buf = io.StringIO()
    writer = csv.DictWriter(buf, FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    CSV.write_text(buf.getvalue(), encoding="utf-8")
    levels = {
        lv: sum(r["level"] == lv for r in rows) for lv in ("section", "division", "group", "class")
    }
    print(f"{len(rows)} rows written to {CSV}: {levels}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
