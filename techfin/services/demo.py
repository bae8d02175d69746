"""A realistic, deterministic demo data set, written through the import path.

Industries and places follow the seed articles: Zhongshan's specialised towns (lighting in
古镇, hardware and locks in 小榄, furniture, biopharma, electronics, software) and the 16
pilot regions of the national sci-tech finance programme.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from faker import Faker
from stdnum.cn import uscc as stdnum_uscc

from techfin.extensions import db

# (industry code, zh noun for names, description fragments)
SECTORS: list[tuple[str, str, list[str]]] = [
    (
        "C38",
        "照明",
        ["LED 智能灯饰研发与制造", "照明控制系统", "出口欧美市场的灯具", "物联网照明方案"],
    ),
    ("C33", "五金", ["精密五金件加工", "不锈钢厨卫五金", "模具设计与冲压", "表面处理工艺"]),
    ("C33", "锁具", ["智能门锁研发", "指纹锁与人脸识别锁", "锁芯防盗技术", "酒店门禁系统"]),
    ("C21", "家具", ["红木家具设计", "定制板式家具", "智能办公家具", "环保涂装工艺"]),
    ("C27", "生物医药", ["中成药研发生产", "生物制药与疫苗", "医疗器械注册", "GMP 认证生产线"]),
    ("C39", "电子", ["消费电子产品制造", "集成电路封装测试", "芯片设计", "传感器与智能模组"]),
    ("I65", "软件", ["工业软件开发", "人工智能算法平台", "企业管理 SaaS", "大数据分析服务"]),
    ("C35", "智能装备", ["自动化农用饲养设备", "智能制造产线", "工业机器人集成", "数控机床"]),
    ("C34", "机械", ["家用电器零部件", "风机与泵阀", "新能源汽车零部件", "锂电池生产设备"]),
]

# Zhongshan first (the seed platform), then the 16 national pilot regions.
HOME_REGION = "442000"
PILOT_REGIONS = [
    "110000", "120000", "310000", "320100", "330100", "340100", "420100", "430100",
    "440100", "500000", "510100", "510700", "610100", "210200", "370200", "440300",
]  # fmt: skip
CITY_PREFIX = {"442000": "中山", "510100": "成都", "440300": "深圳", "440100": "广州",
               "310000": "上海", "110000": "北京", "330100": "杭州", "420100": "武汉"}  # fmt: skip

FUNDERS: list[dict[str, Any]] = [
    {"ref": "F-BOC-ZS", "name": "中国银行中山分行科技支行", "kind": "bank", "regions": ["4420"]},
    {"ref": "F-ZSRCB", "name": "中山农村商业银行科技支行", "kind": "bank", "regions": ["4420"]},
    {"ref": "F-XLVB", "name": "中山小榄村镇银行", "kind": "bank", "regions": ["4420"]},
    {"ref": "F-CMB-CD", "name": "招商银行成都科技支行", "kind": "bank", "regions": ["5101"]},
    {"ref": "F-CDB", "name": "成都银行科技金融事业部", "kind": "bank", "regions": ["51"]},
    {"ref": "F-SPDB", "name": "浦发硅谷银行", "kind": "bank", "regions": []},
    {"ref": "F-VC-YC", "name": "盈创动力创业投资基金", "kind": "vc", "regions": ["51"]},
    {"ref": "F-VC-ZSKC", "name": "中山科创投资有限公司", "kind": "vc", "regions": ["44"]},
    {"ref": "F-VC-SZ", "name": "深圳前海科技创投基金", "kind": "vc", "regions": []},
    {"ref": "F-GF-GD", "name": "广东省创业投资引导基金", "kind": "guidance_fund", "regions": ["44"]},
    {"ref": "F-GU-ZS", "name": "中山中盈融资担保有限公司", "kind": "guarantee", "regions": ["4420"]},
    {"ref": "F-GU-CD", "name": "成都中小企业融资担保有限责任公司", "kind": "guarantee", "regions": ["5101"]},
    {"ref": "F-ML-ZS", "name": "中山火炬小额贷款有限公司", "kind": "microloan", "regions": ["4420"]},
    {"ref": "F-INS-PICC", "name": "人保财险中山分公司（科技保险）", "kind": "insurer", "regions": ["44"]},
]  # fmt: skip

# Institutions a region-scale platform adds as it grows (one per EXTRA_FUNDER_EVERY
# enterprises, all 16 from 80 000 on, so 100 000 enterprises meet 30 institutions).
EXTRA_FUNDERS: list[dict[str, Any]] = [
    {"ref": "F-ICBC-GZ", "name": "工商银行广州科技支行", "kind": "bank", "regions": ["4401"]},
    {"ref": "F-CCB-SZ", "name": "建设银行深圳科技金融创新中心", "kind": "bank", "regions": ["4403"]},
    {"ref": "F-BOCOM-SH", "name": "交通银行上海张江科技支行", "kind": "bank", "regions": ["31"]},
    {"ref": "F-CIB-HZ", "name": "兴业银行杭州科技支行", "kind": "bank", "regions": ["3301"]},
    {"ref": "F-ABC-WH", "name": "农业银行武汉光谷科技支行", "kind": "bank", "regions": ["4201"]},
    {"ref": "F-CITIC-BJ", "name": "中信银行北京中关村科技支行", "kind": "bank", "regions": ["11"]},
    {"ref": "F-HSB-HF", "name": "徽商银行合肥科技支行", "kind": "bank", "regions": ["3401"]},
    {"ref": "F-XAB-XA", "name": "西安银行高新科技支行", "kind": "bank", "regions": ["6101"]},
    {"ref": "F-VC-NJ", "name": "南京紫金科技创业投资基金", "kind": "vc", "regions": ["32"]},
    {"ref": "F-VC-CS", "name": "长沙麓谷创业投资有限公司", "kind": "vc", "regions": ["4301"]},
    {"ref": "F-GF-CQ", "name": "重庆市产业引导股权投资基金", "kind": "guidance_fund", "regions": ["50"]},
    {"ref": "F-GU-TJ", "name": "天津滨海科技融资担保有限公司", "kind": "guarantee", "regions": ["12"]},
    {"ref": "F-GU-QD", "name": "青岛高创科技融资担保有限公司", "kind": "guarantee", "regions": ["3702"]},
    {"ref": "F-ML-DL", "name": "大连高新区科技小额贷款有限公司", "kind": "microloan", "regions": ["2102"]},
    {"ref": "F-ML-MY", "name": "绵阳科技城小额贷款有限公司", "kind": "microloan", "regions": ["5107"]},
    {"ref": "F-INS-CPIC", "name": "太平洋财险科技保险事业部", "kind": "insurer", "regions": []},
]  # fmt: skip
EXTRA_FUNDER_EVERY = 5000
# One product per this many enterprises (at least the hand-written ones): 2 000 at 100 000.
ENTERPRISES_PER_PRODUCT = 50
# Needs with a recorded docking history. Up to this many every published or closed need
# has one (the small demo trains the model on them); a region-scale platform imported most
# of its needs from registries, so beyond it a need has a history with proportionally
# lower odds, which keeps the outcomes near one per enterprise at 100 000.
DOCKED_NEEDS = 22000
# What each kind of institution offers, for the generated products.
FUNDER_PRODUCT_KINDS = {
    "bank": ["loan", "loan", "ip_pledge"], "vc": ["equity"], "guidance_fund": ["equity"],
    "guarantee": ["guarantee"], "microloan": ["loan"], "insurer": ["insurance"],
}  # fmt: skip
SERIES = ["成长", "创新", "专精特新", "科创", "高企", "首贷", "续贷", "人才", "园区", "出口"]

PRODUCTS: list[dict[str, Any]] = [
    {"funder_ref": "F-BOC-ZS", "name": "科技贷（风险准备金合作）", "kind": "loan", "min": 100, "max": 1000, "tmin": 6, "tmax": 36, "rmin": 3.85, "rmax": 5.2, "industries": ["C", "I65"], "requires_high_tech": True, "desc": "中山市科技贷款风险准备金合作产品，面向推荐入库的科技型中小企业，免抵押"},
    {"funder_ref": "F-BOC-ZS", "name": "知识产权质押贷", "kind": "ip_pledge", "min": 100, "max": 1000, "tmin": 12, "tmax": 36, "rmin": 3.85, "rmax": 5.5, "requires_patent": True, "accepted_ip": ["invention", "utility_model", "software_copyright"], "desc": "以已授权发明专利、实用新型专利或已登记的软件著作权质押，评估价值的 30%-50% 授信"},
    {"funder_ref": "F-ZSRCB", "name": "专精特新信用贷", "kind": "loan", "min": 50, "max": 500, "tmin": 6, "tmax": 24, "rmin": 4.2, "rmax": 6.0, "stages": ["growth", "mature"], "desc": "面向专精特新和高新技术企业的纯信用贷款，审批快"},
    {"funder_ref": "F-ZSRCB", "name": "科技支行订单贷", "kind": "loan", "min": 30, "max": 300, "tmin": 3, "tmax": 12, "rmin": 4.5, "rmax": 6.5, "requires_collateral": False, "desc": "凭真实订单放款，适合出口灯饰与五金企业流动资金"},
    {"funder_ref": "F-XLVB", "name": "小榄镇科技型企业贷款", "kind": "loan", "min": 20, "max": 300, "tmin": 6, "tmax": 24, "rmin": 4.8, "rmax": 7.2, "regions": ["442000"], "desc": "小榄镇政府推荐、村镇银行放款的科技企业贷款，支持锁具、五金、电子企业"},
    {"funder_ref": "F-CMB-CD", "name": "科创易贷", "kind": "loan", "min": 100, "max": 2000, "tmin": 12, "tmax": 36, "rmin": 3.7, "rmax": 5.0, "requires_high_tech": True, "desc": "成都高新区科技型企业信用贷款，盈创动力平台推荐"},
    {"funder_ref": "F-CDB", "name": "知识产权质押融资", "kind": "ip_pledge", "min": 50, "max": 3000, "tmin": 12, "tmax": 36, "rmin": 3.9, "rmax": 5.6, "requires_patent": True, "desc": "四川省知识产权质押融资风险补偿产品，发明专利优先"},
    {"funder_ref": "F-SPDB", "name": "投贷联动科技贷", "kind": "loan", "min": 300, "max": 5000, "tmin": 12, "tmax": 48, "rmin": 4.0, "rmax": 6.5, "stages": ["startup", "growth"], "desc": "对获得创投机构投资的科技企业提供投贷联动贷款"},
    {"funder_ref": "F-VC-YC", "name": "盈创成长期股权投资", "kind": "equity", "min": 500, "max": 5000, "industries": ["C39", "I65", "C27"], "stages": ["startup", "growth"], "desc": "专注电子信息、软件和生物医药的成长期股权投资"},
    {"funder_ref": "F-VC-ZSKC", "name": "中山科创天使投资", "kind": "equity", "min": 100, "max": 1000, "stages": ["seed", "startup"], "desc": "投资中山本地初创期科技企业，关注智能制造和新材料"},
    {"funder_ref": "F-VC-SZ", "name": "硬科技 A 轮投资", "kind": "equity", "min": 1000, "max": 10000, "industries": ["C39", "C35", "I65"], "stages": ["growth"], "requires_high_tech": True, "desc": "芯片、机器人、工业软件等硬科技赛道的 A 轮、B 轮投资"},
    {"funder_ref": "F-GF-GD", "name": "省引导基金子基金直投", "kind": "equity", "min": 1000, "max": 8000, "stages": ["growth", "mature"], "desc": "广东省创业投资引导基金参股子基金，支持战略性新兴产业"},
    {"funder_ref": "F-GU-ZS", "name": "科技企业融资担保", "kind": "guarantee", "min": 50, "max": 1000, "tmin": 6, "tmax": 36, "rmin": 1.0, "rmax": 2.0, "desc": "为科技型中小企业银行贷款提供担保，担保费率 1%-2%"},
    {"funder_ref": "F-GU-CD", "name": "知识产权反担保贷款担保", "kind": "guarantee", "min": 100, "max": 2000, "tmin": 12, "tmax": 36, "rmin": 0.8, "rmax": 1.8, "requires_patent": True, "desc": "以知识产权作反担保的融资担保"},
    {"funder_ref": "F-ML-ZS", "name": "科技小额快贷", "kind": "loan", "min": 10, "max": 200, "tmin": 1, "tmax": 12, "rmin": 8.0, "rmax": 15.0, "desc": "小额贷款公司短期周转贷款，三个工作日放款"},
    {"funder_ref": "F-INS-PICC", "name": "首台套重大技术装备保险", "kind": "insurance", "min": 50, "max": 5000, "tmin": 12, "tmax": 12, "rmin": 0.5, "rmax": 1.5, "industries": ["C34", "C35"], "desc": "科技保险：首台（套）重大技术装备综合险，保费补贴"},
    {"funder_ref": "F-INS-PICC", "name": "专利执行保险", "kind": "insurance", "min": 10, "max": 500, "tmin": 12, "tmax": 12, "rmin": 1.0, "rmax": 3.0, "requires_patent": True, "desc": "知识产权保险，覆盖专利维权调查与诉讼费用"},
]  # fmt: skip

NEED_PURPOSES = {
    "loan": ["新产品生产线流动资金", "原材料采购周转", "扩大产能购置设备", "出口订单备货"],
    "ip_pledge": ["以发明专利质押补充研发资金", "专利产业化流动资金", "新产品试产"],
    "equity": ["A 轮融资用于研发团队扩张", "天使轮融资完成样机", "建设研发中心和市场推广"],
    "guarantee": ["银行贷款需要担保增信", "申请科技贷的担保"],
    "insurance": ["首台套装备投保", "专利侵权风险保障"],
}
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - printed on purpose for the demo logins


def _uscc(rng: random.Random, region: str) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91" + region + "".join(rng.choice(alphabet) for _ in range(9))
    return body + stdnum_uscc.calc_check_digit(body + "0")


PATENT_SERIAL_MAX = 9_999_999  # CNIPA numbers carry a 7-digit serial per year and type


def _patent_number(year: int, kind_digit: int, serial: int) -> str:
    """CNIPA application number: year, type digit, 7-digit serial, "." and check character."""
    if not 0 <= serial <= PATENT_SERIAL_MAX:
        # A wider serial would make a 13-digit number that no validator accepts.
        raise ValueError(f"patent serial {serial} does not fit in 7 digits")
    digits = f"{year}{kind_digit}{serial:07d}"
    weights = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5]
    check = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return f"{digits}.{'X' if check == 10 else check}"


class PatentSerials:
    """Serials as CNIPA hands them out: one increasing sequence per (year, type), with gaps
    for applications filed by others. One sequence for all years and types (as before)
    passed 7 digits at about 20 000 enterprises."""

    def __init__(self, rng: random.Random, start: int = 100000, max_gap: int = 900) -> None:
        self.rng, self.start, self.max_gap = rng, start, max_gap
        self.last: dict[tuple[int, int], int] = {}

    def next(self, year: int, kind_digit: int) -> str:
        serial = self.last.get((year, kind_digit), self.start) + self.rng.randint(1, self.max_gap)
        self.last[(year, kind_digit)] = serial
        return _patent_number(year, kind_digit, serial)


def _extra_products(
    rng: random.Random, funders: list[dict[str, Any]], count: int, first: int
) -> Iterator[dict[str, Any]]:
    """Products a region-scale platform lists beyond the hand-written ones: variants of
    those, offered by institutions whose kind fits, in each institution's own regions."""
    templates: dict[str, list[dict[str, Any]]] = {}
    for p in PRODUCTS:
        templates.setdefault(p["kind"], []).append(p)
    sector_codes = sorted({code for code, _noun, _blurbs in SECTORS})
    for i in range(first, first + count):
        funder = funders[i % len(funders)]
        kind = rng.choice(FUNDER_PRODUCT_KINDS[funder["kind"]])
        t = rng.choice(templates[kind])
        scale = rng.choice([0.5, 1, 1, 2])
        low, high = max(10, int(t["min"] * scale)), max(20, int(t["max"] * scale))
        rec = {"type": "product", "ref": f"P-{i:03d}", "funder_ref": funder["ref"],
               "name": f"{t['name']}·{rng.choice(SERIES)}{i % 97 + 1}号",
               "kind": kind, "min_amount_cny": low * 10000, "max_amount_cny": high * 10000,
               "description": t["desc"],
               "industries": sorted(rng.sample(sector_codes, rng.randint(1, 3)))
               if rng.random() < 0.4 else [],
               "regions": list(funder["regions"]),
               "stages": t.get("stages", []), "requires_patent": t.get("requires_patent", False),
               "requires_collateral": rng.random() < 0.15,
               "requires_high_tech": t.get("requires_high_tech", False) or rng.random() < 0.1}  # fmt: skip
        if "accepted_ip" in t:
            rec["accepted_ip"] = list(t["accepted_ip"])
        for key, src in (("min_term_months", "tmin"), ("max_term_months", "tmax"),
                         ("rate_min", "rmin"), ("rate_max", "rmax")):  # fmt: skip
            if src in t:
                rec[key] = t[src]
        yield rec


