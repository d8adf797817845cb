"""`Dashboard`: jobs, recipe outcomes and Proactive recipients over the last days.

The figures come from `lpstudio.metrics` (aggregates computed by the database); this module
only draws them. Days are UTC calendar days, as in the studio's panel and the REST API, so
the range, the charts and the summary say so. Charts are PNG images (`ipywidgets.Image`), so
they show the same in JupyterLab, Voilà and an exported notebook, and they are built on
`matplotlib.figure.Figure` without pyplot: no backend to choose, no global figure list to
leak into.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..models import utcnow
from .common import (
    STATUS_COLOURS,
    STATUSES,
    chart_label,
    count_argument,
    esc,
    format_time,
    message,
    png,
    status_badge,
    studio_argument,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..studio import Studio

#: The ranges offered, in days: the studio's dashboard panel's (today to a year).
RANGES = (1, 7, 30, 90, 366)

#: The longest range, in days: what the REST API's `GET /dashboard?days=` allows too.
MAX_DAYS = 366

ACCEPTED_COLOUR, FAILED_COLOUR = "tab:green", "tab:red"


def day_range(days: int, today: datetime | None = None) -> tuple[datetime, datetime]:
    """The last `days` UTC calendar days, today included, as [start, end)."""
    midnight = datetime.combine((today or utcnow()).astimezone(UTC).date(), time(), UTC)
    end = midnight + timedelta(days=1)
    return end - timedelta(days=days), end


def range_label(days: int) -> str:
    """How the range is offered: its days are UTC days, as the studio's panel says."""
    return "today (UTC)" if days == 1 else f"last {days} days (UTC)"


def _days(start: datetime, end: datetime) -> list[str]:
    count = (end - start).days
    return [(start + timedelta(days=i)).date().isoformat() for i in range(count)]


