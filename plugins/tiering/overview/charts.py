"""ECharts options (plain JSON, rendered by the page's script) from the overview's figures."""

from __future__ import annotations

import math
import unicodedata

from flask_babel import gettext as _

from plugins.tiering.models import TIERS
from plugins.tiering.overview.figures import NEW
from plugins.tiering.overview.reasons import money
from plugins.tiering.rfm import RULES, SEGMENTS

TIER_COLOURS = {"A": "#c23531", "B": "#e5a023", "C": "#6e8fb5"}
SEGMENT_COLOURS = {"champions": "#1a7f37", "loyal": "#56a64b", "potential": "#9bd37f", "cant_lose": "#d62728",
                   "at_risk": "#f28e2b", "hibernating": "#a0a0c8", "lost": "#8c8c8c"}
EMPTY_COLOUR = "#f4f4f4"
NEW_COLOUR = "#8c8c8c"  # no tier (before the first or after the last)
LABEL_ROTATE = 30  # degrees: franchise names slant when they do not fit side by side
LABEL_MAX = 160  # px: a longer name is cut short on the axis (the table under the chart has it whole)
AXIS_ROOM = 480  # px: about what a half-width panel leaves for the category axis


def text_width(text: str) -> int:
    """About how wide `text` is in ECharts' default 12px font: full-width (CJK) characters 12px, others 7px."""
    return sum(12 if unicodedata.east_asian_width(ch) in "WF" else 7 for ch in str(text))


def tier_label(tier: str) -> str:
    return _("new") if tier == NEW else tier


def distribution(counts: dict[int, dict[str, int]], names: dict[int, str]) -> dict:
    """Stacked bars: one bar per franchise, A/B/C stacked."""
    order = sorted(counts, key=lambda fid: names.get(fid, str(fid)))
    labels = [names.get(fid, str(fid)) for fid in order]
    widths = [min(text_width(label), LABEL_MAX) for label in labels]
    rotate = sum(widths) + 10 * len(widths) > AXIS_ROOM
    # containLabel leaves out how far the first slanted label reaches left of its bar: make room for it
    left = max(10, round(widths[0] * math.cos(math.radians(LABEL_ROTATE))) - 20) if rotate and widths else 10
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}}, "legend": {"data": list(TIERS)},
        "grid": {"left": left, "right": 20, "top": 40, "bottom": 10, "containLabel": True},
        "xAxis": {"type": "category", "data": labels,
                  "axisLabel": {"interval": 0, "rotate": LABEL_ROTATE if rotate else 0, "width": LABEL_MAX,
                                "overflow": "truncate"}},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "stack": "tiers", "name": tier, "itemStyle": {"color": TIER_COLOURS[tier]},
                    "barMaxWidth": 60, "data": [counts[fid].get(tier, 0) for fid in order]} for tier in TIERS],
    }


def tier_pie(totals: dict[str, int]) -> dict:
    # the ring sits below the legend, so a thin slice's label at the top does not run into it
    return {"tooltip": {"trigger": "item"}, "legend": {"data": list(TIERS), "top": 0},
            "series": [{"type": "pie", "radius": ["30%", "60%"], "center": ["50%", "58%"],
                        "label": {"formatter": "{b}: {c} ({d}%)"},
                        "data": [{"name": tier, "value": totals.get(tier, 0),
                                  "itemStyle": {"color": TIER_COLOURS[tier]}} for tier in TIERS]}]}


