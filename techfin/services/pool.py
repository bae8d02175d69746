"""The tech-loan risk-reserve pool (科技贷款风险准备金).

A pool sits at a partner bank. Governments pay in (contributions); the bank lends to the
enterprises the operators recommended, on the pool's products; loans outstanding may reach
`leverage_cap` × balance. When a covered loan defaults the operator records the loss and the
compensation the pool paid (at most `compensation_pct` % of the loss), which reduces the
balance. Every quarter the bank files the 科技贷款项目风险准备金申报汇总表: the loans issued
in the quarter. The platform produces that table from its own outcome records and reconciles
the bank's version against them.

Money is integer yuan throughout; leverage is an exact Fraction.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

from flask_babel import get_locale
from flask_babel import lazy_gettext as _
from sqlalchemy import func, or_, select

from techfin import reference
from techfin.errors import Conflict, DomainError, Forbidden, NotFound
from techfin.extensions import db
from techfin.localtime import beijing_today
from techfin.models import (
    REPAYMENTS,
    Enterprise,
    Funder,
    Need,
    Outcome,
    PoolCompensation,
    PoolContribution,
    PoolEnterprise,
    Product,
    RiskPool,
    UploadJob,
    User,
)
from techfin.money import wan_text
from techfin.services import access, audit, uploads
from techfin.services.reports import Table

LOAN_KINDS = ("loan", "ip_pledge")
MATURITY_WINDOW_DAYS = 90
MAX_AMOUNT_CNY = 10**13  # 10 万亿元: anything larger is a typo

REPORT_TITLE = "科技贷款项目风险准备金申报汇总表"
REPORT_COLUMNS = [
    "序号",
    "企业名称",
    "统一社会信用代码",
    "贷款金额（元）",
    "发放日期",
    "到期日期",
    "利率（%）",
    "用途",
    "还本付息方式",
]
REPAYMENT_ZH = {
    "bullet": "到期一次还本付息",
    "equal_installment": "等额分期",
    "interest_only": "按期付息、到期还本",
}


def _forbidden() -> Forbidden:
    return Forbidden(_("You may not manage this risk-reserve pool."))


# ------------------------------------------------------------------ access


def can_manage(user: User) -> bool:
    return user.is_operator


def can_view(user: User, pool: RiskPool) -> bool:
    """Operators, and the staff of the partner bank while it is verified."""
    return user.is_operator or (
        access.is_verified_institution(user) and access.org_id(user) == pool.funder_id
    )


def visible_pools(user: User) -> list[RiskPool]:
    query = select(RiskPool).order_by(RiskPool.id)
    if not user.is_operator:
        if not access.is_verified_institution(user):
            raise _forbidden()
        query = query.where(RiskPool.funder_id == access.org_id(user))
    return list(db.session.execute(query).scalars())


def get_pool(user: User, pool_id: int) -> RiskPool:
    pool = db.session.get(RiskPool, pool_id)
    if pool is None:
        raise NotFound(_("No such risk-reserve pool."))
    if not can_view(user, pool):
        if user.is_institution:
            raise NotFound(_("No such risk-reserve pool."))
        raise _forbidden()
    return pool


# ------------------------------------------------------------------ setting up a pool


def _decimal(value: Any, name: str, low: Decimal, high: Decimal) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite() or not (low < number <= high):
        raise DomainError(
            "invalid", {name: [_("Enter a number above %(low)s and at most %(high)s.",
                                 low=low, high=high)]}
        )  # fmt: skip
    return number.quantize(Decimal("0.01"))


def _funder(funder_id: Any) -> Funder:
    funder = db.session.get(Funder, funder_id) if isinstance(funder_id, int) else None
    if funder is None:
        raise DomainError("funder", {"funder_id": [_("Choose the partner bank.")]})
    if funder.kind != "bank":
        raise DomainError("funder", {"funder_id": [_("The partner institution must be a bank.")]})
    if funder.status != "verified":
        raise DomainError(
            "funder", {"funder_id": [_("The partner bank must be verified by an operator first.")]}
        )
    return funder


def _products(funder: Funder, product_ids: list[int]) -> list[Product]:
    products = []
    for pid in product_ids or []:
        product = db.session.get(Product, pid)
        if product is None or product.funder_id != funder.id or product.kind not in LOAN_KINDS:
            raise DomainError(
                "products",
                {"product_ids": [_("Choose loan or IP-pledge products of the partner bank.")]},
            )
        products.append(product)
    return products


def save_pool(user: User, pool: RiskPool | None, data: dict[str, Any]) -> RiskPool:
    """Create (pool None) or change a pool: name, funder_id, leverage_cap, compensation_pct,
    product_ids, description."""
    if not can_manage(user):
        raise _forbidden()
    name = str(data.get("name") or "").strip()
    if not name:
        raise DomainError("name", {"name": [_("Give the pool a name.")]})
    funder = _funder(data.get("funder_id"))
    cap = _decimal(data.get("leverage_cap"), "leverage_cap", Decimal(0), Decimal(100))
    pct = _decimal(data.get("compensation_pct"), "compensation_pct", Decimal(0), Decimal(100))
    products = _products(funder, data.get("product_ids") or [])
    creating = pool is None
    if pool is None:
        pool = RiskPool(name=name, funder=funder, leverage_cap=cap, compensation_pct=pct)
        db.session.add(pool)
    elif pool.funder_id != funder.id and pool.compensations:
        raise Conflict("funder", {"funder_id": [_("Compensations were paid: the bank stays.")]})
    pool.name, pool.funder, pool.leverage_cap, pool.compensation_pct = name, funder, cap, pct
    pool.description = str(data.get("description") or "").strip()[:4000]
    pool.products = products
    db.session.flush()
    audit.record("create" if creating else "update", pool, object_type="risk_pool",
                 detail={"products": [p.ref for p in products]})  # fmt: skip
    db.session.commit()
    return pool


def _amount(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_AMOUNT_CNY:
        raise DomainError("amount", {name: [_("Enter an amount above zero.")]})
    return value


def _day(value: Any, name: str) -> date:
    if not isinstance(value, date):
        raise DomainError("date", {name: [_("Enter a date as YYYY-MM-DD.")]})
    return value


def add_contribution(
    user: User, pool: RiskPool, contributor: str, amount_cny: int, on: date, note: str = ""
) -> PoolContribution:
    if not can_manage(user):
        raise _forbidden()
    contributor = (contributor or "").strip()
    if not contributor:
        raise DomainError("contributor", {"contributor": [_("Who paid in?")]})
    row = PoolContribution(pool=pool, contributor=contributor[:200],
                           amount_cny=_amount(amount_cny, "amount_cny"),
                           date=_day(on, "date"), note=(note or "").strip()[:2000])  # fmt: skip
    db.session.add(row)
    db.session.flush()
    audit.record("create", row, object_type="pool_contribution",
                 detail={"pool": pool.id, "amount_cny": row.amount_cny})  # fmt: skip
    db.session.commit()
    return row


def add_member(
    user: User, pool: RiskPool, enterprise: Enterprise | None, on: date, note: str = ""
) -> PoolEnterprise:
    """Put an enterprise on the pool's recommended list (推荐入库)."""
    if not can_manage(user):
        raise _forbidden()
    if enterprise is None:
        raise DomainError("enterprise", {"enterprise_id": [_("Choose an enterprise.")]})
    if any(m.enterprise_id == enterprise.id for m in pool.members):
        raise Conflict("member", {"enterprise_id": [_("Already on the recommended list.")]})
    member = PoolEnterprise(pool=pool, enterprise=enterprise, recommended_on=_day(on, "date"),
                            note=(note or "").strip()[:2000])  # fmt: skip
    db.session.add(member)
    db.session.flush()
    audit.record("create", member, object_type="pool_member",
                 detail={"pool": pool.id, "enterprise": enterprise.ref})  # fmt: skip
    db.session.commit()
    return member


