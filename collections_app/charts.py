"""Server-side SVG charts: inline markup, no JavaScript, no third-party assets.

Every chart is an `<svg role="img">` labelled by its own `<title>` and `<desc>` (screen readers read
those; the numbers are also in a table beside each chart), with labelled axes and the value written
on or beside each bar. Text is escaped here; the result is safe to put in a template as is. Callers
pass translated titles and labels; the few words drawn here are translatable too.

    bar_chart       one value per category, horizontal bars (categories down the side) or columns
    stacked_bars    horizontal bars split into coloured segments (one per series), with a legend
    heat_map        a matrix of shares (0-1) as shaded cells with the percentage written in each
    rate_meters     one 0-100% track per rate, filled to the rate, with numerator/denominator
"""

from decimal import ROUND_HALF_UP, Decimal
from itertools import count

from django.utils import numberformat
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

WIDTH = 720
FONT = 12
ACCENT = "#0b6e4f"
INK = "#1f2933"
MUTED = "#616e7c"
GRID = "#d9e2ec"
# Stages keep the colours of their badges (base.css); other series cycle through the rest.
SERIES_COLOURS = {
    "reminder": "#7b8794",
    "call": "#1a4fa0",
    "visit": "#c98a00",
    "legal": "#b42318",
    "resolved": "#0b6e4f",
    "closed": "#52606d",
}
PALETTE = ["#0b6e4f", "#1a4fa0", "#c98a00", "#b42318", "#6f42c1", "#00838f", "#7b8794", "#8d6e63"]

_ids = count(1)


def number(value, decimals=0):
    """A number for people: digits grouped by three with commas, `decimals` places, the way CNY
    amounts are written in both languages (Django's zh-Hans format would drop the grouping)."""
    if value is None:
        return "—"
    return numberformat.format(value, ".", decimals, 3, ",", force_grouping=True)


def amount(value):
    return number(value, 2)


def percent_value(fraction, decimals=1):
    """A fraction (0.25) as a percentage rounded half up (Decimal("25.0")); None stays None. The
    page and the CSV downloads both show this value."""
    if fraction is None:
        return None
    return (Decimal(fraction) * 100).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def percent(fraction, decimals=1):
    """A fraction (0.25) as a percentage ("25.0%"); None (no denominator) as a dash."""
    if fraction is None:
        return "—"
    return number(percent_value(fraction, decimals), decimals) + "%"


def tick(value):
    """An axis tick: grouped, without decimals unless the scale is below one."""
    if abs(value - round(value)) < 1e-9:
        return number(round(value))
    return number(Decimal(str(round(value, 2))), 2)


def colour_for(name, index):
    return SERIES_COLOURS.get(str(name), PALETTE[index % len(PALETTE)])


def _nice_max(value):
    """A round axis maximum at or above `value` (1, 2, 2.5 or 5 times a power of ten)."""
    value = float(value or 0)
    if value <= 0:
        return 1.0
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _short(text, limit=22):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(x, y, content, *, anchor="start", size=FONT, fill=INK, weight=None, extra=""):
    bold = f' font-weight="{weight}"' if weight else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{bold}{extra}>'
        f"{escape(content)}</text>"
    )


def _frame(height, title, desc, body, chart_id=None):
    chart_id = chart_id or f"chart-{next(_ids)}"
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg" '
        f"font-family=\"system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif\">"
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>'
        f"{''.join(body)}</svg>"
    )


def _empty(title, desc, chart_id=None):
    body = [_text(WIDTH / 2, 40, _("No data for this period."), anchor="middle", fill=MUTED)]
    return _frame(70, title, desc, body, chart_id)


def _values_desc(bars, fmt):
    return "; ".join(f"{label}: {fmt(value)}" for label, value in bars)


