"""A report as CSV (one section per table), HTML (tables and SVG charts) and PDF (reportlab,
with its built-in Chinese CID font, so no font file has to be on the hub's box)."""

from __future__ import annotations

import csv
import html
import io
from typing import Any

from hub.reports import Report
from hub.rules.levels import CHINESE, LEVELS

COLOURS = {"green": "#2e7d32", "blue": "#1565c0", "yellow": "#f9a825", "orange": "#ef6c00", "red": "#c62828"}
KIND_ZH = {
    "daily": "日巡查",
    "weekly": "周复盘",
    "monthly": "月调度",
    "quarterly": "季排名",
    "yearly": "年度对比",
}


def headline(report: Report) -> list[tuple[str, str]]:
    rate = report.rectified_rate
    return [
        ("告警总数 alerts", str(report.total)),
        ("自动预警 detected by rules", str(report.total - report.manual)),
        ("人工发现（远程提醒） raised by hand", str(report.manual)),
        ("整改工单 tickets (orange+, manual findings)", str(report.tickets)),
        (
            "48小时内整改率 rectified within 48 h",
            "—" if rate is None else f"{rate:.0%} ({report.rectified_in_48h}/{report.tickets_due})",
        ),
        ("签收用时中位数 time to acknowledge, median (min)", _num(report.ack_median_min)),
        ("签收用时90分位 time to acknowledge, p90 (min)", _num(report.ack_p90_min)),
        ("巡查轮次 patrol rounds", str(report.patrol_rounds)),
        (f"巡查覆盖率 patrol coverage (cameras shown ≥ {report.patrol_views} times)", _coverage(report)),
    ]


def _coverage(report: Report) -> str:
    covered, cameras = report.patrol_covered, report.patrol_cameras
    return "—" if not cameras else f"{covered / cameras:.0%} ({covered}/{cameras})"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def to_csv(report: Report) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["casewatch report", report.period.kind, report.period.label])
    for name, value in headline(report):
        w.writerow([name, value])
    w.writerow([])
    w.writerow(["level", "count"])
    w.writerows([[lv, report.by_level.get(lv, 0)] for lv in LEVELS])
    for title, rows, keys in _tables(report):
        w.writerow([])
        w.writerow([title])
        w.writerow(keys)
        w.writerows([[row.get(k, "") for k in keys] for row in rows])
    w.writerow([])
    w.writerow(["day", *LEVELS])
    w.writerows([[d["day"], *(d[lv] for lv in LEVELS)] for d in report.trend])
    if report.anchor:
        w.writerow([])
        w.writerow([ANCHOR_TITLE, report.anchor])
    return out.getvalue()


def _tables(report: Report) -> list[tuple[str, list[dict[str, Any]], list[str]]]:
    return [
        ("按规则 by rule", report.by_rule, ["rule", "title", "count"]),
        ("按房间 by room", report.by_room, ["room", "count"]),
        (
            "单位排名（考评得分） units ranked by score",
            report.by_unit,
            ["rank", "unit", "score", "count", "manual", "tickets", "late", "rectified_rate"],
        ),
        ("按民警 by officer", report.by_officer, ["officer", "count"]),
        (
            "按月 by month",
            report.by_month,
            ["month", "total", "manual", "tickets", "tickets_due", "rectified_in_48h"],
        ),
        (
            "录像覆盖（按人员） recording coverage by person",
            report.coverage_persons,
            ["person", "percent", "custody_min", "off_camera_s", "pieces"],
        ),
        (
            "录像覆盖（按房间） recording coverage by room",
            report.coverage_rooms,
            ["room", "minutes", "percent"],
        ),
    ]


def trend_svg(report: Report, width: int = 720, height: int = 220) -> str:
    """Stacked bars: alerts per day, coloured by level."""
    days = report.trend
    top = max([sum(d[lv] for lv in LEVELS) for d in days] + [1])
    bar = (width - 40) / max(len(days), 1)
    parts = [_svg_open(width, height, "trend")]
    for i, d in enumerate(days):
        y = height - 20.0
        for lv in LEVELS:
            h = (height - 40) * d[lv] / top
            if h:
                y -= h
                x = 30 + i * bar
                size = f'width="{bar * 0.8:.1f}" height="{h:.1f}"'
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" {size} fill="{COLOURS[lv]}"/>')
        if len(days) <= 31:
            x = 30 + i * bar + bar * 0.4
            label = d["day"][8:]
            parts.append(
                f'<text x="{x:.1f}" y="{height - 5}" font-size="9" text-anchor="middle">{label}</text>'
            )
    parts.append(f'<text x="2" y="14" font-size="10">{top}</text></svg>')
    return "".join(parts)


def _svg_open(width: int, height: int, name: str) -> str:
    size = f'width="{width}" height="{height}"'
    return f'<svg xmlns="http://www.w3.org/2000/svg" {size} role="img" class="chart {name}">'


