"""The demo generator's CNIPA application numbers stay valid and unique at region scale."""

from __future__ import annotations

import random

import pytest

from techfin import reference
from techfin.services.demo import PATENT_SERIAL_MAX, PatentSerials, _patent_number


def test_the_largest_serial_gives_a_valid_number():
    number = _patent_number(2025, 1, PATENT_SERIAL_MAX)
    assert number.startswith("202519999999.")
    assert reference.validate_patent_number(number) == number


def test_a_serial_wider_than_seven_digits_is_refused_not_misnumbered():
    # The old generator crashed here with "zip() argument 2 is shorter than argument 1".
    with pytest.raises(ValueError, match="7 digits"):
        _patent_number(2025, 1, PATENT_SERIAL_MAX + 1)


def test_serials_at_region_scale_are_unique_valid_and_fit():
    # 100 000 numbers (100 000 demo enterprises file about 180 000 over 14 years and three
    # types); one shared sequence passed 7 digits after roughly 20 000 enterprises.
    rng = random.Random(1)
    serials = PatentSerials(random.Random(2026))
    numbers = [
        serials.next(rng.randint(2012, 2025), rng.choice([1, 1, 2, 2, 3])) for _ in range(100_000)
    ]
    assert len(set(numbers)) == len(numbers)
    assert max(serials.last.values()) <= PATENT_SERIAL_MAX
    for number in numbers[::97]:
        assert reference.validate_patent_number(number) == number


def test_one_year_and_type_holds_the_busiest_case():
    # The demo's cap is 200 000 enterprises: about 11 000 inventions in one year at most.
    serials = PatentSerials(random.Random(7))
    for _ in range(11_000):
        last = serials.next(2025, 1)
    assert reference.validate_patent_number(last) == last
    assert serials.last[(2025, 1)] <= PATENT_SERIAL_MAX


def test_generated_mix_at_10000_enterprises():
    # Generation only (no database): the region-scale mix, valid and unique numbers.
    from collections import Counter

    from techfin.services import demo

    kinds: Counter[str] = Counter()
    numbers: set[str] = set()
    for _location, rec in demo.generate(enterprises=10_000, seed=2026):
        kinds[rec["type"]] += 1
        if rec["type"] == "patent":
            numbers.add(rec["number"])
            assert rec.get("granted", "") <= "2026-11-01"  # the generator's "today"
            assert rec.get("filed", "") <= rec.get("granted", "9999")
    assert len(numbers) == kinds["patent"]  # unique
    assert kinds["funder"] == 14 + 2 and kinds["product"] == 10_000 // 50
    assert 1.2 < kinds["need"] / 10_000 < 1.4
    assert 1.7 < kinds["patent"] / 10_000 < 1.9
    for number in sorted(numbers)[::500]:
        assert reference.validate_patent_number(number) == number


def test_demo_software_firms_hold_copyrights_and_the_pledge_product_accepts_them():
    from techfin.services.demo import generate
    from techfin.services.records import SCHEMAS

    records = [r for _loc, r in generate(enterprises=120, seed=2026)]
    industry = {r["ref"]: r["industry"] for r in records if r["type"] == "enterprise"}
    copyrights = [r for r in records if r["type"] == "copyright"]
    assert copyrights and {industry[c["enterprise_ref"]] for c in copyrights} == {"I65"}
    assert any(r["type"] == "trademark" for r in records)
    for r in copyrights + [r for r in records if r["type"] == "trademark"]:
        SCHEMAS[r["type"]]().load({k: v for k, v in r.items() if k != "type"})
    pledge = next(r for r in records if r.get("name") == "知识产权质押贷")
    assert "software_copyright" in pledge["accepted_ip"] and "软件著作权" in pledge["description"]
    # The generator's own stream is untouched: the same seed gives the same patents.
    patents = [r["number"] for r in records if r["type"] == "patent"]
    again = [r["number"] for _l, r in generate(enterprises=120, seed=2026) if r["type"] == "patent"]
    assert patents == again
