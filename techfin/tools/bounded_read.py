"""The half of upload safety that runs in the child process (techfin.services.uploads
starts it): reading a workbook under the limits the child set on itself, and the messages
both halves give. It imports neither Flask nor SQLAlchemy, so the child starts in a few
hundred milliseconds and its address-space limit is spent on the file, not on the app."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, time, timedelta
from typing import Any

MB = 1024 * 1024


# ------------------------------------------------------------------ the messages


def too_large_text(max_bytes: int) -> str:
    mb = max_bytes / MB
    return f"The file is larger than {mb:g} MB / 文件超过 {mb:g} MB 上限"


def rows_text(max_rows: int) -> str:
    return (f"The file has more than {max_rows:,} rows: split the file and upload the parts "
            f"one by one / 文件超过 {max_rows:,} 行，请拆分后分别上传")  # fmt: skip


def columns_text(max_columns: int) -> str:
    return (f"The file has more than {max_columns} columns: keep only the table's columns / "
            f"文件超过 {max_columns} 列，请只保留表格所需的列")  # fmt: skip


def expands_text(max_bytes: int) -> str:
    mb = max_bytes / MB
    return (f"The file expands to more than {mb:g} MB when unpacked (a compressed 'zip bomb'?): "
            f"split it / 文件解压后超过 {mb:g} MB，疑似压缩炸弹，请拆分后上传")  # fmt: skip


def ratio_text(ratio: int) -> str:
    return (f"The file is compressed more than {ratio}:1, which no spreadsheet is (a 'zip "
            f"bomb'?) / 文件压缩比超过 {ratio}:1，不像正常表格，疑似压缩炸弹")  # fmt: skip


def entries_text(entries: int) -> str:
    return (f"The archive holds more than {entries} files: too complex to accept / "
            f"压缩包内文件超过 {entries} 个，过于复杂，无法接收")  # fmt: skip


DAMAGED = "The archive is damaged or too complex to accept / 压缩结构损坏或过于复杂，无法接收"
NOT_WORKBOOK = ("The file is a ZIP archive, not an Excel workbook (XLSX) / "
                "文件为 ZIP 压缩包，不是 Excel 工作簿（XLSX）")  # fmt: skip
UNREADABLE = "The file is not a readable XLSX workbook / 文件不是可读取的 XLSX 工作簿"
EMPTY = "The file is empty / 文件为空"


def timeout_text(seconds: int) -> str:
    return (f"Reading the file took longer than {seconds} s: split it or save it again as a "
            f"plain table / 读取文件超过 {seconds} 秒，请拆分或另存为普通表格后重试")  # fmt: skip


def memory_text(megabytes: int) -> str:
    return (f"Reading the file needs more than {megabytes} MB of memory: split it / "
            f"读取文件所需内存超过 {megabytes} MB，请拆分后重试")  # fmt: skip


# ------------------------------------------------------------------ the child


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, time):
        return {"$t": value.isoformat()}
    if isinstance(value, timedelta):
        return value.total_seconds()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((key, value),) = obj.items()
        if key == "$dt":
            return datetime.fromisoformat(value)
        if key == "$d":
            return date.fromisoformat(value)
        if key == "$t":
            return time.fromisoformat(value)
    return obj


class _Refusal(Exception):
    """Raised inside the child: the message goes back to the parent as it is."""


def _dimension(sheet: Any) -> tuple[int, int] | None:
    """(rows, columns) the sheet declares in its <dimension>, when it declares one."""
    from openpyxl.utils import range_boundaries

    try:
        ref = sheet.calculate_dimension()
        _c0, _r0, c1, r1 = range_boundaries(ref)
    except (ValueError, TypeError):
        return None
    return (r1 or 0, c1 or 0)


def read_xlsx_sheets(path: str, max_rows: int, max_columns: int, first_only: bool) -> list[Any]:
    """[(title, rows)] of the workbook; runs in the child. Empty rows are kept (row numbers
    stay those the user sees) but count toward the cap only up to the last non-empty row."""
    from openpyxl import load_workbook

    # A file object, not the path: openpyxl refuses a path without an .xlsx suffix, and
    # stored uploads have random names.
    handle = open(path, "rb")  # noqa: SIM115 - the read-only workbook reads from it to the end
    try:
        book = load_workbook(handle, read_only=True, data_only=True)
    except MemoryError:
        handle.close()
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a non-workbook
        handle.close()
        print(f"load_workbook: {exc!r}", file=sys.stderr)  # the parent logs it
        raise _Refusal(UNREADABLE) from None
    sheets: list[Any] = []
    total = 0
    try:
        for sheet in book.worksheets[:1] if first_only else book.worksheets:
            declared = _dimension(sheet)
            # The declared size decides early (the usual case: Excel and openpyxl write it);
            # a missing or lying one is caught row by row below.
            if declared and declared[1] > max_columns:
                raise _Refusal(columns_text(max_columns))
            if declared and total + declared[0] > max_rows + 1 + 20:
                raise _Refusal(rows_text(max_rows))
            rows: list[list[Any]] = []
            pending_blank = 0
            for values in sheet.iter_rows(values_only=True):
                if len(values) > max_columns and any(v is not None for v in values[max_columns:]):
                    raise _Refusal(columns_text(max_columns))
                cells = [_encode(v) for v in values[:max_columns]]
                if all(v is None or v == "" for v in cells):
                    pending_blank += 1
                    if pending_blank > max_rows:
                        break  # a sheet of empty rows: nothing more will come
                    continue
                rows.extend([] for _ in range(pending_blank))
                total += pending_blank + 1
                pending_blank = 0
                if total > max_rows + 1:
                    raise _Refusal(rows_text(max_rows))
                rows.append(cells)
            sheets.append([sheet.title, rows])
    except MemoryError:
        raise
    except _Refusal:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged part (bad CRC, bad XML) of a workbook
        print(f"reading rows: {exc!r}", file=sys.stderr)  # the parent logs it
        raise _Refusal(UNREADABLE) from None
    finally:
        book.close()
        handle.close()
    return sheets


# The functions a child may run, by name (the parent never sends code, only a name).
PARSERS = {"xlsx_sheets": read_xlsx_sheets}


def child_main() -> None:
    """The child's entry point: limits first, then the parser; one JSON answer on stdout."""
    import resource

    spec = json.loads(sys.stdin.read())
    # openpyxl imports numpy when it can, only to recognise numpy numbers when writing;
    # numpy's OpenBLAS reserves buffers per thread that would spend the memory limit.
    sys.modules["numpy"] = None  # type: ignore[assignment]
    memory = int(spec["memory_mb"]) * MB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(spec["seconds"]) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    out = sys.stdout
    try:
        result = PARSERS[spec["parser"]](*spec["args"])
        answer: dict[str, Any] = {"ok": result}
    except MemoryError:
        answer = {"memory": True}
    except _Refusal as exc:
        answer = {"refused": str(exc)}
    try:
        out.write(json.dumps(answer, ensure_ascii=False, separators=(",", ":")))
    except MemoryError:
        out.write('{"memory": true}')
    out.flush()