def bar_chart(
    bars, *, title, value_label, category_label, fmt=number, desc=None, vertical=False, colours=None, chart_id=None
):
    """One bar per (label, value). Horizontal by default (labels at the left, value at the bar's
    end); `vertical` draws columns with labels under them (time series)."""
    bars = [(str(label), value or 0) for label, value in bars]
    desc = desc or _values_desc(bars, fmt)
    if not bars:
        return _empty(title, desc, chart_id)
    top = _nice_max(max(float(v) for _l, v in bars))
    colours = colours or [ACCENT] * len(bars)
    if vertical:
        return _columns(bars, top, title, desc, value_label, category_label, fmt, colours, chart_id)
    left, right, row, gap = 150, 130, 24, 8
    plot = WIDTH - left - right
    height = 16 + len(bars) * (row + gap) + 48
    body = []
    for i in range(5):  # vertical grid lines with their values
        x = left + plot * i / 4
        body.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{height - 42:.1f}" stroke="{GRID}"/>')
        body.append(_text(x, height - 28, tick(top * i / 4), anchor="middle", size=10, fill=MUTED))
    for i, (label, value) in enumerate(bars):
        y = 16 + i * (row + gap)
        w = plot * float(value) / top
        body.append(_text(left - 8, y + row * 0.68, _short(label), anchor="end"))
        body.append(
            f'<rect x="{left}" y="{y}" width="{max(w, 0):.1f}" height="{row}" rx="3" '
            f'fill="{colours[i % len(colours)]}"><title>{escape(label)}: {escape(fmt(value))}</title></rect>'
        )
        body.append(_text(left + w + 6, y + row * 0.68, fmt(value), weight="600"))
    body.append(_text(left + plot / 2, height - 8, value_label, anchor="middle", fill=MUTED))
    body.append(_text(8, 12, category_label, size=10, fill=MUTED))
    return _frame(height, title, desc, body, chart_id)


def _columns(bars, top, title, desc, value_label, category_label, fmt, colours, chart_id):
    left, right, bottom, height = 70, 20, 56, 260
    plot_h, plot_w = height - 30 - bottom, WIDTH - left - right
    slot = plot_w / len(bars)
    width = min(slot * 0.65, 90)
    body = []
    for i in range(5):  # horizontal grid lines
        y = 30 + plot_h * (1 - i / 4)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, tick(top * i / 4), anchor="end", size=10, fill=MUTED))
    for i, (label, value) in enumerate(bars):
        h = plot_h * float(value) / top
        x = left + slot * i + (slot - width) / 2
        y = 30 + plot_h - h
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{max(h, 0):.1f}" rx="3" '
            f'fill="{colours[i % len(colours)]}"><title>{escape(label)}: {escape(fmt(value))}</title></rect>'
        )
        body.append(_text(x + width / 2, y - 5, fmt(value), anchor="middle", size=11, weight="600"))
        body.append(_text(x + width / 2, 30 + plot_h + 16, _short(label, 16), anchor="middle", size=11))
    body.append(_text(left + plot_w / 2, height - 10, category_label, anchor="middle", fill=MUTED))
    body.append(_text(12, 18, value_label, size=10, fill=MUTED))
    return _frame(height, title, desc, body, chart_id)


def stacked_bars(categories, series, *, title, value_label, category_label, fmt=number, desc=None, chart_id=None):
    """Horizontal bars, one per category, split into one segment per series.

    `series` is [(name, label, [value per category])]; the total is written at each bar's end and a
    segment's value inside it when it fits."""
    categories = [str(c) for c in categories]
    totals = [sum((s[2][i] or 0 for s in series), 0) for i in range(len(categories))]
    if desc is None:
        desc = "; ".join(
            f"{cat}: {fmt(total)} (" + ", ".join(f"{label} {fmt(values[i] or 0)}" for _n, label, values in series) + ")"
            for i, (cat, total) in enumerate(zip(categories, totals))
        )
    if not categories or not any(totals):
        return _empty(title, desc, chart_id)
    top = _nice_max(max(float(t) for t in totals))
    left, right, row, gap = 150, 130, 24, 8
    plot = WIDTH - left - right
    legend_y = 16
    first_row = legend_y + 22
    height = first_row + len(categories) * (row + gap) + 48
    body = []
    x = left
    for i, (name, label, _values) in enumerate(series):  # legend
        body.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" rx="2" fill="{colour_for(name, i)}"/>')
        body.append(_text(x + 16, legend_y, label, size=11))
        x += 28 + 7 * len(str(label)) + (6 * sum(ord(ch) > 0x2E80 for ch in str(label)))
    for i in range(5):
        gx = left + plot * i / 4
        body.append(f'<line x1="{gx:.1f}" y1="{first_row - 4}" x2="{gx:.1f}" y2="{height - 42:.1f}" stroke="{GRID}"/>')
        body.append(_text(gx, height - 28, tick(top * i / 4), anchor="middle", size=10, fill=MUTED))
    for c, cat in enumerate(categories):
        y = first_row + c * (row + gap)
        body.append(_text(left - 8, y + row * 0.68, _short(cat), anchor="end"))
        x = left
        for s, (name, label, values) in enumerate(series):
            value = values[c] or 0
            w = plot * float(value) / top
            if w <= 0:
                continue
            body.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row}" fill="{colour_for(name, s)}">'
                f"<title>{escape(cat)} · {escape(label)}: {escape(fmt(value))}</title></rect>"
            )
            text = fmt(value)
            if w > 7 * len(text) + 8:
                body.append(_text(x + w / 2, y + row * 0.68, text, anchor="middle", size=11, fill="#fff"))
            x += w
        body.append(_text(x + 6, y + row * 0.68, fmt(totals[c]), weight="600"))
    body.append(_text(left + plot / 2, height - 8, value_label, anchor="middle", fill=MUTED))
    body.append(_text(8, first_row - 6, category_label, size=10, fill=MUTED))
    return _frame(height, title, desc, body, chart_id)


