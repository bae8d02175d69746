"""Search benchmark: our Whoosh engine vs a naive Whoosh build vs SQLite FTS5 (not a test).

    .venv/bin/python bench/search.py --n 100000

Prints one table: build docs/s, query p50/p95, recall against substring truth, time until an
applied change is searchable, and the RSS the open index adds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Words of a sci-tech finance corpus, most common first (Zipf by rank).
_VOCAB_TEXT = """
企业 科技 技术 公司 研发 产品 发展 创新 服务 融资 产业 市场 项目 管理 生产 投资 合作 平台 系统 应用 智能 数据 制造 行业 客户 专利 团队 资金 设备 提供
中小企业 高新技术企业 贷款 银行 金融 知识产权 核心 质量 能力 领域 国家 政府 支持 建设 材料 工程 信息 网络 软件 解决方案 工艺 规模 销售 收入 利润 增长 品牌
标准 认证 检测 专精特新 科技型中小企业 授信 担保 融资担保 信用贷款 股权投资 创业投资 风险投资 引导基金 产业基金 天使投资 科技支行 科技贷款 知识产权质押融资
知识产权质押 风险准备金 银企对接 小额贷款 供应链金融 投贷联动 科技保险 贷款贴息 路演 放款 人工智能 物联网 芯片 集成电路 半导体 新能源 新材料 生物医药 医疗器械
智能制造 工业互联网 大数据 云计算 区块链 机器人 无人机 锂电池 储能 光伏 氢能 传感器 照明 灯具 电子 电气 通信 光电 显示 自动化 数控 机床 模具 精密 仪器 汽车
零部件 新能源汽车 电池 电机 控制器 算法 视觉 语音 医疗 诊断 试剂 疫苗 药物 化工 环保 节能 水处理 农业 食品 纺织 服装 家具 家电 五金 包装 印刷 物流 电商 教育
文化 创意 设计 咨询 检验 测试 孵化器 众创空间 成果转化 产学研 高校 研究院 实验室 博士 硕士 工程师 人才 员工 厂房 生产线 产能 订单 出口 海外 国内 华南 珠三角
长三角 粤港澳 大湾区 发明专利 实用新型 外观设计 软件著作权 商标 国家级 省级 市级 重点 示范 龙头 领军 独角兽 小巨人 上市 挂牌 新三板 科创板 创业板 估值 营收
净利润 毛利率 现金流 应收账款 抵押 质押 保证 信用 评级 风控 征信 流动资金 固定资产 扩产 升级 改造 数字化 转型 智慧 城市 安防 监控 交通 能源 电力 电网 储存
充电桩 芯片设计 封装 测试服务 晶圆 光刻 材料科学 纳米 石墨烯 碳纤维 复合材料 陶瓷 玻璃 塑料 橡胶 金属 铝合金 不锈钢 铸造 锻造 焊接 激光 光纤 雷达 卫星 导航
航空 航天 船舶 海洋 生物 基因 细胞 蛋白 检测仪器 分析仪 显微镜 LED 5G AI IoT SaaS ERP MES PCB OLED
"""
VOCAB = _VOCAB_TEXT.split()

CITIES = [
    ("442000", "中山"),
    ("440300", "深圳"),
    ("440100", "广州"),
    ("440600", "佛山"),
    ("441900", "东莞"),
    ("440400", "珠海"),
    ("330100", "杭州"),
    ("320500", "苏州"),
    ("310100", "上海"),
    ("110100", "北京"),
    ("510100", "成都"),
    ("420100", "武汉"),
]
INDUSTRIES = ["C38", "C39", "C35", "C34", "C26", "C27", "I65", "I64", "M73", "M75", "C40", "D44"]
STAGES = ["seed", "angel", "a", "b", "c", "pre_ipo"]
SIZES = ["micro", "small", "medium", "large"]
STATUSES = ["active", "active", "active", "paused"]
BRAND_CHARS = "明辉华达鑫源创新锐科宏远恒泰德信安盛腾飞智联芯宇博睿凯捷云海天通光谷星辰"
FORMS = ["有限公司", "科技有限公司", "股份有限公司", "技术有限公司", "电子有限公司"]
GLUE = ["的", "和", "、", "，", "，", "。", "与", "及", "在", "为", ""]


def zipf_weights(n: int, s: float = 1.05) -> list[float]:
    return [1.0 / (r**s) for r in range(1, n + 1)]


def make_corpus(n: int, seed: int = 20240601) -> list[dict]:
    """N synthetic enterprise documents, 100–300 characters, deterministic for a seed."""
    rng = random.Random(seed)
    cum = list(_accumulate(zipf_weights(len(VOCAB))))
    docs: list[dict] = []
    for i in range(1, n + 1):
        code, city = CITIES[i % len(CITIES)]
        brand = "".join(rng.choice(BRAND_CHARS) for _ in range(2))
        name = f"{city}{brand}{rng.choice(VOCAB[60:140])}{rng.choice(FORMS)}"
        target = rng.randint(100, 300)
        parts: list[str] = [name, "成立于", str(rng.randint(1995, 2023)), "年，"]
        length = sum(len(p) for p in parts)
        while length < target:
            w = rng.choices(VOCAB, cum_weights=cum)[0]
            g = rng.choice(GLUE)
            parts.append(w + g)
            length += len(w) + len(g)
        body = "".join(parts)[:target]
        docs.append(
            {
                "type": "enterprise",
                "id": i,
                "ref": f"E{i:06d}",
                "title": name,
                "body": body,
                "org_id": i,
                "org_name": name,
                "visibility": "institutions" if i % 10 else "owner",
                "industry": INDUSTRIES[rng.randrange(len(INDUSTRIES))],
                "region": code[:4] + f"{rng.randint(0, 20):02d}",
                "stage": rng.choice(STAGES),
                "size": rng.choice(SIZES),
                "status": rng.choice(STATUSES),
                "amount": rng.randrange(50, 5000) * 10000,
                "date": f"20{rng.randint(18, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "version": f"v{i}",
            }
        )
    return docs


def _accumulate(ws: list[float]) -> Iterator[float]:
    total = 0.0
    for w in ws:
        total += w
        yield total


def make_queries(n: int = 200, seed: int = 7) -> list[str]:
    """One-to-three-word queries; words drawn Zipf-like but flattened (people search mid terms)."""
    rng = random.Random(seed)
    cum = list(_accumulate(zipf_weights(len(VOCAB), 0.6)))
    out: list[str] = []
    while len(out) < n:
        k = rng.choice([1, 1, 2, 2, 2, 3])
        words = {rng.choices(VOCAB, cum_weights=cum)[0] for _ in range(k)}
        out.append(" ".join(sorted(words)))
    return out


# --------------------------------------------------------------------------- helpers


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def doc_text(d: dict) -> str:
    return f"{d['title']} {d.get('org_name', '')} {d['body']}"


# --------------------------------------------------------------------------- (a) builds


def naive_build(docs: list[dict], where: Path) -> float:
    """The obvious Whoosh build: jieba analyzer on text fields with positions, one writer."""
    from whoosh import fields, index

    from techfin.search.analysis import ChineseAnalyzer

    ana = ChineseAnalyzer()
    schema = fields.Schema(
        key=fields.ID(stored=True, unique=True),
        title=fields.TEXT(analyzer=ana, stored=True),
        org_name=fields.TEXT(analyzer=ana, stored=True),
        body=fields.TEXT(analyzer=ana, stored=True),
        industry=fields.KEYWORD(stored=True),
        region=fields.KEYWORD(stored=True),
        amount=fields.NUMERIC(stored=True, sortable=True),
    )
    ix = index.create_in(str(where), schema)
    t = time.perf_counter()
    w = ix.writer(timeout=30)
    for d in docs:
        w.add_document(
            key=f"{d['type']}:{d['id']}",
            title=d["title"],
            org_name=d["org_name"],
            body=d["body"],
            industry=d["industry"],
            region=d["region"],
            amount=d["amount"],
        )
    w.commit()
    return len(docs) / (time.perf_counter() - t)


def fts5_build(docs: list[dict], where: Path) -> tuple[sqlite3.Connection, float, float]:
    """SQLite FTS5 over jieba-segmented text (its tokenizers cannot cut Chinese words)."""
    from techfin.search.analysis import segment

    con = sqlite3.connect(str(where / "fts.db"))
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE VIRTUAL TABLE fts USING fts5(text)")
    con.execute("CREATE TABLE docs(rowid INTEGER PRIMARY KEY, industry TEXT, city TEXT, size TEXT)")
    t = time.perf_counter()
    seg_time = 0.0
    rows, facets = [], []
    for i, d in enumerate(docs, 1):
        s = time.perf_counter()
        text = " ".join(segment(doc_text(d)))
        seg_time += time.perf_counter() - s
        rows.append((i, text))
        facets.append((i, d["industry"], d["region"][:4], d["size"]))
    con.executemany("INSERT INTO fts(rowid, text) VALUES (?, ?)", rows)
    con.executemany("INSERT INTO docs VALUES (?, ?, ?, ?)", facets)
    con.commit()
    return con, len(docs) / (time.perf_counter() - t), seg_time


def fts5_match(q: str) -> str:
    from techfin.search.analysis import segment

    toks = [t for chunk in q.split() for t in dict.fromkeys(segment(chunk))]
    # Each chunk: all of its search-mode tokens; quoted, so nothing is FTS syntax.
    return " AND ".join('"' + t.replace('"', '""') + '"' for t in toks) or '""'


def fts5_query(con: sqlite3.Connection, q: str, facets: bool) -> list[int]:
    m = fts5_match(q)
    top = [
        r[0]
        for r in con.execute("SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT 10", (m,))
    ]
    if facets:
        for col in ("industry", "city", "size"):
            con.execute(
                f"SELECT {col}, count(*) FROM docs WHERE rowid IN "
                "(SELECT rowid FROM fts WHERE fts MATCH ?) GROUP BY 1",
                (m,),
            ).fetchall()
    return top


# --------------------------------------------------------------------------- (d) truth


def truth_sets(docs: list[dict], queries: list[str]) -> list[set[tuple[str, int]]]:
    from techfin.search.analysis import normalize_width

    texts = [normalize_width(doc_text(d)).lower() for d in docs]
    out = []
    for q in queries:
        chunks = normalize_width(q).lower().split()
        tests = []
        for c in chunks:
            if c.isascii():
                pat = re.compile(r"(?<![a-z0-9])" + re.escape(c) + r"(?![a-z0-9])")
                tests.append(pat.search)
            else:
                tests.append(lambda t, c=c: c in t)
        out.append(
            {
                (d["type"], d["id"])
                for d, t in zip(docs, texts, strict=True)
                if all(f(t) for f in tests)
            }
        )
    return out


# --------------------------------------------------------------------------- (f) memory


RSS_PROBE = r"""
import json, sys, time
sys.path.insert(0, {root!r})
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
base = rss()
from techfin.search import SearchEngine
after_import = rss()
eng = SearchEngine({index!r})
queries = {queries!r}
viewer = {{"role": "institution", "org_id": 1, "verified": True}}
eng.search(queries[0], viewer)
opened = rss()
for q in queries:
    eng.search(q, viewer, per_page=10)