def _copyrights_and_trademarks(
    seed: int, i: int, ent_ref: str, industry: str, brand: str, blurbs: list[str], today: date
) -> Iterator[dict[str, Any]]:
    """Software firms hold software copyrights (软件著作权) rather than patents, and some
    firms a trademark. A generator of its own, seeded per enterprise, so adding these left
    every other demo record (and the docking history drawn after them) as it was."""
    rng = random.Random(seed * 1_000_003 + i)
    if industry == "I65":
        for j in range(rng.choices([1, 2, 3, 5], [3, 3, 2, 1])[0]):
            year = rng.randint(2015, 2025)
            registered = date(year, rng.randint(1, 12), rng.randint(1, 28))
            status = "registered" if registered < today and rng.random() < 0.9 else "pending"
            rec = {"type": "copyright", "ref": f"CR-{i:04d}-{j + 1}", "enterprise_ref": ent_ref,
                   "number": f"{year}SR{rng.randint(0, 1_999_999):07d}",
                   "title": f"{brand}{rng.choice(blurbs)}软件 V{rng.randint(1, 5)}.0",
                   "status": status, "confidential": rng.random() < 0.1}  # fmt: skip
            if status == "registered":
                rec["registered"] = registered.isoformat()
                rec["valuation_cny"] = rng.randint(20, 300) * 10000
            yield rec
    if rng.random() < (0.5 if industry == "I65" else 0.2):
        year = rng.randint(2012, 2025)
        registered = date(year, rng.randint(1, 12), rng.randint(1, 28))
        rec = {"type": "trademark", "ref": f"TM-{i:04d}-1", "enterprise_ref": ent_ref,
               "number": str(rng.randint(10_000_000, 69_999_999)), "name": brand,
               "nice_class": 9 if industry == "I65" else rng.choice([9, 11, 20, 35, 42]),
               "status": "registered" if registered < today else "pending"}  # fmt: skip
        if rec["status"] == "registered":
            rec["registered"] = registered.isoformat()
            rec["valuation_cny"] = rng.randint(10, 200) * 10000
        yield rec


