#!/usr/bin/env python3
"""Plots how whole commands grow with repository size, from the first table that
benches/scale.sh prints, as an SVG (log-log axes, no dependencies).

    benches/scale.sh > scale.md && python3 benches/plot.py < scale.md > benches/scale.svg
"""

import math
import sys

SERIES = [
    ("check cold", "#d62728"),
    ("check warm", "#1f77b4"),
    ("lock --check", "#2ca02c"),
    ("compile --check", "#9467bd"),
    ("compile, one model changed", "#e377c2"),
    ("diff HEAD~1", "#8c564b"),
    ("blame", "#7f7f7f"),
]


def table(lines):
    """The first Markdown table whose first header is `models`."""
    header, rows = None, []
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            if cells and cells[0] == "models":
                header = cells
            continue
        if set(line.strip()) <= set("|-"):
            continue
        if len(cells) != len(header):
            break
        rows.append(dict(zip(header, cells)))
    return header, rows


def main():
    header, rows = table(sys.stdin.read().splitlines())
    if not rows:
        sys.exit("no table of medians on standard input")
    width, height, left, bottom, top, right = 750, 440, 70, 50, 20, 200
    models = [int(r["models"]) for r in rows]
    values = [float(r[name]) for r in rows for name, _ in SERIES if name in r]
    x0, x1 = math.log10(min(models)), math.log10(max(models))
    y0 = math.floor(math.log10(max(min(values), 1)))
    y1 = math.ceil(math.log10(max(values)))

    def x(v):
        return left + (math.log10(v) - x0) / (x1 - x0) * (width - left - right)

    def y(v):
        return height - bottom - (math.log10(max(v, 1)) - y0) / (y1 - y0) * (height - top - bottom)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for exponent in range(y0, y1 + 1):
        v = 10**exponent
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
        label = f"{v / 1000:g} s" if v >= 1000 else f"{v:g} ms"
        out.append(f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{label}</text>')
    for m in models:
        out.append(f'<line x1="{x(m):.1f}" x2="{x(m):.1f}" y1="{top}" y2="{height - bottom}" stroke="#eee"/>')
        out.append(f'<text x="{x(m):.1f}" y="{height - bottom + 18}" text-anchor="middle">{m:,}</text>')
    out.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 10}" text-anchor="middle">'
        "models (3 releases and 3 prompt versions each)</text>"
    )
    for i, (name, colour) in enumerate(SERIES):
        if name not in header:
            continue
        points = " ".join(f"{x(int(r['models'])):.1f},{y(float(r[name])):.1f}" for r in rows)
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for r in rows:
            out.append(
                f'<circle cx="{x(int(r["models"])):.1f}" cy="{y(float(r[name])):.1f}" r="3" fill="{colour}"/>'
            )
        ly = top + 10 + i * 20
        out.append(f'<line x1="{width - right + 15}" x2="{width - right + 35}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{width - right + 42}" y="{ly + 4}">{name}</text>')
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