def movement_sankey(moves: dict[tuple[str, str], int]) -> dict | None:
    """A sankey from the tiers before (left) to the tiers after (right); None when nothing moved.

    The two sides get distinct node names: a sankey must not have cycles, and A>B with B>A would make one."""
    moves = {pair: n for pair, n in moves.items() if n > 0}
    if not moves:
        return None
    order = (NEW,) + TIERS

    def left(tier):
        return f"{tier_label(tier)} →"

    def right(tier):
        return f"→ {tier_label(tier) if tier != NEW else _('no tier')}"

    def node(name, tier):  # a tier has the same colour as in the other charts
        return {"name": name, "itemStyle": {"color": TIER_COLOURS.get(tier, NEW_COLOUR)}}

    nodes = ([node(left(t), t) for t in order if any(b == t for b, _a in moves)]
             + [node(right(t), t) for t in order if any(a == t for _b, a in moves)])
    links = [{"source": left(before), "target": right(after), "value": n}
             for (before, after), n in sorted(moves.items(), key=lambda item: (order.index(item[0][0])
                                                                               if item[0][0] in order else 9,
                                                                               item[0][1]))]
    return {"tooltip": {"trigger": "item"},
            "series": [{"type": "sankey", "nodes": nodes, "links": links, "nodeAlign": "justify",
                        "emphasis": {"focus": "adjacency"}, "lineStyle": {"color": "gradient", "curveness": 0.5},
                        "label": {"formatter": "{b}"}}]}


def rfm_heatmap(cells) -> dict:
    """R (rows, 5 on top) by F (columns): each cell coloured by the segment most of its customers are in,
    labelled with its customer count; the tooltip adds the average monetary and the segments in the cell."""
    codes = [rule.code for rule in RULES]
    data = []
    for (r, f), cell in sorted(cells.items()):
        segment = cell.segment
        index = codes.index(segment) if segment in codes else len(codes)  # an empty cell: the legend's last
        detail = ", ".join(f"{SEGMENTS[code]} {n}" for code, n in sorted(cell.segments.items()) if code in SEGMENTS)
        average = "—" if cell.average_monetary is None else money(cell.average_monetary)
        name = _("R %(r)d F %(f)d: %(n)d customers, average monetary %(m)s", r=r, f=f, n=cell.customers, m=average)
        data.append({"value": [f - 1, r - 1, index, cell.customers], "name": f"{name}; {detail}" if detail else name})
    pieces = [{"value": i, "label": str(rule.label), "color": SEGMENT_COLOURS.get(rule.code, "#999")}
              for i, rule in enumerate(RULES)]
    pieces.append({"value": len(codes), "label": _("no customers"), "color": EMPTY_COLOUR})
    # the legend stands at the right, one segment a line: in a row it is wider than the panel and gets cut
    legend_width = max(text_width(piece["label"]) for piece in pieces) + 40
    return {
        "tooltip": {"formatter": "{b}"},
        "grid": {"top": 10, "left": 60, "right": legend_width, "bottom": 50},
        "xAxis": {"type": "category", "name": _("F score"), "nameLocation": "middle", "nameGap": 25,
                  "data": [str(f) for f in range(1, 6)], "splitArea": {"show": True}},
        "yAxis": {"type": "category", "name": _("R score"), "nameLocation": "middle", "nameGap": 35,
                  "data": [str(r) for r in range(1, 6)], "splitArea": {"show": True}},
        "visualMap": {"type": "piecewise", "dimension": 2, "pieces": pieces, "orient": "vertical", "inverse": True,
                      "align": "left", "right": 0, "top": "middle", "selectedMode": False},
        "series": [{"type": "heatmap", "data": data, "label": {"show": True, "formatter": "{@[3]}"},
                    "emphasis": {"itemStyle": {"borderColor": "#333", "borderWidth": 1}}}],
    }


def cluster_scatter(points, clusters) -> dict:
    """Frequency (x) against monetary (y), one series per cluster; recency in days in each point's tooltip."""
    series = []
    for cluster in clusters:
        data = [{"value": [p.frequency, p.monetary],
                 "name": _("F %(f)s, M %(m)s, last shipment %(d)s days ago", f=p.frequency, m=money(p.monetary),
                           d=round(p.recency_days))}
                for p in points if p.cluster == cluster.index]
        series.append({"type": "scatter", "name": cluster.name, "symbolSize": 6, "data": data})
    return {"tooltip": {"trigger": "item", "formatter": "{a}<br/>{b}"}, "legend": {"type": "scroll"},
            "grid": {"containLabel": True},
            "xAxis": {"type": "value", "name": _("Frequency (shipments)"), "nameLocation": "middle",
                      "nameGap": 25, "scale": True},
            "yAxis": {"type": "value", "name": _("Monetary (¥)"), "scale": True},
            "series": series}
