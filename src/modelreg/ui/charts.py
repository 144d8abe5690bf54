"""Time-series charts as server-rendered SVG: no chart library, nothing to download, readable without
JavaScript. Each chart has a text alternative (its title and range) for screen readers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from html import escape

from markupsafe import Markup

__all__ = ["svg_chart"]

WIDTH, HEIGHT = 420, 170
LEFT, RIGHT, TOP, BOTTOM = 58, 10, 10, 26


def _label(seconds: int, span: int) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%b %d %H:%M" if span <= 2 * 86400 else "%b %d")


def _number(value: float) -> str:
    """Axis labels without exponents (a day's cost may be $0.000059)."""
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{Decimal(f'{value:.2g}'):f}" if value < 1 else f"{value:.3g}"


def svg_chart(
    title: str,
    points: list[tuple[int, float | None]],
    *,
    bars: bool = False,
    unit: str = "",
    ceiling: float | None = None,
) -> Markup:
    """`points`: (bucket start, value or None for no data), oldest first, evenly spaced. `ceiling` caps the
    axis (100 for percentages)."""
    values = [v for _, v in points if v is not None]
    top = max(values) if values else 0.0
    top = top * 1.1 if top > 0 else 1.0
    if ceiling is not None:
        top = min(top, ceiling) if values and max(values) > 0 else ceiling
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(points), 1)
    step = plot_w / n

    def x(i: int) -> float:
        return LEFT + step * (i + 0.5)

    def y(v: float) -> float:
        return TOP + plot_h - (v / top) * plot_h

    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#8a929e"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#8a929e"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 9}" font-size="10" text-anchor="end" fill="#555d6b">'
        f"{_number(top)}{escape(unit)}</text>",
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" font-size="10" text-anchor="end" fill="#555d6b">0</text>',
    ]
    if points:
        span = points[-1][0] - points[0][0]
        parts.append(
            f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="10" fill="#555d6b">{_label(points[0][0], span)}</text>'
        )
        parts.append(
            f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" font-size="10" text-anchor="end" fill="#555d6b">'
            f"{_label(points[-1][0], span)}</text>"
        )
    if not values:
        parts.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" font-size="12" text-anchor="middle" '
            'fill="#555d6b">no calls in this window</text>'
        )
    elif bars:
        width = max(step * 0.8, 1)
        for i, (_, v) in enumerate(points):
            if v:
                parts.append(
                    f'<rect x="{x(i) - width / 2:.1f}" y="{y(v):.1f}" width="{width:.1f}" '
                    f'height="{TOP + plot_h - y(v):.1f}" fill="#0b57d0"/>'
                )
    else:
        segment: list[str] = []
        for i, (_, v) in enumerate(points):
            if v is None:
                if segment:
                    parts.append(_path(segment))
                segment = []
                continue
            segment.append(f"{x(i):.1f},{y(v):.1f}")
        if segment:
            parts.append(_path(segment))
        for i, (_, v) in enumerate(points):
            if v is not None and len(values) < 60:
                parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.2" fill="#0b57d0"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped or numeric


def _path(points: list[str]) -> str:
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="#0b57d0" stroke-width="1.8"/>'