def remove_member(user: User, pool: RiskPool, enterprise_id: int) -> None:
    if not can_manage(user):
        raise _forbidden()
    member = next((m for m in pool.members if m.enterprise_id == enterprise_id), None)
    if member is None:
        raise NotFound(_("The enterprise is not on the list."))
    audit.record("delete", member, object_type="pool_member",
                 detail={"pool": pool.id, "enterprise": member.enterprise.ref})  # fmt: skip
    db.session.delete(member)
    db.session.commit()


# ------------------------------------------------------------------ covered loans


@dataclass(frozen=True)
class Loan:
    outcome_id: int
    enterprise_id: int
    enterprise_name: str
    uscc: str
    product_name: str
    amount_cny: int
    issued: date
    matures: date | None
    rate: float | None
    purpose: str
    repayment: str | None
    compensated_on: date | None = None

    def outstanding_on(self, day: date) -> bool:
        """Issued, not yet matured and not written off by a default on `day`."""
        if self.issued > day:
            return False
        if self.matures is not None and self.matures <= day:
            return False
        return self.compensated_on is None or self.compensated_on > day


def loans(pool: RiskPool, start: date | None = None, end: date | None = None) -> list[Loan]:
    """Funded loan / IP-pledge outcomes on the pool's products for recommended enterprises,
    optionally only those issued in [start, end]; in issue order."""
    product_ids = [p.id for p in pool.products]
    member_ids = [m.enterprise_id for m in pool.members]
    if not product_ids or not member_ids:
        return []
    rows = db.session.execute(
        select(Outcome, Need, Product, Enterprise)
        .join(Need, Outcome.need_id == Need.id)
        .join(Product, Outcome.product_id == Product.id)
        .join(Enterprise, Need.enterprise_id == Enterprise.id)
        .where(
            Outcome.stage == "funded",
            Outcome.reopened_at.is_(None),  # a reopened deal's old ending is not a loan
            Outcome.amount_cny.is_not(None),
            Outcome.product_id.in_(product_ids),
            Product.kind.in_(LOAN_KINDS),
            Need.enterprise_id.in_(member_ids),
        )
    ).all()
    defaults = {c.outcome_id: c.defaulted_on for c in pool.compensations}
    out = []
    for outcome, need, product, enterprise in rows:
        issued = outcome.issued or outcome.date
        if (start and issued < start) or (end and issued > end):
            continue
        out.append(Loan(outcome.id, enterprise.id, enterprise.name, enterprise.uscc or "",
                        product.name, int(outcome.amount_cny), issued, outcome.matures,
                        outcome.rate, need.purpose, outcome.repayment,
                        defaults.get(outcome.id)))  # fmt: skip
    out.sort(key=lambda loan: (loan.issued, loan.outcome_id))
    return out


