"""The dealflow's funding step: its fields are in view, and a refusal is told at the row,
once per field, with what is wrong (not five identical banners at the top)."""

from __future__ import annotations

import re

import pytest


def _approved_pair(ctx, get, client) -> tuple[int, int]:
    from techfin.services import catalog

    with ctx():
        need = catalog.create_need(get("user", "e1@x.cn"), get("enterprise", "E-001"), {
            "kind": "ip_pledge", "amount_cny": 2_000_000, "term_months": 12,
            "purpose": "生产线升级", "status": "published"})  # fmt: skip
        need_id, product_id = need.id, get("product", "P-001").id
    for stage in ("contacted", "meeting", "approved"):
        client.post("/dealflow/matches/move", data={
            "need_id": need_id, "product_id": product_id, "stage": stage,
            "back": "/dealflow/matches"})  # fmt: skip
    return need_id, product_id


def _row(html: str, need_id: int, product_id: int) -> str:
    return html.split(f'id="pair-{need_id}-{product_id}"')[1].split("</tr>")[0]


def _move(client, need_id: int, product_id: int, lang: str, **fields: str) -> str:
    resp = client.post(f"/dealflow/matches/move?lang={lang}", data={
        "need_id": need_id, "product_id": product_id, "stage": "funded",
        "back": f"/dealflow/matches?lang={lang}", **fields})  # fmt: skip
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"#pair-{need_id}-{product_id}")
    return client.get(resp.headers["Location"].split("#")[0]).get_data(as_text=True)


def test_the_funded_fields_are_in_view_with_required_marks(client, users, login, get, ctx):
    login("bank@x.cn")
    need_id, product_id = _approved_pair(ctx, get, client)
    html = client.get("/dealflow/matches?lang=zh_CN").get_data(as_text=True)
    row = _row(html, need_id, product_id)
    assert "<details" not in row  # not folded away
    fields = row.split('class="small border rounded p-2 funded-fields"')[1].split("</fieldset>")[0]
    assert "hidden" not in fields.split(">")[0]  # shown without the script
    assert re.search(r"金额（万元） \*</label>", fields)
    assert "还款方式 *" in fields  # a loan: the terms are required too
    assert "dealflow.js" in html


@pytest.mark.parametrize(
    ("lang", "required", "banner"),
    [("zh_CN", "放款时必填", "未能记录该步骤"), ("en", "Required for a funded step", "The step was not recorded")],
)  # fmt: skip
def test_missing_fields_are_told_at_the_row_once_each(
    client, users, login, get, ctx, lang, required, banner
):
    login("bank@x.cn")
    need_id, product_id = _approved_pair(ctx, get, client)
    html = _move(client, need_id, product_id, lang)
    top = html.split("<main")[1].split('id="dealflow-matches"')[0]
    assert required not in top and 'class="alert alert-danger' not in top  # no banners
    row = _row(html, need_id, product_id)
    assert banner in row
    for name in ("amount_cny", "rate", "issued", "matures", "repayment"):
        assert (
            re.search(rf'name="{name}"[^>]*class="[^"]*is-invalid', row)
            or re.search(rf'class="[^"]*is-invalid[^"]*"[^>]*name="{name}"', row)
            or re.search(rf'name="{name}" id="[^"]+" class="[^"]*is-invalid', row)
        ), name
    assert row.count(required) == 5  # one per field: amount, rate, issue, maturity, repayment
    assert " / " not in "".join(re.findall(r"invalid-feedback[^>]*>([^<]*)<", row))
    # shown once: the next page has no trace of it
    again = client.get(f"/dealflow/matches?lang={lang}").get_data(as_text=True)
    assert required not in again


@pytest.mark.parametrize(
    ("fields", "field", "zh", "en"),
    [({"amount_cny": "-300"}, "amount_cny", "金额不能为负数", "An amount cannot be negative."),
     ({"amount_cny": "200", "rate": "99"}, "rate", "0 到 36 之间", "between 0 and 36"),
     ({"amount_cny": "200", "rate": "4.35", "issued": "2026-11-20", "matures": "2026-11-01",
       "repayment": "bullet"}, "matures", "到期日须晚于放款日",
      "Maturity must be after the issue date")],
)  # fmt: skip
def test_wrong_values_get_their_own_message(client, users, login, get, ctx, fields, field, zh, en):
    login("bank@x.cn")
    need_id, product_id = _approved_pair(ctx, get, client)
    for lang, text in (("zh_CN", zh), ("en", en)):
        row = _row(_move(client, need_id, product_id, lang, **fields), need_id, product_id)
        feedback = row.split(f'id="f-{need_id}-{product_id}-{field}-err"')[1].split("</div>")[0]
        assert text in feedback, (lang, feedback)
        assert "请选择下一阶段" not in row and "Choose the next stage" not in row
        assert f'value="{fields[field]}"' in row  # what was typed is still there
