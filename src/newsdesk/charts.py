"""Charts as SVG drawn on the server: readable without JavaScript, with a title and a
description for screen readers, every label escaped. Each bar carries ``data-label`` and
``data-value`` so that tests (and scripts) can read the figures back.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#0b57a4", "#d9822b", "#2e8540", "#8e44ad", "#c0392b", "#5d6d7e", "#16a085")


def _svg(width: int, height: int, title: str, desc: str, body: list[str], ident: str) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-labelledby="{ident}-t {ident}-d" class="chart">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")


# The characters of a row's label that the label column holds (170 px at 12 px type): a
# longer one ran off the chart's left edge ("#deepseek-v4-flash-vision-exp"). The bar's
# tooltip, data-label and the chart's description keep it whole.
LABEL_CHARS = 24


def _fit(label: str, chars: int) -> str:
    return label if len(label) <= chars else label[: chars - 1] + "…"


def change_bars(
    title: str, rows: Sequence[tuple[str, float]], ident: str = "change", unit: str = ""
) -> Markup:
    """Horizontal bars that grow right for a rise and left for a fall, one row a label."""
    width, row_h, label_w = 560, 22, 170
    height = row_h * len(rows) + 10
    mid = label_w + (width - label_w) / 2
    span = max((abs(v) for _, v in rows), default=1.0) or 1.0
    scale = (width - label_w) / 2 / span * 0.75  # room for the value beside the bar
    body = [f'<line x1="{mid}" y1="0" x2="{mid}" y2="{height}" stroke="#999"/>']
    for i, (label, value) in enumerate(rows):
        y = 5 + i * row_h
        w = abs(value) * scale
        x = mid if value >= 0 else mid - w
        color = "#2e8540" if value >= 0 else "#c0392b"
        text = f"{value:+g}{unit}"
        body.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">'
            f"{escape(_fit(label, LABEL_CHARS))}</text>"
            f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{color}" '
            f'data-label="{escape(label)}" data-value="{value:g}"><title>{escape(label)}: '
            f"{text}</title></rect>"
        )
        anchor, tx = ("start", x + w + 4) if value >= 0 else ("end", x - 4)
        body.append(
            f'<text x="{tx:.1f}" y="{y + 15}" text-anchor="{anchor}" font-size="11" '
            f'fill="#333">{escape(text)}</text>'
        )
    desc = "; ".join(f"{label} {value:+g}{unit}" for label, value in rows) or "no data"
    return _svg(width, height, title, desc, body, ident)


def stacked_columns(
    title: str,
    columns: Sequence[str],
    series: dict[str, Sequence[int]],
    ident: str = "volume",
) -> Markup:
    """One column per period (``columns``), stacked by series (a source each), a legend."""
    width, height, bottom, left = 560, 230, 40, 36
    names = list(series)
    totals = [sum(series[n][i] for n in names) for i in range(len(columns))]
    top = max(totals, default=0) or 1
    plot_h = height - bottom - 10
    step = (width - left) / max(1, len(columns))
    bar_w = step * 0.6
    body = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        'stroke="#999"/>',
        f'<text x="{left - 4}" y="{14}" text-anchor="end" font-size="11">{top}</text>',
    ]
    for i, column in enumerate(columns):
        x = left + i * step + (step - bar_w) / 2
        y = float(height - bottom)
        for k, name in enumerate(names):
            value = int(series[name][i])
            if value <= 0:
                continue
            h = value / top * plot_h
            y -= h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[k % len(PALETTE)]}" data-label="{escape(name)} {escape(column)}" '
                f'data-value="{value}"><title>{escape(name)}, {escape(column)}: {value}</title>'
                "</rect>"
            )
        body.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" '
            f'font-size="10">{escape(column)}</text>'
        )
    for k, name in enumerate(names[:6]):
        lx = left + k * ((width - left) / min(6, max(1, len(names))))
        body.append(
            f'<rect x="{lx:.1f}" y="{height - 14}" width="10" height="10" '
            f'fill="{PALETTE[k % len(PALETTE)]}"/><text x="{lx + 14:.1f}" y="{height - 5}" '
            f'font-size="10">{escape(name[:24])}</text>'
        )
    desc = "; ".join(
        f"{column}: " + ", ".join(f"{n} {series[n][i]}" for n in names)
        for i, column in enumerate(columns)
    )
    return _svg(width, height, title, desc or "no data", body, ident)