def _region_fits(product: dict[str, Any], region: str) -> bool:
    return not product["regions"] or any(region.startswith(r) for r in product["regions"])


def generate(enterprises: int = 120, seed: int = 2026) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (location, record) pairs for import_records; the same seed gives the same data.

    Per enterprise about 1.3 needs and 1.8 patents; institutions and products grow with the
    number of enterprises (30 and 2 000 at 100 000), docking outcomes about one per
    enterprise at that size (see DOCKED_NEEDS).
    """
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    today = date(2026, 11, 1)
    n = 0

    def emit(record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        nonlocal n
        n += 1
        return f"demo {n}", record

    funders = FUNDERS + EXTRA_FUNDERS[: enterprises // EXTRA_FUNDER_EVERY]
    for f in funders:
        yield emit({"type": "funder", **f, "description": f["name"] + "，科技金融合作机构",
                    "contact_email": f"{f['ref'].lower()}@demo.techfin.cn", "verified": True})  # fmt: skip
    products = []
    for i, p in enumerate(PRODUCTS, start=1):
        rec = {"type": "product", "ref": f"P-{i:03d}", "funder_ref": p["funder_ref"],
               "name": p["name"], "kind": p["kind"], "min_amount_cny": p["min"] * 10000,
               "max_amount_cny": p["max"] * 10000, "description": p["desc"],
               "industries": p.get("industries", []), "regions": p.get("regions", []),
               "stages": p.get("stages", []), "requires_patent": p.get("requires_patent", False),
               "requires_collateral": p.get("requires_collateral", False),
               "requires_high_tech": p.get("requires_high_tech", False)}  # fmt: skip
        if "accepted_ip" in p:
            rec["accepted_ip"] = list(p["accepted_ip"])
        for key, src in (("min_term_months", "tmin"), ("max_term_months", "tmax"),
                         ("rate_min", "rmin"), ("rate_max", "rmax")):  # fmt: skip
            if src in p:
                rec[key] = p[src]
        products.append(rec)
        yield emit(rec)
    extra = max(0, enterprises // ENTERPRISES_PER_PRODUCT - len(PRODUCTS))
    for rec in _extra_products(rng, funders, extra, len(PRODUCTS) + 1):
        products.append(rec)
        yield emit(rec)

    serials = PatentSerials(rng)
    usccs: set[str] = set()
    needs: list[tuple[dict[str, Any], dict[str, Any], int]] = []
    for i in range(1, enterprises + 1):
        industry, noun, blurbs = rng.choice(SECTORS)
        region = HOME_REGION if rng.random() < 0.55 else rng.choice(PILOT_REGIONS)
        city = CITY_PREFIX.get(region, "")
        brand = fake.company_prefix()
        name = f"{city}{'市' if city else ''}{brand}{noun}科技有限公司"
        stage = rng.choices(["seed", "startup", "growth", "mature"], [1, 3, 4, 2])[0]
        employees = {"seed": rng.randint(3, 20), "startup": rng.randint(10, 80),
                     "growth": rng.randint(40, 400), "mature": rng.randint(150, 1500)}[stage]  # fmt: skip
        revenue = employees * rng.randint(20, 120) * 10000
        high_tech = rng.random() < (0.25 if stage in ("seed", "startup") else 0.6)
        founded = today - timedelta(days=rng.randint(365, 365 * 20))
        uscc = _uscc(rng, region)
        while uscc in usccs:  # unique by law; a repeat is unlikely but would fail the import
            uscc = _uscc(rng, region)
        usccs.add(uscc)
        ent_ref = f"E-{i:04d}"
        yield emit({"type": "enterprise", "ref": ent_ref, "name": name, "uscc": uscc,
                    "industry": industry, "region": region, "founded": founded.isoformat(),
                    "employees": employees, "revenue_cny": revenue,
                    "total_assets_cny": int(revenue * rng.uniform(0.6, 1.8)), "high_tech": high_tech,
                    "stage": stage,
                    "description": f"{name}专注{'、'.join(rng.sample(blurbs, 2))}，"
                                   f"{'国家高新技术企业，' if high_tech else ''}员工 {employees} 人。",
                    "contact_email": f"contact{i}@demo-ent.techfin.cn"})  # fmt: skip
        granted_value = 0
        for j in range(rng.choices([0, 1, 2, 3, 5], [2, 3, 2, 2, 1])[0]):
            kind = rng.choices(["invention", "utility_model", "design"], [4, 4, 2])[0]
            year = rng.randint(2012, 2025)
            kind_digit = {"invention": 1, "utility_model": 2, "design": 3}[kind]
            number = serials.next(year, kind_digit)
            status = rng.choices(["granted", "pending", "lapsed"], [6, 3, 1])[0]
            filed = date(year, rng.randint(1, 12), rng.randint(1, 28))
            granted = filed + timedelta(days=rng.randint(200, 900))
            if status == "granted" and granted > today:
                status = "pending"  # examination takes time: no grant dates in the future
            value = rng.randint(20, 800) * 10000 if status == "granted" else None
            if value and kind == "invention":
                granted_value += value
            rec = {"type": "patent", "ref": f"PT-{i:04d}-{j + 1}", "enterprise_ref": ent_ref,
                   "number": number,
                   "title": f"一种{rng.choice(blurbs)}的{rng.choice(['方法', '装置', '系统', '结构'])}",
                   "kind": kind, "status": status, "filed": filed.isoformat(),
                   "confidential": rng.random() < 0.15,
                   "abstract": f"本{'发明' if kind == 'invention' else '实用新型'}涉及{noun}领域。"}  # fmt: skip
            if status == "granted":
                rec["granted"] = granted.isoformat()
                rec["valuation_cny"] = value
            yield emit(rec)
        for rec in _copyrights_and_trademarks(seed, i, ent_ref, industry, brand, blurbs, today):
            yield emit(rec)
        count = rng.choices([0, 1, 2, 3], [3, 9, 7, 1])[0]
        if i == 1:  # the demo enterprise login's own firm: something to see on first login
            count = max(count, 2)
        for k in range(count):
            kind = rng.choices(["loan", "ip_pledge", "equity", "guarantee", "insurance"],
                               [5, 3 if granted_value else 1, 2, 1, 1])[0]  # fmt: skip
            amount = rng.choice([30, 50, 100, 200, 300, 500, 800, 1000, 2000, 3000]) * 10000
            created = today - timedelta(days=rng.randint(5, 700))
            need = {"type": "need", "ref": f"N-{i:04d}-{k + 1}", "enterprise_ref": ent_ref,
                    "kind": kind, "amount_cny": amount,
                    "term_months": None if kind == "equity" else rng.choice([6, 12, 24, 36]),
                    "purpose": rng.choice(NEED_PURPOSES[kind]),
                    "collateral_available": rng.random() < 0.3,
                    "status": rng.choices(["published", "draft", "closed"], [7, 2, 1])[0],
                    "created": created.isoformat()}  # fmt: skip
            if need["term_months"] is None:
                del need["term_months"]
            if i == 1 and k == 0:
                need["status"] = "published"  # institutions can see the demo firm at once
            needs.append((need, {"industry": industry, "region": region, "stage": stage,
                                 "high_tech": high_tech, "ip_value": granted_value}, i))  # fmt: skip
            yield emit(need)

    # Historical dockings: approvals follow a hidden but sensible rule, so the model has
    # something real to learn (IP loans need valuation ≥ 2× amount; banks like high-tech).
    decided = [item for item in needs if item[0]["status"] != "draft"]
    docked_odds = min(1.0, DOCKED_NEEDS / max(1, len(decided)))
    candidates: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for need, ent, _i in decided:
        if docked_odds < 1.0 and rng.random() >= docked_odds:
            continue
        key = (need["kind"], ent["region"])
        if key not in candidates:  # same kind, serving the enterprise's region
            candidates[key] = [
                p for p in products if p["kind"] == need["kind"] and _region_fits(p, ent["region"])
            ]
        same_kind = candidates[key]
        for p in rng.sample(same_kind, min(len(same_kind), rng.randint(0, 4))):
            start = date.fromisoformat(need["created"]) + timedelta(days=rng.randint(1, 20))
            if start >= today:
                continue
            yield emit({"type": "outcome", "need_ref": need["ref"], "product_ref": p["ref"],
                        "stage": "contacted", "date": start.isoformat()})  # fmt: skip
            score = (
                0.35 + (0.25 if ent["high_tech"] else 0) + (0.1 if ent["stage"] == "growth" else 0)
            )
            if need["kind"] == "ip_pledge":
                score = 0.85 if ent["ip_value"] >= 2 * need["amount_cny"] else 0.1
            if p["max_amount_cny"] and need["amount_cny"] > p["max_amount_cny"]:
                score -= 0.4
            decided_on = start + timedelta(days=rng.randint(10, 60))
            if decided_on >= today:
                continue
            if rng.random() < score:
                yield emit({"type": "outcome", "need_ref": need["ref"], "product_ref": p["ref"],
                            "stage": "approved", "date": decided_on.isoformat(),
                            "amount_cny": need["amount_cny"]})  # fmt: skip
                issued = decided_on + timedelta(days=rng.randint(3, 20))
                if issued < today and need["kind"] != "equity":
                    term = need.get("term_months") or 12
                    yield emit({"type": "outcome", "need_ref": need["ref"], "product_ref": p["ref"],
                                "stage": "funded", "date": issued.isoformat(),
                                "amount_cny": need["amount_cny"],
                                "rate": round(rng.uniform(p.get("rate_min") or 4, p.get("rate_max") or 6), 2),
                                "issued": issued.isoformat(),
                                "matures": (issued + timedelta(days=30 * term)).isoformat(),
                                "repayment": rng.choice(["bullet", "equal_installment", "interest_only"])})  # fmt: skip
            else:
                yield emit({"type": "outcome", "need_ref": need["ref"], "product_ref": p["ref"],
                            "stage": "declined", "date": decided_on.isoformat(),
                            "note": "不符合授信条件"})  # fmt: skip


DEMO_ACCOUNTS = [
    ("operator@demo.techfin.cn", "operator", None, "平台运营"),
    ("admin@demo.techfin.cn", "admin", None, "系统管理员"),
    ("enterprise@demo.techfin.cn", "enterprise", "E-0001", "企业用户"),
    ("bank@demo.techfin.cn", "bank", "F-BOC-ZS", "科技支行客户经理"),
    ("investor@demo.techfin.cn", "investor", "F-VC-YC", "投资经理"),
]


def ensure_accounts(password: str = DEMO_PASSWORD) -> list[str]:
    """Create one demo login per role (idempotent); return printable lines."""
    from techfin.services import accounts

    lines = ["Demo accounts (password: " + password + "):"]
    for email, role, org_ref, name in DEMO_ACCOUNTS:
        if accounts.find_user(email) is None:
            org = accounts.find_organization(org_ref) if org_ref else None
            accounts.create_user(
                email, password, role, name=name, organization=org, org_role="owner"
            )
            db.session.commit()
        lines.append(f"  {role:<10} {email}" + (f"  ({org_ref})" if org_ref else ""))
    return lines