# ------------------------------------------------------------------ figures


@dataclass
class PoolSummary:
    as_of: date
    contributed: int
    compensated: int
    balance: int
    outstanding: int
    leverage: Fraction | None  # outstanding ÷ balance; None while the balance is not positive
    cap: Decimal
    headroom: int  # more lending the cap allows (negative: over the cap)
    loans: list[Loan]
    maturing: list[Loan]
    compensations: list[PoolCompensation] = field(default_factory=list)

    @property
    def over_cap(self) -> bool:
        return self.headroom < 0

    @property
    def leverage_text(self) -> str:
        return "—" if self.leverage is None else f"{float(self.leverage):.2f}×"


def summary(pool: RiskPool, as_of: date | None = None) -> PoolSummary:
    day = as_of or beijing_today()
    contributed = sum(c.amount_cny for c in pool.contributions if c.date <= day)
    paid = [c for c in pool.compensations if c.paid_on <= day]
    compensated = sum(c.amount_cny for c in paid)
    balance = contributed - compensated
    covered = loans(pool)
    outstanding = sum(loan.amount_cny for loan in covered if loan.outstanding_on(day))
    leverage = Fraction(outstanding, balance) if balance > 0 else None
    limit = Decimal(balance) * pool.leverage_cap
    headroom = int(limit.to_integral_value(rounding=ROUND_FLOOR)) - outstanding
    horizon = day + timedelta(days=MATURITY_WINDOW_DAYS)
    maturing = [
        loan
        for loan in covered
        if loan.outstanding_on(day) and loan.matures is not None and loan.matures <= horizon
    ]
    maturing.sort(key=lambda loan: (loan.matures, loan.outcome_id))
    return PoolSummary(day, contributed, compensated, balance, outstanding, leverage,
                       pool.leverage_cap, headroom, covered, maturing, paid)  # fmt: skip


def max_compensation(pool: RiskPool, loss_cny: int) -> int:
    """The pool's share of a loss, rounded half-up to the yuan."""
    share = Decimal(loss_cny) * pool.compensation_pct / 100
    return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def record_compensation(
    user: User,
    pool: RiskPool,
    outcome_id: int | None,
    *,
    defaulted_on: date,
    loss_cny: int,
    paid_on: date,
    amount_cny: int | None = None,
    note: str = "",
) -> PoolCompensation:
    """A covered loan defaulted: record the loss and what the pool paid (default: its share)."""
    if not can_manage(user):
        raise _forbidden()
    loan = next((ln for ln in loans(pool) if ln.outcome_id == outcome_id), None)
    if loan is None:
        raise DomainError("loan", {"outcome_id": [_("Choose a loan the pool covers.")]})
    if loan.compensated_on is not None:
        raise Conflict("loan", {"outcome_id": [_("This loan was already compensated.")]})
    _day(defaulted_on, "defaulted_on")
    _day(paid_on, "paid_on")
    if defaulted_on < loan.issued:
        raise DomainError("date", {"defaulted_on": [_("The default cannot precede the loan.")]})
    if paid_on < defaulted_on:
        raise DomainError("date", {"paid_on": [_("Payment cannot precede the default.")]})
    loss = _amount(loss_cny, "loss_cny")
    if loss > loan.amount_cny:
        raise DomainError("loss", {"loss_cny": [_("The loss cannot exceed the loan amount.")]})
    ceiling = max_compensation(pool, loss)
    amount = ceiling if amount_cny is None else _amount(amount_cny, "amount_cny")
    if amount > ceiling:
        raise DomainError("amount", {"amount_cny": [
            _("At most %(pct)s %% of the loss: %(max)s 万元.", pct=f"{Decimal(pool.compensation_pct).normalize():f}",
              max=wan_text(ceiling, exact=True))]})  # fmt: skip
    balance = summary(pool, paid_on).balance
    if amount > balance:
        raise DomainError("amount", {"amount_cny": [
            _("The pool holds only %(balance)s 万元 on that day.",
              balance=wan_text(balance, exact=True))]})  # fmt: skip
    row = PoolCompensation(pool=pool, outcome_id=loan.outcome_id, defaulted_on=defaulted_on,
                           loss_cny=loss, amount_cny=amount, paid_on=paid_on,
                           note=(note or "").strip()[:2000])  # fmt: skip
    db.session.add(row)
    db.session.flush()
    audit.record("create", row, object_type="pool_compensation",
                 detail={"pool": pool.id, "outcome": loan.outcome_id, "amount_cny": amount})  # fmt: skip
    db.session.commit()
    return row