print(json.dumps({{"base": base, "import": after_import, "open": opened, "queried": rss()}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--naive-n", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dir", default=None, help="work dir (default: a temp dir, removed)")
    args = ap.parse_args()

    from techfin.search import SearchEngine

    root = Path(args.dir or tempfile.mkdtemp(prefix="bench-search-"))
    root.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        t = time.perf_counter()
        docs = make_corpus(args.n)
        queries = make_queries(args.queries)
        warm_queries = make_queries(args.queries, seed=8)
        print(f"corpus: {len(docs)} docs, {time.perf_counter() - t:.1f}s to generate", flush=True)

        # (a) naive single-writer build on a subset, extrapolated
        (root / "naive").mkdir()
        naive_rate = naive_build(docs[: args.naive_n], root / "naive")
        shutil.rmtree(root / "naive")
        print(f"naive build: {naive_rate:.0f} docs/s on {args.naive_n}", flush=True)

        eng = SearchEngine(root / "ours")
        stats = eng.rebuild(docs, upto_seq=0)
        ours_rate = stats["docs_per_s"]
        print(f"our rebuild: {ours_rate:.0f} docs/s ({stats['seconds']:.0f}s)", flush=True)

        # (b) FTS5
        con, fts_rate, seg_time = fts5_build(docs, root)
        print(f"fts5 build: {fts_rate:.0f} docs/s (jieba {seg_time:.0f}s)", flush=True)

        rows.append(
            ("build docs/s", f"{ours_rate:.0f}", f"{naive_rate:.0f}", f"{fts_rate:.0f}", "≥ 600")
        )

        # (c) query latency, warm: a different query set first warms searcher and caches
        viewer = {"role": "institution", "org_id": 1, "verified": True}
        for q in warm_queries:
            eng.search(q, viewer, per_page=10)
            fts5_query(con, q, True)
        lat: dict[str, list[float]] = {"ours": [], "ours2": [], "fts": [], "fts_f": []}
        for q in queries:
            s = time.perf_counter()
            eng.search(q, viewer, per_page=10)
            lat["ours"].append((time.perf_counter() - s) * 1000)
        for q in queries:
            s = time.perf_counter()
            eng.search(q, viewer, per_page=10)
            lat["ours2"].append((time.perf_counter() - s) * 1000)
        for q in queries:
            s = time.perf_counter()
            fts5_query(con, q, False)
            lat["fts"].append((time.perf_counter() - s) * 1000)
            s = time.perf_counter()
            fts5_query(con, q, True)
            lat["fts_f"].append((time.perf_counter() - s) * 1000)
        p = {k: (pct(v, 50), pct(v, 95)) for k, v in lat.items()}
        rows.append(
            (
                "query p50 ms (1st pass)",
                f"{p['ours'][0]:.1f}",
                "",
                f"{p['fts'][0]:.1f} / {p['fts_f'][0]:.1f}",
                "≤ 40",
            )
        )
        rows.append(
            (
                "query p95 ms (1st pass)",
                f"{p['ours'][1]:.1f}",
                "",
                f"{p['fts'][1]:.1f} / {p['fts_f'][1]:.1f}",
                "≤ 120",
            )
        )
        rows.append(
            (
                "query p50 / p95 ms (repeat)",
                f"{p['ours2'][0]:.1f} / {p['ours2'][1]:.1f}",
                "",
                "",
                "",
            )
        )
        rows.append(
            (
                "p50 ratio ours / FTS5 (+facets)",
                f"{p['ours'][0] / p['fts'][0]:.2f} ({p['ours'][0] / p['fts_f'][0]:.2f})",
                "",
                "1",
                "",
            )
        )

        # (d) recall and precision against substring truth (operator sees everything)
        truth = truth_sets(docs, queries)
        op = {"role": "operator"}
        tp = fp = fn = 0
        f_tp = f_fn = f_fp = 0
        for q, want in zip(queries, truth, strict=True):
            got = set(eng.match_keys(q, op))
            tp += len(got & want)
            fp += len(got - want)
            fn += len(want - got)
            fts_got = {
                ("enterprise", r[0])
                for r in con.execute("SELECT rowid FROM fts WHERE fts MATCH ?", (fts5_match(q),))
            }
            f_tp += len(fts_got & want)
            f_fp += len(fts_got - want)
            f_fn += len(want - fts_got)
        recall = tp / (tp + fn) if tp + fn else 1.0
        precision = tp / (tp + fp) if tp + fp else 1.0
        f_recall = f_tp / (f_tp + f_fn) if f_tp + f_fn else 1.0
        f_precision = f_tp / (f_tp + f_fp) if f_tp + f_fp else 1.0
        rows.append(("recall vs substring", f"{recall:.4f}", "", f"{f_recall:.4f}", "≥ 0.99"))
        rows.append(("precision vs substring", f"{precision:.4f}", "", f"{f_precision:.4f}", ""))

        # (e) a committed change becomes searchable
        visible_ms, apply_ms = [], []
        for i in range(20):
            d = dict(docs[i])
            d["body"] = d["body"] + f" 新增暗号词{i}号"
            d["version"] = f"bench{i}"
            s = time.perf_counter()
            eng.apply(
                [{"seq": i + 1, "op": "upsert", "type": d["type"], "id": d["id"], "doc": d}], i + 1
            )
            apply_ms.append((time.perf_counter() - s) * 1000)
            while eng.search(f"暗号词{i}号", op, per_page=1)["total"] != 1:
                pass
            visible_ms.append((time.perf_counter() - s) * 1000)
        s = time.perf_counter()
        con.execute("INSERT INTO fts(rowid, text) VALUES (?, ?)", (10**9, "新增 暗号"))
        con.commit()
        fts_insert = (time.perf_counter() - s) * 1000
        rows.append(
            (
                "apply→searchable ms p50/p95",
                f"{pct(visible_ms, 50):.0f} / {pct(visible_ms, 95):.0f}",
                "",
                f"{fts_insert:.1f} (insert+commit)",
                "",
            )
        )
        con.close()
        eng.close()

        # (f) RSS the open index adds, in a fresh process
        probe = RSS_PROBE.format(
            root=str(Path(__file__).resolve().parent.parent),
            index=str(root / "ours"),
            queries=queries,
        )
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        ).stdout
        mem = json.loads(out.strip().splitlines()[-1])
        rows.append(
            (
                "RSS MiB: +open / +200 queries",
                f"{mem['open'] - mem['import']:.0f} / {mem['queried'] - mem['import']:.0f}",
                "",
                "",
                f"(import+jieba {mem['import']:.0f})",
            )
        )
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)

    print()
    print(f"search benchmark, N = {args.n}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    header = (
        "metric",
        "ours",
        f"naive Whoosh ({args.naive_n})",
        "FTS5 (top10 / +facets)",
        "target",
    )
    widths = [max(len(str(r[i])) for r in [header, *rows]) + 2 for i in range(5)]
    for r in [header, *rows]:
        print("".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    gc.collect()


if __name__ == "__main__":
    main()
