"""XLSX reports print as a careful clerk would lay them out (issue #14 item 12)."""

from __future__ import annotations

import io
import zipfile
from datetime import date

from openpyxl import load_workbook

from techfin.services.reports import Table, to_xlsx

NAME = "深圳市精芯生物科技有限公司"


def _book():
    table = Table("summary", "申报汇总表", ["企业名称", "贷款金额（元）", "利率", "发放日期"],
                  [[NAME, 5_000_000, 0.0435, date(2026, 1, 2)], ["-", 1, None, None]],
                  totals=["合计", 5_000_001, None, None])  # fmt: skip
    data = to_xlsx([table])
    return data, load_workbook(io.BytesIO(data)).active


def test_columns_fit_their_content_and_figures_have_separators():
    _data, sheet = _book()
    assert sheet.column_dimensions["A"].width >= 2 * len(NAME)  # CJK counts double
    name, amount, rate, issued = sheet[3]
    assert name.value == NAME and amount.number_format == "#,##0"
    assert rate.number_format == "#,##0.00##" and issued.number_format == "yyyy-mm-dd"
    assert all(c.border.left.style == "thin" for c in sheet[2] + sheet[3] + sheet[5])
    assert sheet["A5"].font.b and sheet["B5"].font.b  # totals in bold
    assert sheet["A4"].value == "-" and sheet["A4"].quotePrefix  # text, no visible apostrophe


def test_landscape_fitted_to_one_page_across_with_the_header_repeated():
    data, sheet = _book()
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
    assert sheet.print_title_rows == "$2:$2" and sheet.freeze_panes == "A3"
    xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()
    assert '<pageSetUpPr fitToPage="1"/>' in xml and 'fitToHeight="0"' in xml