# ------------------------------------------------------------------ the quarterly table

_QUARTER = re.compile(r"^(\d{4})\s*[-Qq]\s*([1-4])$")


def parse_quarter(text: str | None) -> tuple[date, date]:
    """ "2026Q4" (or 2026-4) → (2026-10-01, 2026-12-31); ValueError when malformed."""
    match = _QUARTER.match((text or "").strip())
    if not match or not 2000 <= int(match.group(1)) <= 2100:
        raise ValueError(text)
    year, q = int(match.group(1)), int(match.group(2))
    start = date(year, 3 * q - 2, 1)
    end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1) - timedelta(days=1)
    return start, end


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def recent_quarters(today: date | None = None, count: int = 8) -> list[str]:
    day = today or beijing_today()
    out = []
    for _i in range(count):
        out.append(quarter_of(day))
        day = date(day.year, (day.month - 1) // 3 * 3 + 1, 1) - timedelta(days=1)
    return out


def quarter_table(pool: RiskPool, quarter: str) -> Table:
    """The 申报汇总表 of the loans issued in the quarter, with a totals row."""
    start, end = parse_quarter(quarter)
    rows = []
    for n, loan in enumerate(loans(pool, start, end), start=1):
        rows.append([n, loan.enterprise_name, loan.uscc, loan.amount_cny, loan.issued,
                     loan.matures, loan.rate, loan.purpose,
                     REPAYMENT_ZH.get(loan.repayment or "", loan.repayment or "")])  # fmt: skip
    total = sum(r[3] for r in rows)
    year, q = quarter[:4], quarter[-1]
    return Table(
        name=f"risk_reserve_{quarter}",
        title=REPORT_TITLE,
        columns=REPORT_COLUMNS,
        rows=rows,
        totals=["合计", f"{len(rows)} 笔", "", total, "", "", "", "", ""],
        preamble=[f"准备金：{pool.name}　合作银行：{pool.funder.name}　"
                  f"申报期：{year} 年第 {q} 季度（{start.isoformat()} 至 {end.isoformat()}）"],
    )  # fmt: skip


# ------------------------------------------------------------------ reading the bank's table

_HEADER_ALIASES = {
    "name": ("企业名称", "企业", "借款人", "借款企业", "enterprise", "enterprisename", "name"),
    "uscc": ("统一社会信用代码", "信用代码", "社会信用代码", "uscc"),
    "amount": ("贷款金额(元)", "贷款金额", "金额(元)", "金额", "amount", "amountcny", "amount_cny"),
    "amount_wan": ("贷款金额(万元)", "金额(万元)"),
    "issued": ("发放日期", "放款日期", "发放日", "issued", "issuedate", "issue_date"),
    "matures": ("到期日期", "到期日", "matures", "maturity", "maturitydate"),
    "rate": ("利率(%)", "利率", "年利率(%)", "年利率", "rate"),
    "purpose": ("用途", "贷款用途", "purpose"),
    "repayment": ("还本付息方式", "还款方式", "repayment"),
}
_TOTAL_WORDS = ("合计", "总计", "小计", "total")
_DATE_TEXT = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def _norm(text: Any) -> str:
    folded = unicodedata.normalize("NFKC", str(text or "")).strip().lower()
    return re.sub(r"\s+", "", folded)


_ALIAS_INDEX = {_norm(alias): key for key, names in _HEADER_ALIASES.items() for alias in names}


@dataclass
class BankRow:
    row: int  # the row number the bank sees in its spreadsheet (1-based)
    name: str
    uscc: str
    amount_cny: int
    issued: date
    matures: date
    rate: float | None
    purpose: str
    repayment: str | None


@dataclass
class RowError:
    row: int
    column: str
    message: str


class UploadError(DomainError):
    """The file as a whole cannot be read (not a table, no header row)."""


def _locale() -> str:
    try:
        return str(get_locale() or "zh_CN")
    except RuntimeError:  # outside a request
        return "zh_CN"


def _raw_rows(filename: str, data: bytes) -> list[tuple[int, list[Any]]]:
    """The rows of the bank's file given as bytes (kept for callers holding the bytes): an
    XLSX is written to a temporary file and read like a stored upload."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".upload") as tmp:
        tmp.write(data)
        tmp.flush()
        return stored_rows(Path(tmp.name), filename)


def stored_rows(path: Path, filename: str) -> list[tuple[int, list[Any]]]:
    """(row number, cells) of the first sheet of the bank's file. An XLSX goes through the
    upload checks and the bounded parse (services/uploads.py) — time, memory, rows and
    columns capped; a CSV is decoded in time linear in its capped size."""
    if uploads.is_zip(path) or filename.lower().endswith(".xlsx"):
        if not uploads.is_zip(path):
            raise UploadError("xlsx", {"file": [_("The file is not a readable XLSX workbook.")]})
        uploads.check_xlsx(path)
        sheets = uploads.parse_xlsx(path, first_only=True)
        rows = sheets[0][1] if sheets else []
        return [(n, list(cells)) for n, cells in enumerate(rows, start=1)]
    lim = uploads.limits()
    uploads.check_text_shape(path, lim["UPLOAD_MAX_ROWS"])
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise UploadError("encoding", {"file": [_("The file is not UTF-8 or GBK text.")]})
    if "\x00" in text:
        raise UploadError("binary", {"file": [_("Upload an XLSX or CSV file.")]})
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(n, row) for n, row in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise UploadError("csv", {"file": [_("The CSV file is malformed: %(e)s", e=exc)]}) from None
    if any(len(cells) > lim["UPLOAD_MAX_COLUMNS"] for _n, cells in rows):
        raise uploads.refused(uploads.columns_text(lim["UPLOAD_MAX_COLUMNS"]))
    return rows


def _header(rows: list[tuple[int, list[Any]]]) -> tuple[int, dict[str, int]]:
    for index, (_n, cells) in enumerate(rows[:20]):
        columns: dict[str, int] = {}
        for col, cell in enumerate(cells):
            key = _ALIAS_INDEX.get(_norm(cell))
            if key and key not in columns:
                columns[key] = col
        if "uscc" in columns and ("amount" in columns or "amount_wan" in columns):
            return index, columns
    raise UploadError("header", {"file": [_(
        "No header row found: the table needs the columns 企业名称, 统一社会信用代码, "
        "贷款金额（元）, 发放日期, 到期日期, 利率（%）, 用途, 还本付息方式."
    )]})  # fmt: skip


def _parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _DATE_TEXT.match(_norm(value))
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _parse_amount(value: Any, wan: bool) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    text = _norm(value).replace(",", "").removesuffix("元")
    try:
        number = Decimal(text) * (10_000 if wan else 1)
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def _parse_repayment(value: Any) -> str | None | bool:
    text = _norm(value)
    if not text:
        return None
    if text in REPAYMENTS:
        return text
    for code, zh in REPAYMENT_ZH.items():
        if text == _norm(zh):
            return code
    return False


def read_bank_table(
    filename: str, data: bytes | None, quarter: str | None = None, path: Path | None = None
) -> tuple[list[BankRow], list[RowError]]:
    """Rows of the bank's quarterly table, and a message for every cell that is wrong
    (the file as bytes, or the stored upload at `path`)."""
    rows = stored_rows(path, filename) if path is not None else _raw_rows(filename, data or b"")
    header_index, columns = _header(rows)
    bounds = parse_quarter(quarter) if quarter else None
    good: list[BankRow] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, date, int], int] = {}

    def cell(cells: list[Any], key: str) -> Any:
        col = columns.get(key)
        return cells[col] if col is not None and col < len(cells) else None

    for number, cells in rows[header_index + 1 :]:
        if all(_norm(c) == "" for c in cells):
            continue
        if any(_norm(c) in _TOTAL_WORDS for c in cells[:3]):
            continue
        problems: list[tuple[str, str]] = []
        name = str(cell(cells, "name") or "").strip()
        if "name" in columns and not name:
            problems.append(("企业名称", _("The enterprise name is empty.")))
        try:
            uscc = reference.validate_uscc(str(cell(cells, "uscc") or ""))
        except reference.ReferenceValidationError as exc:
            uscc = ""
            # Both languages: the result is stored and read later by whoever opens it.
            problems.append(("统一社会信用代码", f"{exc.message_en} / {exc.message_zh}"))
        wan = "amount" not in columns
        amount = _parse_amount(cell(cells, "amount_wan" if wan else "amount"), wan)
        if amount is None or not 0 < amount <= MAX_AMOUNT_CNY:
            problems.append(
                ("贷款金额", _("The amount must be a whole number of yuan above zero."))
            )
        issued = _parse_date(cell(cells, "issued"))
        matures = _parse_date(cell(cells, "matures"))
        if issued is None:
            problems.append(("发放日期", _("The issue date is not a date (YYYY-MM-DD).")))
        elif bounds and not bounds[0] <= issued <= bounds[1]:
            problems.append(
                ("发放日期", _("The issue date is outside the quarter %(q)s.", q=quarter))
            )
        if matures is None:
            problems.append(("到期日期", _("The maturity date is not a date (YYYY-MM-DD).")))
        elif issued is not None and matures <= issued:
            problems.append(("到期日期", _("The maturity date must be after the issue date.")))
        raw_rate = cell(cells, "rate")
        rate = None
        if _norm(raw_rate):
            try:
                rate = float(Decimal(_norm(raw_rate).rstrip("%")))
            except InvalidOperation:
                rate = -1.0
            if not 0 <= rate <= 36:
                problems.append(("利率", _("The rate must be a percentage between 0 and 36.")))
        repayment = _parse_repayment(cell(cells, "repayment"))
        if repayment is False:
            problems.append(("还本付息方式", _("Unknown repayment method.")))
        if not problems:
            key = (uscc, issued, amount)
            if key in seen:
                problems.append(("统一社会信用代码",
                                 _("Same loan as row %(row)s.", row=seen[key])))  # fmt: skip
            else:
                seen[key] = number
        if problems:
            errors.extend(RowError(number, col, msg) for col, msg in problems)
            continue
        good.append(BankRow(number, name, uscc, amount, issued, matures, rate,  # type: ignore[arg-type]
                            str(cell(cells, "purpose") or "").strip(), repayment or None))  # fmt: skip
    return good, errors


# ------------------------------------------------------------------ reconciliation


@dataclass
class Discrepancy:
    kind: str  # not_recommended | missing_in_records | missing_in_bank | differs
    row: int | None = None
    bank: BankRow | None = None
    loan: Loan | None = None
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name → (bank, ours)


@dataclass
class Reconciliation:
    quarter: str
    matched: list[tuple[BankRow, Loan]]
    discrepancies: list[Discrepancy]
    errors: list[RowError]

    def of(self, kind: str) -> list[Discrepancy]:
        return [d for d in self.discrepancies if d.kind == kind]

    @property
    def clean(self) -> bool:
        return not self.discrepancies and not self.errors


def _differences(row: BankRow, loan: Loan) -> dict[str, tuple[Any, Any]]:
    out: dict[str, tuple[Any, Any]] = {}
    if row.amount_cny != loan.amount_cny:
        out["amount_cny"] = (row.amount_cny, loan.amount_cny)
    if row.issued != loan.issued:
        out["issued"] = (row.issued, loan.issued)
    if row.matures != loan.matures:
        out["matures"] = (row.matures, loan.matures)
    if row.rate is not None and loan.rate is not None and abs(row.rate - loan.rate) > 1e-6:
        out["rate"] = (row.rate, loan.rate)
    return out


def reconcile(
    pool: RiskPool, quarter: str, rows: list[BankRow], errors: list[RowError] | None = None
) -> Reconciliation:
    """Match the bank's rows to the pool's loans of the quarter by USCC + issue date + amount.

    Unmatched rows of the same enterprise pair up when they share the issue date (the amount
    differs) or the amount (the issue date differs); what is left is missing on one side.
    Rows for enterprises not on the recommended list are reported as such.
    """
    start, end = parse_quarter(quarter)
    ours = loans(pool, start, end)
    recommended = {
        m.enterprise.uscc for m in pool.members if m.enterprise is not None and m.enterprise.uscc
    }
    discrepancies: list[Discrepancy] = []
    matched: list[tuple[BankRow, Loan]] = []
    open_loans = list(ours)
    pending: list[BankRow] = []
    for row in rows:
        if row.uscc not in recommended:
            discrepancies.append(Discrepancy("not_recommended", row.row, row))
            continue
        exact = next((ln for ln in open_loans if (ln.uscc, ln.issued, ln.amount_cny)
                      == (row.uscc, row.issued, row.amount_cny)), None)  # fmt: skip
        if exact is None:
            pending.append(row)
            continue
        open_loans.remove(exact)
        matched.append((row, exact))
        diff = _differences(row, exact)
        if diff:
            discrepancies.append(Discrepancy("differs", row.row, row, exact, diff))
    for row in pending:
        same = [ln for ln in open_loans if ln.uscc == row.uscc]
        partner = next((ln for ln in same if ln.issued == row.issued), None) or next(
            (ln for ln in same if ln.amount_cny == row.amount_cny), None
        )
        if partner is None:
            discrepancies.append(Discrepancy("missing_in_records", row.row, row))
            continue
        open_loans.remove(partner)
        discrepancies.append(Discrepancy("differs", row.row, row, partner,
                                         _differences(row, partner)))  # fmt: skip
    discrepancies.extend(Discrepancy("missing_in_bank", None, None, ln) for ln in open_loans)
    return Reconciliation(quarter, matched, discrepancies, list(errors or []))


def reconcile_upload(
    user: User, pool: RiskPool, quarter: str, filename: str | None, stream: BinaryIO
) -> UploadJob:
    """Take the bank's file for reconciliation (operators and the partner bank): checked
    for size and, for an XLSX, its zip directory, stored, and queued; the task
    (`run_reconciliation`) reads and reconciles it. Returns the committed job."""
    from techfin.services import upload_jobs

    if not can_view(user, pool):
        raise _forbidden()
    try:
        parse_quarter(quarter)
    except ValueError:
        raise DomainError("quarter", {"quarter": [_("Choose a quarter such as 2026Q4.")]}) from None
    return upload_jobs.create(user, "reconcile", stream, filename, (".xlsx", ".csv"),
                              {"quarter": quarter}, pool_id=pool.id)  # fmt: skip


def reconciliation_job(user: User, pool: RiskPool, job_id: int) -> UploadJob:
    """A reconciliation of this pool: whoever may view the pool (operators, the partner
    bank's staff) may see its reconciliations; a job of another pool does not exist here."""
    from techfin.services import upload_jobs

    if not can_view(user, pool):
        raise _forbidden()
    job = db.session.get(UploadJob, job_id)
    if job is None or job.kind != "reconcile" or job.pool_id != pool.id:
        raise NotFound(upload_jobs.NOT_FOUND)
    return job


def reconciliations(user: User, pool: RiskPool, limit: int = 10) -> list[UploadJob]:
    """The pool's latest reconciliations, newest first."""
    if not can_view(user, pool):
        raise _forbidden()
    return list(db.session.scalars(
        select(UploadJob).where(UploadJob.kind == "reconcile", UploadJob.pool_id == pool.id)
        .order_by(UploadJob.id.desc()).limit(limit)
    ))  # fmt: skip


def run_reconciliation(job: UploadJob) -> None:
    """The queued half: read the stored file (bounded), reconcile, keep the result."""
    from techfin.services import upload_jobs

    pool = db.session.get(RiskPool, job.pool_id)
    if pool is None:
        upload_jobs.fail(job.id, "The pool no longer exists / 该风险准备金已不存在")
        return
    quarter = str((job.params or {}).get("quarter", ""))
    path = upload_jobs.file_of(job)
    rows, errors = read_bank_table(job.filename, None, quarter, path=path)
    result = reconcile(pool, quarter, rows, errors)
    audit.record("reconcile", pool, object_type="risk_pool", user=job.owner,
                 detail={"quarter": quarter, "rows": len(rows), "errors": len(errors),
                         "discrepancies": len(result.discrepancies), "job": job.id})  # fmt: skip
    upload_jobs.finish(job, result_record(result, len(rows)))


def _day_text(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _plain_pair(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def result_record(result: Reconciliation, rows: int) -> dict[str, Any]:
    """The reconciliation as JSON for the job row: what the page and the download show."""
    from techfin.services.upload_jobs import bilingual

    discrepancies = []
    for d in result.discrepancies:
        src_bank, loan = d.bank, d.loan
        discrepancies.append({
            "kind": d.kind,
            "row": d.row,
            "name": src_bank.name if src_bank else (loan.enterprise_name if loan else ""),
            "uscc": src_bank.uscc if src_bank else (loan.uscc if loan else ""),
            "amount_cny": src_bank.amount_cny if src_bank else (loan.amount_cny if loan else 0),
            "issued": _day_text(src_bank.issued if src_bank else (loan.issued if loan else None)),
            "fields": {k: [_plain_pair(a), _plain_pair(b)] for k, (a, b) in d.fields.items()},
        })  # fmt: skip
    return {
        "quarter": result.quarter,
        "rows": rows,
        "matched": len(result.matched),
        "clean": result.clean,
        "errors": [{"row": e.row, "column": e.column, "message": bilingual(e.message)}
                   for e in result.errors],
        "discrepancies": discrepancies,
    }  # fmt: skip


DISCREPANCY_KINDS = ("not_recommended", "missing_in_records", "missing_in_bank", "differs")


def result_table(job: UploadJob, labels: dict[str, str], headers: list[str]) -> Table:
    """The stored result as one table for the CSV / XLSX download: every discrepancy, then
    every row with errors (`labels` names the kinds and the fields, `headers` the columns,
    both in the reader's language)."""
    data = job.result or {}
    pool = job.pool
    rows: list[list[Any]] = []
    for kind in DISCREPANCY_KINDS:
        for d in data.get("discrepancies", []):
            if d["kind"] != kind:
                continue
            diffs = "; ".join(
                f"{labels.get(name, name)}: {'—' if a is None else a} / {'—' if b is None else b}"
                for name, (a, b) in d["fields"].items()
            )
            issued = date.fromisoformat(d["issued"]) if d.get("issued") else None
            rows.append([labels.get(kind, kind), d["row"] or "", d["name"], d["uscc"],
                         d["amount_cny"], issued, diffs])  # fmt: skip
    from techfin.i18n import localized

    for e in data.get("errors", []):
        rows.append([labels.get("error", "error"), e["row"], "", "", None, None,
                     f"{e['column']}: {localized(e['message'])}"])  # fmt: skip
    quarter = data.get("quarter", "")
    return Table(
        name=f"reconciliation-{quarter}",
        title=f"{labels.get('title', 'Reconciliation')} {quarter}",
        columns=headers,
        rows=rows,
        preamble=[f"{pool.name if pool else ''} · {job.filename}"],
    )


def compensation_candidates(pool: RiskPool) -> list[Loan]:
    return [loan for loan in loans(pool) if loan.compensated_on is None]


MEMBER_CANDIDATES = 20


def _enterprise_label(e: Enterprise) -> str:
    return f"{e.name} · {e.uscc or '—'}"


def member_candidates(user: User, pool: RiskPool, q: str) -> list[tuple[int, str]]:
    """Enterprises an operator may put on the list, found by what they typed: the unified
    social credit code or reference exactly, else a search of the names (at most
    MEMBER_CANDIDATES; a region has 100 000 enterprises, too many for a drop-down)."""
    from techfin.services.search import search

    if not can_manage(user):
        raise _forbidden()
    q = (q or "").strip()[:100]
    if not q:
        return []
    listed = {m.enterprise_id for m in pool.members}
    found = list(db.session.execute(
        select(Enterprise).where(or_(Enterprise.uscc == q.upper(), Enterprise.ref == q)).limit(2)
    ).scalars())  # fmt: skip
    if not found:
        hits = search(user, {"q": q, "type": "enterprise", "per_page": MEMBER_CANDIDATES})
        ids = [int(item["id"]) for item in hits["items"]]
        by_id = {e.id: e for e in db.session.execute(
            select(Enterprise).where(Enterprise.id.in_(ids))).scalars()}  # fmt: skip
        found = [by_id[i] for i in ids if i in by_id]
    return [(e.id, _enterprise_label(e)) for e in found if e.id not in listed]


def enterprise_choice(enterprise_id: Any) -> list[tuple[int, str]]:
    """The one enterprise a submitted form names (none when there is no such one)."""
    try:
        enterprise = db.session.get(Enterprise, int(enterprise_id))
    except (TypeError, ValueError):
        return []
    return [(enterprise.id, _enterprise_label(enterprise))] if enterprise is not None else []


def bank_choices() -> list[tuple[int, str]]:
    rows = db.session.execute(
        # only verified banks: a rejected or unchecked registration is no partner
        select(Funder.id, Funder.name)
        .where(Funder.kind == "bank", Funder.status == "verified")
        .order_by(Funder.name)
    ).all()
    return [(r.id, r.name) for r in rows]


def loan_product_choices() -> list[tuple[int, str]]:
    rows = db.session.execute(
        select(Product.id, Product.name, Funder.name.label("funder"))
        .join(Funder, Product.funder_id == Funder.id)
        .where(Product.kind.in_(LOAN_KINDS), Funder.kind == "bank", Funder.status == "verified")
        .order_by(Funder.name, Product.name)
    ).all()
    return [(r.id, f"{r.funder} · {r.name}") for r in rows]


def pool_count() -> int:
    return int(db.session.scalar(select(func.count(RiskPool.id))) or 0)


def _register_runner() -> None:
    from techfin.services import upload_jobs

    upload_jobs.runner("reconcile")(run_reconciliation)


_register_runner()