def _empty(axes: Axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def _day_ticks(axes: Axes, days: list[str]) -> None:
    step = max(1, len(days) // 10)
    positions = range(0, len(days), step)
    axes.set_xticks(list(positions), [days[i][5:] for i in positions], rotation=45, ha="right")


def jobs_chart(metrics: dict[str, Any], days: list[str]) -> bytes:
    """Jobs created per day, stacked by status."""
    figure = Figure(figsize=(7, 3))
    axes = figure.add_subplot()
    counts = {(row["day"], row["status"]): row["count"] for row in metrics["jobs_per_day"]}
    if not counts:
        _empty(axes, "no jobs in this range")
    else:
        bottom = [0] * len(days)
        statuses = [*STATUSES, *sorted({s for _d, s in counts} - set(STATUSES))]
        for status in statuses:
            heights = [counts.get((day, status), 0) for day in days]
            if any(heights):
                axes.bar(
                    range(len(days)),
                    heights,
                    bottom=bottom,
                    label=status,
                    color=STATUS_COLOURS.get(status, "black"),
                )
                bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        _day_ticks(axes, days)
        axes.set_ylabel("jobs")
        axes.legend(loc="upper left", fontsize="small")
    axes.set_title("Jobs per day (UTC)")
    return png(figure)


def recipes_chart(metrics: dict[str, Any]) -> bytes:
    """Succeeded and failed jobs per recipe, as horizontal stacked bars."""
    rows = metrics["recipes"]
    figure = Figure(figsize=(7, max(2.0, 0.4 * len(rows) + 1)))
    axes = figure.add_subplot()
    if not rows:
        _empty(axes, "no jobs in this range")
    else:
        names = [chart_label(row["recipe"]) for row in rows]
        succeeded = [row["succeeded"] for row in rows]
        failed = [row["failed"] for row in rows]
        axes.barh(names, succeeded, color=STATUS_COLOURS["succeeded"], label="succeeded")
        axes.barh(names, failed, left=succeeded, color=STATUS_COLOURS["failed"], label="failed")
        axes.invert_yaxis()
        axes.set_xlabel("jobs")
        axes.legend(loc="lower right", fontsize="small")
    axes.set_title("Succeeded and failed jobs per recipe")
    return png(figure)


def proactive_chart(metrics: dict[str, Any], days: list[str]) -> bytes:
    """Proactive recipients accepted and failed per day, side by side."""
    figure = Figure(figsize=(7, 3))
    axes = figure.add_subplot()
    per_day = {row["day"]: row for row in metrics["proactive"]}
    if not per_day:
        _empty(axes, "no Proactive campaigns in this range")
    else:
        accepted = [per_day.get(day, {}).get("accepted", 0) for day in days]
        failed = [per_day.get(day, {}).get("failed", 0) for day in days]
        left = [i - 0.2 for i in range(len(days))]
        right = [i + 0.2 for i in range(len(days))]
        axes.bar(left, accepted, width=0.4, color=ACCEPTED_COLOUR, label="accepted")
        axes.bar(right, failed, width=0.4, color=FAILED_COLOUR, label="failed")
        _day_ticks(axes, days)
        axes.set_ylabel("recipients")
        axes.legend(loc="upper left", fontsize="small")
    axes.set_title("Proactive recipients per day (UTC)")
    return png(figure)


def summary_html(metrics: dict[str, Any]) -> str:
    """Totals of the range and the state of the connections (all values escaped)."""
    totals: dict[str, int] = {}
    for row in metrics["jobs_per_day"]:
        totals[row["status"]] = totals.get(row["status"], 0) + row["count"]
    jobs = ", ".join(f"{status_badge(s)} {esc(n)}" for s, n in sorted(totals.items())) or "none"
    accepted = sum(row["accepted"] for row in metrics["proactive"])
    failed = sum(row["failed"] for row in metrics["proactive"])
    links = metrics["connections"]
    connections = ", ".join(f"{esc(state)} {esc(n)}" for state, n in links.items())
    first = datetime.fromisoformat(metrics["start"]).astimezone(UTC).date()
    last = (datetime.fromisoformat(metrics["end"]).astimezone(UTC) - timedelta(days=1)).date()
    return (
        '<div class="lpstudio-summary">'
        f"<b>Days</b>: {esc(first)} to {esc(last)} (UTC days)<br>"
        f"<b>Jobs</b>: {jobs}<br>"
        f"<b>Proactive recipients</b>: {esc(accepted)} accepted, {esc(failed)} failed<br>"
        f"<b>Connections</b>: {connections}"
        "</div>"
    )


def recipes_html(metrics: dict[str, Any]) -> str:
    """Per recipe, its succeeded and failed jobs of the range and its latest job, in
    numbers (the chart shows their sizes, not their counts; all values escaped)."""
    rows = []
    for row in metrics["recipes"]:
        latest = row["latest_job"]
        last = ""
        if latest:
            when = format_time(datetime.fromisoformat(latest["created_at"]))
            last = f"job {esc(latest['id'])} {status_badge(latest['status'])} {esc(when)}"
        rows.append(
            f"<tr><td>{esc(row['recipe'])}</td><td>{esc(row['succeeded'])}</td>"
            f"<td>{esc(row['failed'])}</td><td>{last}</td></tr>"
        )
    if not rows:
        return ""
    header = "".join(f"<th>{h}</th>" for h in ("recipe", "succeeded", "failed", "latest job"))
    return (
        '<table class="lpstudio-recipes" style="border-collapse:collapse">'
        f"<thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


class Dashboard(widgets.VBox):
    """The last `days` UTC days (today, 7, 30, 90 or 366 in the selector, or any whole number
    from 1 to `MAX_DAYS`); `metrics` holds the figures last drawn, as
    `lpstudio.metrics.dashboard_metrics` returns them."""

    def __init__(self, studio: Studio, days: int = 7) -> None:
        # 2.5 started the range at noon and drew two days labelled "last 2.5 days"
        self.studio = studio_argument(studio, "Dashboard(studio)")
        days = count_argument(days, "days", MAX_DAYS, "days", "Dashboard(studio, days=7)")
        self.metrics: dict[str, Any] = {}
        self.range = widgets.Dropdown(
            options=[(range_label(n), n) for n in sorted({*RANGES, days})],
            value=days,
            description="Range",
        )
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.summary = widgets.HTML()
        self.recipes_table = widgets.HTML()
        self.notice = widgets.HTML()
        self.jobs_image = widgets.Image(format="png")
        self.recipes_image = widgets.Image(format="png")
        self.proactive_image = widgets.Image(format="png")
        self.range.observe(lambda _change: self._refresh_or_say(), names="value")
        self.refresh_button.on_click(lambda _button: self._refresh_or_say())
        super().__init__(
            [
                widgets.HBox([self.range, self.refresh_button]),
                self.notice,
                self.summary,
                self.jobs_image,
                self.recipes_image,
                self.recipes_table,
                self.proactive_image,
            ]
        )
        self.refresh()

    def _refresh_or_say(self) -> None:
        """`refresh()` for the range and the button: a failure is shown above the charts
        (a callback's exception only reaches JupyterLab's log console), the old ones kept."""
        try:
            self.refresh()
        except Exception as exc:
            self.notice.value = message(f"refresh failed: {exc}", "error")
        else:
            self.notice.value = ""

    def refresh(self) -> None:
        """Recomputes the figures for the chosen range and redraws the charts."""
        start, end = day_range(self.range.value)
        metrics = self.studio.dashboard(start, end)
        days = _days(start, end)
        self.summary.value = summary_html(metrics)
        self.jobs_image.value = jobs_chart(metrics, days)
        self.recipes_image.value = recipes_chart(metrics)
        self.recipes_table.value = recipes_html(metrics)
        self.proactive_image.value = proactive_chart(metrics, days)
        self.metrics = metrics
