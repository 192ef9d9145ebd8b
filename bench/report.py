"""Plain-text tables and number formatting for the benchmark output."""

import os
import platform
import resource


def n(value):
    return f"{int(value):,}"


def secs(value):
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def mb(kb):
    return f"{kb / 1024:.0f} MB"


def ratio(value, base):
    return f"{value / base:.2f}x" if base else "-"


def table(headers, rows, align=None):
    """Left-align the first column, right-align the rest (or as `align` says: 'l'/'r' per column)."""
    align = align or ["l"] + ["r"] * (len(headers) - 1)
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells[1:]]
    return "\n".join(out)


def machine():
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()}"


def own_peak_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cpu(result, scale=1.0):
    """'client+server' CPU seconds of a measurement (server: the PostgreSQL backend), scaled."""
    client = result.get("client_cpu")
    server = result.get("server_cpu")
    if client is None:
        return "-"
    text = f"{client * scale:.1f}"
    return text + (f"+{server * scale:.1f}" if server is not None else "+?")


def load():
    return os.getloadavg()[0]
