"""Drawing for `rl.report` (matplotlib, Agg backend: no display needed).

Each function takes the runs in the report's order (`run.name`, `run.series(key) -> (steps, values)`), gives run i
the same colour in every figure, writes one PNG and returns the titles of the panels it drew ([] and no file when
there was nothing to draw). null/NaN values are gaps in the lines.
"""
from __future__ import annotations

import math
from pathlib import Path

DPI = 72  # keeps a 3-panel figure around 40 KB
RUN_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
              "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]
PHASE_COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def run_color(i: int) -> str:
    return RUN_COLORS[i % len(RUN_COLORS)]


def _grid(plt, n: int, ncols: int, n_legend: int, sharey: bool = False, panel_w: float = 3.9):
    """A grid of n panels with room below for a figure legend of n_legend entries; returns (fig, axes, layout)."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    width = max(panel_w * ncols, 5.0)
    legend_cols = max(1, min(n_legend, int(width / 1.6)))
    legend_rows = math.ceil(n_legend / legend_cols)
    height = 2.7 * nrows + 0.5 + 0.3 * legend_rows
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, sharey=sharey)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n]), (height, legend_cols, legend_rows)


def _style(ax, title: str, color: str = "black") -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize=9, color=color)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _save(plt, fig, path: Path, title: str, handles: list, layout: tuple[float, int, int]) -> None:
    height, legend_cols, legend_rows = layout
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=legend_cols, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.3 * legend_rows / height if handles else 0, 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def draw_lines(runs: list, keys: list[str], title: str, path: Path, ncols: int = 3) -> list[str]:
    """One panel per key that some run logged, one line per run (legend: run names)."""
    panels = [k for k in keys if any(run.series(k)[0] for run in runs)]
    if not panels:
        return []
    plt = _pyplot()
    from matplotlib.lines import Line2D

    fig, axes, layout = _grid(plt, len(panels), ncols, len(runs))
    for ax, key in zip(axes, panels):
        for i, run in enumerate(runs):
            steps, values = run.series(key)
            if steps:
                ax.plot(steps, values, color=run_color(i), linewidth=1.4, marker="." if len(steps) <= 60 else None,
                        markersize=5)
        _style(ax, key)
    handles = [Line2D([], [], color=run_color(i), linewidth=2, label=run.name) for i, run in enumerate(runs)]
    _save(plt, fig, path, title, handles, layout)
    return panels


def draw_phase_bars(runs: list, phases: list[tuple[str, str]], total_key: str, path: Path) -> list[str]:
    """Time per phase: one panel per run (title in the run's colour, shared y axis), a bar per step stacked from
    the `phases` ((key, label) pairs) plus "other" = `total_key` - their sum when that is logged and positive.
    A missing or null phase adds nothing to its step's bar."""
    drawn = [(i, run) for i, run in enumerate(runs) if any(run.series(k)[0] for k, _ in phases)]
    if not drawn:
        return []
    plt = _pyplot()
    from matplotlib.patches import Patch

    fig, axes, layout = _grid(plt, len(drawn), 2, len(phases) + 1, sharey=True, panel_w=5.0)
    used: dict[str, str] = {}
    for ax, (i, run) in zip(axes, drawn):
        columns = [(label, dict(zip(*run.series(key)))) for key, label in phases]
        steps = sorted({s for _, values in columns for s in values})
        heights = [(label, [_finite(values.get(s)) for s in steps]) for label, values in columns]
        totals = dict(zip(*run.series(total_key)))
        other = [max(0.0, _finite(totals.get(s)) - sum(h[j] for _, h in heights)) if s in totals else 0.0
                 for j, s in enumerate(steps)]
        heights.append(("other", other))
        bottom = [0.0] * len(steps)
        for j, (label, h) in enumerate(heights):
            if not any(h):
                continue
            color = PHASE_COLORS[j % len(PHASE_COLORS)]
            ax.bar(steps, h, bottom=bottom, width=0.8, color=color)
            used.setdefault(label, color)
            bottom = [b + x for b, x in zip(bottom, h)]
        _style(ax, run.name, run_color(i))
        ax.set_ylabel("seconds", fontsize=8)
    handles = [Patch(color=color, label=label) for label, color in used.items()]
    _save(plt, fig, path, "Time per phase (stacked, per step)", handles, layout)
    return [run.name for _, run in drawn]


def _finite(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else 0.0
