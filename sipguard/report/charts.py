"""The report's two charts as PNG bytes, drawn with matplotlib's Agg backend (no display).

- ``daily``: calls and decisions per day, one bar a day stacked by reason.
- ``hourly``: quiet-hours and frequency-cap refusals by hour of the day (0-23).
Each figure is drawn into its own ``Figure`` (not pyplot's global state), so concurrent
reports cannot mix their drawings.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sipguard.policy.facts import Reason

# One fixed colour per reason, so a reason looks the same in every report.
_PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#d62728", "#8c564b", "#17becf", "#7f7f7f",
)  # fmt: skip
COLOURS = {
    r.value: _PALETTE[i % len(_PALETTE)] for i, r in enumerate(Reason) if r is not Reason.ALLOWED
}
COLOURS[Reason.ALLOWED.value] = "#2ca02c"


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)  # draw with Agg whatever backend pyplot would pick
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def daily(per_day: dict[date, Counter[str]]) -> bytes:
    """Calls per day stacked by reason (ALLOWED first, then refusals by precedence)."""
    days = sorted(per_day)
    reasons = [r.value for r in (Reason.ALLOWED, *Reason) if any(per_day[d][r.value] for d in days)]
    reasons = list(dict.fromkeys(reasons))
    fig = Figure(figsize=(10, 4), dpi=100)
    ax = fig.add_subplot()
    bottoms = [0] * len(days)
    labels = [d.isoformat() for d in days]
    for reason in reasons:
        heights = [per_day[d][reason] for d in days]
        ax.bar(labels, heights, bottom=bottoms, color=COLOURS[reason], label=reason)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    ax.set_title("Calls and decisions per day, by reason")
    ax.set_ylabel("calls")
    step = max(1, len(days) // 15)  # at most about 15 day labels
    ax.set_xticks(range(0, len(days), step), labels[::step])
    ax.tick_params(axis="x", labelrotation=45 if len(days) > 7 else 0)
    if reasons:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return _png(fig)


def hourly(by_hour: dict[str, Counter[int]]) -> bytes:
    """Quiet-hours and frequency-cap refusals by local hour of the day, stacked."""
    hours = list(range(24))
    fig = Figure(figsize=(10, 3.5), dpi=100)
    ax = fig.add_subplot()
    bottoms = [0] * 24
    for reason, counts in by_hour.items():
        heights = [counts[h] for h in hours]
        ax.bar(hours, heights, bottom=bottoms, color=COLOURS[reason], label=reason)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    ax.set_title("Quiet-hours and frequency refusals by hour of the day")
    ax.set_xlabel("hour of the day (rules' timezone)")
    ax.set_ylabel("refusals")
    ax.set_xticks(hours)
    ax.legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    return _png(fig)