def rules_svg(report: Report, width: int = 720) -> str:
    """Horizontal bars: alerts per rule, most frequent first."""
    rows = report.by_rule[:15]
    top = max([r["count"] for r in rows] + [1])
    height = 22 * len(rows) + 10
    parts = [_svg_open(width, height, "rules")]
    for i, r in enumerate(rows):
        w = (width - 300) * r["count"] / top
        parts.append(f'<text x="0" y="{i * 22 + 15}" font-size="11">{html.escape(r["rule"])}</text>')
        parts.append(f'<rect x="170" y="{i * 22 + 4}" width="{w:.1f}" height="14" fill="#1565c0"/>')
        parts.append(f'<text x="{176 + w:.1f}" y="{i * 22 + 15}" font-size="11">{r["count"]}</text>')
    parts.append("</svg>")
    return "".join(parts)


ANCHOR_TITLE = "日志锚点 log anchor"
ANCHOR_NOTE = (
    "事件日志当时的末条位置与哈希，经中心签名；请另行保存本报表，"
    "核验时用 casewatch hub verify --anchor 本文件 (the log's head, signed by the hub: keep this "
    "report elsewhere and check the log against it with casewatch hub verify --anchor)"
)


def _anchor_html(report: Report) -> str:
    if not report.anchor:
        return ""
    esc = html.escape
    return f'<h2>{ANCHOR_TITLE}</h2><p>{esc(ANCHOR_NOTE)}</p><pre class="anchor">{esc(report.anchor)}</pre>'


def to_html(report: Report, center_name: str) -> str:
    esc = html.escape
    kind = KIND_ZH[report.period.kind]
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in headline(report))
    levels = "".join(
        f'<tr><td><span style="color:{COLOURS[lv]}">■</span> {CHINESE[lv]} {lv}</td>'
        f"<td>{report.by_level.get(lv, 0)}</td></tr>"
        for lv in LEVELS
    )
    tables = ""
    for title, items, keys in _tables(report):
        head = "".join(f"<th>{esc(k)}</th>" for k in keys)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(str(i.get(k, '')))}</td>" for k in keys) + "</tr>" for i in items
        )
        tables += f"<h2>{esc(title)}</h2><table><tr>{head}</tr>{body}</table>"
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{esc(center_name)} {kind} {esc(report.period.label)}</title>"
        "<style>body{font-family:'WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif;margin:2em}"
        "table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #bbb;padding:.2em .6em;text-align:left}</style></head><body>"
        f"<h1>{esc(center_name)} · {kind} ({report.period.kind}) · {esc(report.period.label)}</h1>"
        f'<table class="headline">{rows}</table>'
        f'<h2>按等级 by level</h2><table class="levels">{levels}</table>'
        f"<h2>趋势 trend</h2>{trend_svg(report)}<h2>规则分布 by rule</h2>{rules_svg(report)}{tables}"
        f"{_anchor_html(report)}</body></html>"
    )


def to_pdf(report: Report, center_name: str) -> bytes:
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    title = ParagraphStyle("t", fontName=font, fontSize=15, leading=20)
    heading = ParagraphStyle("h", fontName=font, fontSize=11, leading=16, spaceBefore=8)
    style = TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), font),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
        ]
    )
    story: list[Any] = [
        Paragraph(f"{center_name} · {KIND_ZH[report.period.kind]} · {report.period.label}", title)
    ]
    story += [Spacer(1, 6), Table([list(r) for r in headline(report)], style=style)]
    story += [
        Paragraph("按等级 by level", heading),
        Table([[f"{CHINESE[lv]} {lv}", report.by_level.get(lv, 0)] for lv in LEVELS], style=style),
    ]
    chart = Drawing(480, 170)
    bars = VerticalBarChart()
    bars.x, bars.y, bars.width, bars.height = 30, 20, 430, 130
    bars.data = [[d[lv] for d in report.trend] or [0] for lv in LEVELS]
    bars.categoryAxis.categoryNames = [d["day"][5:] for d in report.trend] or [""]
    bars.categoryAxis.labels.fontSize = 6
    bars.categoryAxis.style = "stacked"
    for i, lv in enumerate(LEVELS):
        bars.bars[i].fillColor = colors.HexColor(COLOURS[lv])
    chart.add(bars)
    story += [Paragraph("趋势 trend", heading), chart]
    for name, items, keys in _tables(report):
        story += [
            Paragraph(name, heading),
            Table([keys] + [[str(i.get(k, "")) for k in keys] for i in items], style=style),
        ]
    if report.anchor:  # ASCII only: a monospaced font that wraps the long line
        small = ParagraphStyle("a", fontName="Courier", fontSize=6, leading=8)
        story += [Paragraph(ANCHOR_TITLE, heading), Paragraph(html.escape(report.anchor), small)]
    out = io.BytesIO()
    # the anchor also goes into the document's metadata, uncompressed: `hub verify --anchor x.pdf`
    # finds it there (the page text is compressed)
    SimpleDocTemplate(
        out, pagesize=A4, title=f"casewatch {report.period.kind} {report.period.label}",
        subject=report.anchor or "",
    ).build(story)  # fmt: skip
    return out.getvalue()
