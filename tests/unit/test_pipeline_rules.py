"""The deal pipeline's state machine as pure functions (services/pipeline.py)."""

from __future__ import annotations

from datetime import date

import pytest

from techfin.services import pipeline
from techfin.services.pipeline import PairState, fold, funded_problems, next_stages, step_problems

D1, D2, D3 = date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)


def test_a_pair_moves_forward_only_and_ends_for_good() -> None:
    assert next_stages(None) == tuple(pipeline.RANK)
    assert next_stages("meeting") == ("approved", "funded", "declined", "withdrawn")
    for ended in ("funded", "declined", "withdrawn"):
        assert next_stages(ended) == ()
        assert step_problems(PairState(ended, D1), "approved", D2) == {
            "stage": [pipeline.MSG_TERMINAL]
        }
    assert step_problems(PairState("approved", D1), "meeting", D2) == {
        "stage": [pipeline.MSG_ORDER]
    }
    assert step_problems(PairState("meeting", D1), "meeting", D2) == {"stage": [pipeline.MSG_ORDER]}
    backdated = step_problems(PairState("contacted", D2), "meeting", D1)
    assert list(backdated) == ["date"] and "2026-10-01" in backdated["date"][0]
    assert step_problems(PairState("contacted", D2), "meeting", D2) == {}


def test_a_reopened_ending_keeps_its_date_but_not_its_stage() -> None:
    steps = [("contacted", D1, False), ("declined", D2, True)]
    assert fold(steps) == PairState("contacted", D2)
    assert fold([("funded", D1, True)]) == PairState(None, D1)
    assert fold([]) == PairState()
    # a step after the reopened one counts again
    assert fold([*steps, ("approved", D3, False)]) == PairState("approved", D3)


@pytest.mark.parametrize(
    ("kinds", "values", "fields"),
    [
        (("ip_pledge", "ip_pledge"), {"amount_cny": 1}, {"rate", "issued", "matures", "repayment"}),
        (("loan", "equity"), {"amount_cny": 1, "issued": D1}, {"rate", "matures", "repayment"}),
        (("equity", "equity"), {"amount_cny": 1}, {"issued"}),
        (("equity", "equity"), {"amount_cny": 1, "issued": D1, "rate": 3.0}, {"rate"}),
        (("guarantee", "guarantee"), {"amount_cny": 1, "issued": D1, "rate": 1.5}, set()),
        (("insurance", "insurance"), {}, {"amount_cny", "issued"}),
    ],
)
def test_funded_terms_by_kind(kinds, values, fields) -> None:  # noqa: ANN001
    assert set(funded_problems("funded", kinds, values)) == fields
    assert funded_problems("approved", kinds, {}) == {}
