"""Synthetic needs, products, funders and outcomes with a known approval rule.

Used by the tests, the benchmark and (if wanted) demo data. Records follow
interchange.md, with integer ids and the enterprise / funder embedded as the matching
library expects. The true rule (`World.probability`) is:

    logit = −0.5
          + appetite[funder, industry section]           each funder likes some sections: N(0, 1.2)
          − 4 · max(0, amount_position − 0.4) / 0.6       lenders cut requests in the top of their range
          + ip_pledge: +2.0 if patent valuation ≥ 2 × amount, else −2.0
          + loan / guarantee / insurance: 0.8·high_tech + 0.6·(log10 revenue − 7) + 0.6·collateral
          + equity: +1.5 if high-tech and growth stage, else −1.0;
                    +1.5 if the fund lists the enterprise's industry division

Region and text overlap have no effect on approval (the Prior believes they do), so a
model that learns from outcomes should beat the Prior on held-out needs.

`generate_kinds()` draws the same kind of records with another hidden rule (World.rule
"kinds", the benchmark of issue #15): each kind of product follows its own drivers, and
each institution and product has its own appetite::

    logit = KIND_BASE[kind]
          + institution[funder]                         N(0, institution_sd = 1.5)
          + product_effect[product]                     N(0, product_sd = 2.0)
          + Σ weight · (feature − reference)  over KIND_DRIVERS[kind]:
              ip_pledge  1.8 · (patent_coverage − 1.5)     pledged IP value ÷ amount
              loan       1.3 · (revenue_log10 − 7) + 1.2 · high_tech + 1.2 · collateral
              equity     2.5 · (stage_fit − 1) + 1.2 · (invention_patents − 1)
              guarantee  1.2 · (revenue_log10 − 7) + 1.5 · (region_level − 1)
              insurance  1.0 · high_tech + 0.8 · invention_patents

Features are the library's own (features.pair_features), so a model with kind-specific
weights and per-institution / per-product effects can express the rule exactly, while one
set of weights over generic features cannot ("coverage matters for IP pledges, revenue
for guarantors, stage for funds"). The amount's position in the range, region for lenders,
industry and text have no effect. `World.drivers(need, product)` gives every term of a
pair's logit, so a test can ask whether an explanation names the term that really drove it.

Within one need every enterprise-side term is the same for all its products, so the order
of a need's products (NDCG) is decided by the product-side terms: the appetites, the
fund's listed stages, the guarantor's locality. The appetite spreads are wide enough that
the true rule itself reaches an NDCG@10 lift of about 0.8 on a 3 000-need world; the label
noise of Bernoulli outcomes keeps every ranker below 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from techfin.matching.features import FEATURE_INDEX, pair_features
from techfin.matching.profiles import need_profile, product_profile
from techfin.matching.rules import check_eligibility

INDUSTRIES: dict[str, tuple[str, ...]] = {
    "C26": ("新材料", "高分子材料", "功能涂料", "精细化工"),
    "C27": ("生物医药", "创新药", "疫苗", "医疗器械", "基因检测"),
    "C35": ("智能装备", "工业机器人", "数控机床", "激光设备", "自动化产线"),
    "C38": ("LED", "智能照明", "灯饰", "电机", "储能电池", "智能家电"),
    "C39": ("芯片", "集成电路", "传感器", "通信设备", "半导体", "5G模组"),
    "I64": ("物联网", "互联网平台", "数据服务", "智慧城市"),
    "I65": ("软件", "云计算", "大数据", "人工智能", "工业互联网", "SaaS"),
    "M73": ("研发服务", "检验检测", "技术转移", "中试"),
    "M75": ("科技推广", "知识产权服务", "技术咨询"),
}
REGIONS: dict[str, str] = {
    "442000": "中山市",
    "440100": "广州市",
    "440300": "深圳市",
    "440600": "佛山市",
    "510100": "成都市",
    "320500": "苏州市",
    "330100": "杭州市",
    "420100": "武汉市",
}
FUNDER_KINDS = (
    "bank",
    "bank",
    "bank",
    "bank",
    "guarantee",
    "microloan",
    "insurer",
    "vc",
    "vc",
    "guidance_fund",
)
PRODUCT_KINDS = {
    "bank": ("loan", "ip_pledge"),
    "guarantee": ("guarantee",),
    "microloan": ("loan",),
    "insurer": ("insurance",),
    "vc": ("equity",),
    "guidance_fund": ("equity",),
}
NEED_KINDS = (
    "loan",
    "loan",
    "loan",
    "ip_pledge",
    "ip_pledge",
    "equity",
    "equity",
    "guarantee",
    "insurance",
)
KIND_WORDS = {
    "loan": "科技信用贷 流动资金贷款 纯信用 随借随还",
    "ip_pledge": "知识产权质押融资 专利权质押 发明专利 评估",
    "equity": "股权投资 创业投资 成长期 领投 跟投",
    "guarantee": "融资担保 科技担保 反担保 降低担保费",
    "insurance": "科技保险 研发费用损失险 首台套保险",
}
FUNDER_SUFFIX = {
    "bank": "银行科技支行",
    "guarantee": "融资担保有限公司",
    "microloan": "小额贷款有限公司",
    "insurer": "科技保险公司",
    "vc": "创业投资基金",
    "guidance_fund": "创业投资引导基金",
}
PRODUCT_SUFFIX = {
    "loan": "科创贷",
    "ip_pledge": "知识产权质押贷",
    "equity": "成长基金",
    "guarantee": "科技担保",
    "insurance": "研发险",
}
STAGE_WEIGHTS = {"seed": 0.1, "startup": 0.3, "growth": 0.45, "mature": 0.15}

# The "kinds" rule (generate_kinds): (feature, weight per unit, reference value) per kind.
KIND_DRIVERS: dict[str, tuple[tuple[str, float, float], ...]] = {
    "ip_pledge": (("patent_coverage", 1.8, 1.5),),
    "loan": (("revenue_log10", 1.3, 7.0), ("high_tech", 1.2, 0.0), ("collateral", 1.2, 0.0)),
    "equity": (("stage_fit", 2.5, 1.0), ("invention_patents", 1.2, 1.0)),
    "guarantee": (("revenue_log10", 1.2, 7.0), ("region_level", 1.5, 1.0)),
    "insurance": (("high_tech", 1.0, 0.0), ("invention_patents", 0.8, 0.0)),
}
KIND_BASE = {"ip_pledge": -0.5, "loan": -1.2, "equity": -0.8, "guarantee": -0.4, "insurance": -0.6}


@dataclass
class World:
    """Generated records plus the hidden truth behind the outcomes."""

    funders: list[dict[str, Any]]
    products: list[dict[str, Any]]
    needs: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    appetite: dict[tuple[int, str], float] = field(default_factory=dict)
    end: date = date(2025, 1, 1)
    rule: str = "sections"  # or "kinds" (generate_kinds)
    institution: dict[Any, float] = field(default_factory=dict)  # funder id → effect
    product_effect: dict[Any, float] = field(default_factory=dict)  # product id → effect

    def drivers(self, need: dict[str, Any], product: dict[str, Any]) -> dict[str, float]:
        """Rule "kinds": each term of the pair's true logit, by feature name, plus "base",
        "institution" and "product"; the terms sum to logit()."""
        n, p = need_profile(need), product_profile(product)
        x = pair_features(n, p)
        out = {
            "base": KIND_BASE.get(p.kind or "", 0.0),
            "institution": self.institution.get(p.funder_id, 0.0),
            "product": self.product_effect.get(p.id, 0.0),
        }
        for feature, weight, ref in KIND_DRIVERS.get(p.kind or "", ()):
            out[feature] = weight * (x[FEATURE_INDEX[feature]] - ref)
        return out

    def logit(self, need: dict[str, Any], product: dict[str, Any]) -> float:
        if self.rule == "kinds":
            return sum(self.drivers(need, product).values())
        n, p = need_profile(need), product_profile(product)
        x = pair_features(n, p)
        z = -0.5 + self.appetite.get((p.funder_id, n.section or ""), 0.0)
        z -= 4.0 * max(0.0, x[FEATURE_INDEX["amount_position"]] - 0.4) / 0.6
        if p.kind == "ip_pledge":
            z += 2.0 if n.amount and n.pledge_value >= 2 * n.amount else -2.0
        elif p.kind == "equity":
            z += 1.5 if (n.high_tech and n.stage == "growth") else -1.0
            z += 1.5 if x[FEATURE_INDEX["industry_level"]] == 3.0 else 0.0
        else:
            rev = math.log10(1 + (n.revenue or 0))
            z += 0.8 * n.high_tech + 0.6 * (rev - 7) + 0.6 * n.collateral
        return z

    def probability(self, need: dict[str, Any], product: dict[str, Any]) -> float:
        return 1.0 / (1.0 + math.exp(-self.logit(need, product)))


def _pick(rng: np.random.Generator, items: Any, p: Any = None) -> Any:
    items = list(items)
    return items[int(rng.choice(len(items), p=p))]


def _funders(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    out = []
    cities = list(REGIONS)
    for i in range(1, n + 1):
        kind = _pick(rng, FUNDER_KINDS)
        city = _pick(rng, cities)
        r = rng.random()
        regions = [city[:4]] if r < 0.4 else [city[:2]] if r < 0.7 else []
        name = f"{REGIONS[city][:-1]}{['科技', '创新', '汇智', '恒信', '联合'][i % 5]}{FUNDER_SUFFIX[kind]}"
        focus = rng.choice(list(INDUSTRIES), size=2, replace=False)
        desc = f"{name}，重点支持{'、'.join(INDUSTRIES[focus[0]][:2])}等领域科技型中小企业"
        funder: dict[str, Any] = {
            "id": i,
            "ref": f"F-{i:05d}",
            "name": name,
            "kind": kind,
            "regions": regions,
            "description": desc,
            "verified": True,
        }
        if kind in ("vc", "guidance_fund"):
            funder["industries"] = [str(f) for f in focus]
            funder["stages"] = ["startup", "growth"] if rng.random() < 0.5 else ["growth", "mature"]
        out.append(funder)
    return out


def _product(rng: np.random.Generator, pid: int, funder: dict[str, Any]) -> dict[str, Any]:
    kind = _pick(rng, PRODUCT_KINDS[funder["kind"]])
    divisions = list(INDUSTRIES)
    r = rng.random()
    if r < 0.45:
        industries: list[str] = []
    elif r < 0.75:
        industries = sorted({d[0] for d in rng.choice(divisions, size=2, replace=False)})
    else:
        industries = [str(d) for d in rng.choice(divisions, size=2, replace=False)]
    if kind == "equity":
        lo, hi = _pick(
            rng, [(2_000_000, 20_000_000), (5_000_000, 50_000_000), (10_000_000, 100_000_000)]
        )
        terms = (None, None)
    else:
        lo = _pick(rng, [None, 100_000, 500_000, 1_000_000, 2_000_000])
        hi = _pick(rng, [3_000_000, 5_000_000, 10_000_000, 20_000_000, 30_000_000])
        terms = _pick(rng, [(None, None), (3, 12), (6, 36), (12, 36), (None, 24)])
    words = (
        " ".join(INDUSTRIES[_pick(rng, divisions)][:3])
        if not industries
        else " ".join(
            w
            for code in industries
            for d in divisions
            if d.startswith(code)
            for w in INDUSTRIES[d][:2]
        )
    )
    stages: list[str] = []
    if kind == "equity":
        stages = list(_pick(rng, [["startup", "growth"], ["growth"], ["growth", "mature"], []]))
    regions = [] if rng.random() < 0.7 else list(funder["regions"])  # [] = the funder's regions
    return {
        "id": pid,
        "ref": f"P-{pid:05d}",
        "name": f"{funder['name'][:4]}{PRODUCT_SUFFIX[kind]}{pid}",
        "kind": kind,
        "min_amount_cny": lo,
        "max_amount_cny": hi,
        "min_term_months": terms[0],
        "max_term_months": terms[1],
        "rate_min": round(float(rng.uniform(3.2, 4.5)), 2) if kind != "equity" else None,
        "rate_max": round(float(rng.uniform(4.5, 8.0)), 2) if kind != "equity" else None,
        "industries": industries,
        "regions": regions,
        "stages": stages,
        "requires_patent": kind == "ip_pledge",
        "requires_collateral": kind == "loan" and rng.random() < 0.15,
        "requires_high_tech": rng.random() < 0.15,
        "status": "active" if rng.random() < 0.97 else "paused",
        "description": f"{KIND_WORDS[kind]} 面向{words}企业",
        "funder": funder,
    }


def _enterprise(rng: np.random.Generator, eid: int) -> dict[str, Any]:
    division = _pick(rng, INDUSTRIES)
    city = _pick(rng, REGIONS)
    stage = _pick(rng, STAGE_WEIGHTS, p=list(STAGE_WEIGHTS.values()))
    employees = int(rng.lognormal(3.8, 1.0))
    revenue = (
        int(employees * rng.lognormal(13.0, 0.7)) if stage != "seed" else int(rng.lognormal(12, 1))
    )
    patents = []
    for _ in range(int(rng.poisson(1.6))):
        patents.append(
            {
                "kind": "invention",
                "status": "granted",
                "valuation_cny": int(rng.lognormal(14.7, 0.8)),
            }
        )
    for _ in range(int(rng.poisson(1.0))):
        patents.append(
            {
                "kind": _pick(rng, ["utility_model", "design", "invention"]),
                "status": _pick(rng, ["granted", "pending"]),
                "valuation_cny": None,
            }
        )
    words = INDUSTRIES[division]
    kw = rng.choice(len(words), size=2, replace=False)
    name = f"{REGIONS[city][:-1]}{['明辉', '华创', '智芯', '博源', '启航', '睿达'][eid % 6]}{words[kw[0]]}科技有限公司"
    return {
        "id": eid,
        "ref": f"E-{eid:06d}",
        "name": name,
        "industry": division,
        "region": city,
        "stage": stage,
        "high_tech": bool(rng.random() < 0.4),
        "employees": employees,
        "revenue_cny": revenue,
        "description": f"从事{words[kw[0]]}、{words[kw[1]]}的研发与生产",
        "patents": patents,
    }


def _need(
    rng: np.random.Generator, nid: int, ent: dict[str, Any], created: date, kinds: tuple[str, ...]
) -> dict[str, Any]:
    kind = _pick(rng, kinds)
    pledge = sum(
        p["valuation_cny"] or 0
        for p in ent["patents"]
        if p["kind"] == "invention" and p["status"] == "granted"
    )
    if kind == "ip_pledge" and pledge:
        amount = pledge / rng.uniform(0.8, 4.0)  # coverage spread around the 2× line
    elif kind == "equity":
        amount = rng.lognormal(16.5, 0.8)
    else:
        amount = rng.lognormal(15.0, 0.8)
    words = INDUSTRIES[ent["industry"]]
    return {
        "id": nid,
        "ref": f"N-{nid:06d}",
        "kind": kind,
        "amount_cny": int(round(amount, -4)) or 10_000,
        "term_months": None if kind == "equity" else int(_pick(rng, [6, 12, 12, 24, 36])),
        "purpose": f"{_pick(rng, words)}新产品研发及生产线扩建",
        "collateral_available": bool(rng.random() < 0.3),
        "status": "published",
        "created": created.isoformat(),
        "enterprise": ent,
    }


def generate(
    n_needs: int = 1000,
    n_products: int = 300,
    n_funders: int | None = None,
    outcome_needs: int | None = None,
    pairs_per_need: tuple[int, int] = (4, 12),
    seed: int = 0,
    need_kinds: tuple[str, ...] = NEED_KINDS,
    appetite_sd: float = 1.2,
    start: date = date(2023, 1, 1),
    days: int = 730,
) -> World:
    """A world of `n_needs` needs (one enterprise each), `n_products` products and outcomes.

    Outcomes are drawn for the first `outcome_needs` needs (default: all): each gets
    4–12 eligible products of its kind, labelled by the true rule; one pair in ten is left
    undecided (only "recommended", or "withdrawn"). `need_kinds` (drawn uniformly, repeats
    weigh more) and `appetite_sd` (0 = funders differ in nothing) let a test isolate one rule.
    """
    rng = np.random.default_rng(seed)
    funders = _funders(rng, n_funders or max(5, n_products // 4))
    products = []
    for pid in range(1, n_products + 1):
        products.append(_product(rng, pid, funders[int(rng.integers(len(funders)))]))
    appetite = {
        (f["id"], section): float(rng.normal(0, appetite_sd))
        for f in funders
        for section in sorted({d[0] for d in INDUSTRIES})
    }
    needs = []
    for nid in range(1, n_needs + 1):
        created = start + timedelta(days=int(rng.integers(days)))
        needs.append(_need(rng, nid, _enterprise(rng, nid), created, need_kinds))
    world = World(funders, products, needs, [], appetite, start + timedelta(days=days + 90))
    world.outcomes = _outcomes(
        rng, world, needs[: outcome_needs if outcome_needs is not None else n_needs], pairs_per_need
    )
    return world


def generate_kinds(
    n_needs: int = 3000,
    n_products: int = 400,
    n_funders: int | None = None,
    outcome_needs: int | None = None,
    pairs_per_need: tuple[int, int] = (4, 12),
    seed: int = 0,
    need_kinds: tuple[str, ...] = NEED_KINDS,
    institution_sd: float = 1.5,
    product_sd: float = 2.0,
    start: date = date(2023, 1, 1),
    days: int = 730,
) -> World:
    """Like generate(), with the "kinds" rule of the module docstring: kind-specific
    drivers plus per-institution (`institution_sd`) and per-product (`product_sd`) appetite."""
    rng = np.random.default_rng(seed)
    funders = _funders(rng, n_funders or max(5, n_products // 4))
    products = []
    for pid in range(1, n_products + 1):
        products.append(_product(rng, pid, funders[int(rng.integers(len(funders)))]))
    needs = []
    for nid in range(1, n_needs + 1):
        created = start + timedelta(days=int(rng.integers(days)))
        needs.append(_need(rng, nid, _enterprise(rng, nid), created, need_kinds))
    world = World(
        funders,
        products,
        needs,
        [],
        end=start + timedelta(days=days + 90),
        rule="kinds",
        institution={f["id"]: float(rng.normal(0, institution_sd)) for f in funders},
        product_effect={p["id"]: float(rng.normal(0, product_sd)) for p in products},
    )
    world.outcomes = _outcomes(
        rng, world, needs[: outcome_needs if outcome_needs is not None else n_needs], pairs_per_need
    )
    return world


def _outcomes(
    rng: np.random.Generator, world: World, needs: list[dict[str, Any]], k: tuple[int, int]
) -> list[dict[str, Any]]:
    by_kind: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    for p in world.products:
        prof = product_profile(p)
        if prof.active:
            by_kind.setdefault(p["kind"], []).append((p, prof))
    out = []
    for need in needs:
        pool = by_kind.get(need["kind"], [])
        if not pool:
            continue
        nprof = need_profile(need)
        sample = rng.choice(len(pool), size=min(len(pool), 60), replace=False)
        eligible = [pool[i][0] for i in sample if not check_eligibility(nprof, pool[i][1])]
        want = int(rng.integers(k[0], k[1] + 1))
        created = date.fromisoformat(need["created"])
        for product in eligible[:want]:
            first = created + timedelta(days=int(rng.integers(1, 30)))
            decided = first + timedelta(days=int(rng.integers(5, 60)))
            base = {"need_id": need["id"], "product_id": product["id"]}
            out.append({**base, "stage": "recommended", "date": first.isoformat()})
            r = rng.random()
            if r < 0.05:
                continue
            if r < 0.1:
                out.append({**base, "stage": "withdrawn", "date": decided.isoformat()})
                continue
            if rng.random() < world.probability(need, product):
                out.append(
                    {
                        **base,
                        "stage": "approved",
                        "date": decided.isoformat(),
                        "amount_cny": need["amount_cny"],
                    }
                )
                if rng.random() < 0.6:
                    funded = decided + timedelta(days=int(rng.integers(3, 20)))
                    out.append(
                        {
                            **base,
                            "stage": "funded",
                            "date": funded.isoformat(),
                            "amount_cny": need["amount_cny"],
                        }
                    )
            else:
                out.append({**base, "stage": "declined", "date": decided.isoformat()})
    return out