def _shade(share):
    """White to the accent green as the share goes 0 → 1."""
    share = max(0.0, min(1.0, float(share or 0)))
    start, end = (255, 255, 255), (11, 110, 79)
    r, g, b = (round(a + (z - a) * share) for a, z in zip(start, end))
    return f"#{r:02x}{g:02x}{b:02x}"


def heat_map(row_labels, column_labels, cells, *, title, row_axis, column_axis, desc=None, chart_id=None, notes=None):
    """A matrix of shares: `cells[r][c]` is a fraction 0-1 (or None: nothing to share), drawn as a
    shaded cell with its percentage; `notes[r][c]` (optional) is added to each cell's tooltip."""
    row_labels, column_labels = [str(x) for x in row_labels], [str(x) for x in column_labels]
    if desc is None:
        desc = "; ".join(
            f"{rl} → " + ", ".join(f"{cl} {percent(cells[r][c])}" for c, cl in enumerate(column_labels))
            for r, rl in enumerate(row_labels)
        )
    if not row_labels:
        return _empty(title, desc, chart_id)
    left, top = 140, 56
    cell_w = min(90, (WIDTH - left - 10) / max(len(column_labels), 1))
    cell_h = 30
    height = top + len(row_labels) * cell_h + 16
    body = [_text(left + cell_w * len(column_labels) / 2, 14, column_axis, anchor="middle", fill=MUTED)]
    for c, label in enumerate(column_labels):
        body.append(
            _text(left + cell_w * (c + 0.5), top - 10, _short(label, 12), anchor="middle", size=11, weight="600")
        )
    body.append(_text(8, top - 10, row_axis, size=10, fill=MUTED))
    for r, label in enumerate(row_labels):
        y = top + r * cell_h
        body.append(_text(left - 8, y + cell_h * 0.62, _short(label, 18), anchor="end", weight="600"))
        for c, share in enumerate(cells[r]):
            x = left + c * cell_w
            note = f" ({notes[r][c]})" if notes and notes[r][c] else ""
            tip = f"{label} → {column_labels[c]}: {percent(share)}{note}"
            body.append(
                f'<rect x="{x:.1f}" y="{y}" width="{cell_w - 2:.1f}" height="{cell_h - 2}" rx="2" '
                f'fill="{_shade(share)}" stroke="{GRID}"><title>{escape(tip)}</title></rect>'
            )
            fill = "#fff" if (share or 0) >= 0.5 else INK
            body.append(
                _text(x + (cell_w - 2) / 2, y + cell_h * 0.6, percent(share), anchor="middle", size=11, fill=fill)
            )
    return _frame(height, title, desc, body, chart_id)


def rate_meters(rates, *, title, desc=None, chart_id=None):
    """One 0-100% track per (label, fraction or None, detail text), filled to the rate."""
    rates = [(str(label), fraction, str(detail or "")) for label, fraction, detail in rates]
    if desc is None:
        desc = "; ".join(f"{label}: {percent(f)} {detail}".strip() for label, f, detail in rates)
    left, right, row, gap = 180, 80, 22, 18
    plot = WIDTH - left - right
    height = 14 + len(rates) * (row + gap) + 24
    body = []
    for i, (label, fraction, detail) in enumerate(rates):
        y = 14 + i * (row + gap)
        body.append(_text(left - 8, y + row * 0.7, _short(label, 26), anchor="end", weight="600"))
        body.append(f'<rect x="{left}" y="{y}" width="{plot}" height="{row}" rx="4" fill="#eef2f7"/>')
        if fraction is not None:
            w = plot * max(0.0, min(1.0, float(fraction)))
            body.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row}" rx="4" fill="{ACCENT}">'
                f"<title>{escape(label)}: {escape(percent(fraction))}</title></rect>"
            )
        body.append(_text(left + plot + 8, y + row * 0.7, percent(fraction), weight="700"))
        if detail:
            body.append(_text(left, y + row + 12, detail, size=10, fill=MUTED))
    for pct in (0, 50, 100):
        x = left + plot * pct / 100
        body.append(_text(x, height - 6, f"{pct}%", anchor="middle", size=10, fill=MUTED))
    return _frame(height, title, desc, body, chart_id)
