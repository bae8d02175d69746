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
    # 200 000 numbers: more than 100 000 demo enterprises file (about 180 000), where one
    # shared sequence passed 7 digits after roughly 20 000 enterprises.
    rng = random.Random(1)
    serials = PatentSerials(random.Random(2026))
    numbers = [
        serials.next(rng.randint(2012, 2025), rng.choice([1, 1, 2, 2, 3])) for _ in range(200_000)
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
