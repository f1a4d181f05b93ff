"""Render a report document as self-contained HTML, as PDF (reportlab), or as CSV.

- HTML embeds its charts as ``data:image/png;base64`` and its style inline: one file, no
  network, no script.  Every text is escaped.
- PDF is drawn by reportlab's platypus from the same document, charts as images, so its
  text can be searched and extracted (``pdftotext``).
- CSV is long-form: one row per table row, ``table,<header...>`` then the cells, each table
  introduced by its header row, so a spreadsheet can filter by the first column.
"""

from __future__ import annotations

import base64
import csv
import io
from html import escape

from sipguard.report.document import Section, Table

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1100px; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
th { background: #f0f0f0; } img { max-width: 100%; border: 1px solid #ddd; }
"""


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    if not table.rows:
        body = f'<tr><td colspan="{len(table.header)}">none</td></tr>'
    return f'<table id="{escape(table.key)}"><tr>{head}</tr>{body}</table>'


def _html_section(section: Section) -> str:
    parts = [f"<h2>{escape(section.title)}</h2>"]
    parts += [f"<p>{escape(line)}</p>" for line in section.text]
    if section.chart is not None:
        data = base64.b64encode(section.chart.png).decode()
        parts.append(
            f'<img class="chart" id="chart-{escape(section.chart.key)}" '
            f'alt="{escape(section.chart.alt)}" src="data:image/png;base64,{data}">'
        )
    parts += [_html_table(t) for t in section.tables]
    return "<section>" + "\n".join(parts) + "</section>"


def html(title: str, sections: list[Section]) -> str:
    """One self-contained HTML page."""
    body = "\n".join(_html_section(s) for s in sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def csv_text(sections: list[Section]) -> str:
    """Every table of the report, long-form, keyed by its name in the first column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for section in sections:
        for table in section.tables:
            writer.writerow(["table", *table.header])
            writer.writerows([table.key, *row] for row in table.rows)
    return out.getvalue()


def pdf(title: str, sections: list[Section]) -> bytes:
    """A PDF of the report: headings, sentences, tables and the charts."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, TableStyle
    from reportlab.platypus import Table as PdfTable

    styles = getSampleStyleSheet()
    grid = TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
        ("FONTSIZE", (0, 0), (-1, -1), 7),
    ])  # fmt: skip
    flow: list[object] = [Paragraph(escape(title), styles["Title"])]
    for section in sections:
        flow.append(Paragraph(escape(section.title), styles["Heading2"]))
        flow += [Paragraph(escape(line), styles["BodyText"]) for line in section.text]
        if section.chart is not None:
            flow.append(Image(io.BytesIO(section.chart.png), width=17 * cm, height=6.5 * cm))
        for table in section.tables:
            rows = [list(table.header), *(list(r) for r in table.rows)] if table.rows else [
                list(table.header), ["none", *[""] * (len(table.header) - 1)]
            ]  # fmt: skip
            flow += [PdfTable(rows, style=grid, repeatRows=1), Spacer(1, 0.3 * cm)]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=title, leftMargin=1.5 * cm,
                      rightMargin=1.5 * cm).build(flow)  # fmt: skip
    return out.getvalue()
