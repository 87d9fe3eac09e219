"""Run reports: `python -m rl.report RUN_DIR [RUN_DIR ...] [--out DIR] [--last N]`.

Reads each run's metrics.jsonl, draws PNG plots (reward per domain, eval curves, MIS-PO keep fractions, KL and
entropy, grad norms, response length, staleness, verifier errors and timeouts, time per phase as stacked bars) with
the runs overlaid in one colour each, and writes report.md embedding them above a table of each run's final
numbers. Output goes to the first RUN_DIR/report/, or --out DIR.

Rows of one step are merged (evaluation may log `step` + `eval/*` rows of its own); null/NaN values are gaps;
keys no run logged are skipped (no empty plot) and listed in report.md.

`python -m rl.report --config NAME [dotted.key=value ...]` reports the run directory that `python -m rl.train`
with the same arguments writes (runs/<trainer.run_name>, or trainer.run_dir); `make train` calls it that way.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from config.errors import ConfigError
from rl.report_plots import draw_lines, draw_phase_bars

log = logging.getLogger("rl.report")

PHASES = [("time/rollout_and_reward_s", "generate + score"), ("time/batch_s", "batch"),
          ("time/old_logprob_s", "pi_old pass"), ("time/update_s", "learn"), ("time/sync_s", "weight sync")]
STEP_TIME = "time/step_s"
EVAL_ORDER = ["pass@1", "pass@k", "mean_response_len", "truncated_frac"]


class ReportError(Exception):
    """A run directory the report cannot read; the message names the path and the fix."""


@dataclass(frozen=True)
class Plot:
    """One PNG: a panel per key, from `keys` plus the keys matching `pattern` (documented as `pattern_doc`)."""
    name: str
    title: str
    keys: tuple[str, ...] = ()
    pattern: str = ""
    pattern_doc: str = ""


PLOTS = [
    Plot("reward", "Reward per domain", ("reward/mean",), r"reward/[^/]+/mean", "reward/<domain>/mean"),
    Plot("eval", "Held-out evaluation", (), r"eval/[^/]+/.+", "eval/<domain>/*"),
    Plot("mispo_keep", "MIS-PO keep fractions", ("mispo/token_keep_frac", "mispo/traj_keep_frac", "mispo/keep_frac")),
    Plot("kl_entropy", "KL to the reference and entropy", ("actor/kl_ref", "actor/entropy")),
    Plot("grad_norm", "Gradient norms (before clipping)", ("actor/grad_norm", "critic/grad_norm")),
    Plot("response_length", "Response length (tokens)",
         ("response/length_mean", "response/length_max", "response/truncated_frac")),
    Plot("staleness", "Policy staleness (versions)", ("policy/staleness_mean", "policy/staleness_token_mean")),
    Plot("verifier_errors", "Verifier errors and timeouts",
         ("reward/error_frac", "reward/timeout_frac", "faults/samples_errored"), r"reward/[^/]+/(error|timeout)_frac"),
]


@dataclass
class Run:
    name: str  # the run directory's name (legend label)
    path: Path
    rows: list[dict[str, float]]  # one per step, sorted by step; each has "step" and the step's merged metrics

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of the rows that have `key`; NaN where it was logged as null."""
        points = [(int(r["step"]), r[key]) for r in self.rows if key in r]
        return [s for s, _ in points], [v for _, v in points]

    def keys(self) -> set[str]:
        return {k for r in self.rows for k in r if k != "step"}


def load_rows(run_dir: Path) -> list[dict[str, float]]:
    """metrics.jsonl as one dict per step (rows sharing a step merged; a null never hides a value logged for the
    same key in another row of that step), sorted by step. Non-numeric values are ignored."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise ReportError(f"{path} not found: pass a run directory written by `python -m rl.train` "
                          "(runs/<trainer.run_name>, or trainer.run_dir)")
    by_step: dict[int, dict[str, float]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s:%d: not JSON, skipped (a run killed mid-write can leave a partial last line)", path, n)
            continue
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            log.warning("%s:%d: no integer `step`, skipped", path, n)
            continue
        merged = by_step.setdefault(row["step"], {})
        for key, value in row.items():
            number = _number(value)
            if key == "step" or number is None or (math.isnan(number) and key in merged):
                continue
            merged[key] = number
    if not by_step:
        raise ReportError(f"{path} holds no metric rows: the run has not finished a step yet")
    return [{"step": step, **by_step[step]} for step in sorted(by_step)]


def _number(value) -> float | None:
    if value is None:
        return float("nan")
    if isinstance(value, (int, float)):
        return float(value)
    return None


def load_runs(run_dirs: list[Path]) -> list[Run]:
    paths = [Path(d) for d in run_dirs]
    names = [p.resolve().name for p in paths]
    if len(set(names)) < len(names):  # e.g. a/seed0 and b/seed0: keep the parent in the label
        names = [f"{p.resolve().parent.name}/{p.resolve().name}" for p in paths]
    return [Run(name, p, load_rows(p)) for name, p in zip(names, paths)]


def plot_keys(plot: Plot, runs: list[Run]) -> list[str]:
    found = set().union(*(run.keys() for run in runs))
    matched = sorted(k for k in found if plot.pattern and re.fullmatch(plot.pattern, k) and k not in plot.keys)
    if plot.name == "eval":  # one row of panels per domain, metrics in a fixed order
        matched.sort(key=lambda k: (k.split("/")[1], _eval_rank(k.split("/", 2)[2])))
    return list(plot.keys) + matched


def _eval_rank(metric: str) -> tuple[int, str]:
    return (EVAL_ORDER.index(metric) if metric in EVAL_ORDER else len(EVAL_ORDER), metric)


def phase_keys(runs: list[Run]) -> list[tuple[str, str]]:
    """The five phases of docs/metrics.md, then any other `time/*_s` a run logged (e.g. an evaluation's time)."""
    known = {k for k, _ in PHASES} | {STEP_TIME}
    logged = set().union(*(r.keys() for r in runs))
    extra = sorted(k for k in logged if re.fullmatch(r"time/.+_s", k) and k not in known)
    return PHASES + [(k, k.removeprefix("time/").removesuffix("_s")) for k in extra]


def write_report(run_dirs: list[Path], out: Path | None = None, last_n: int = 5) -> dict[str, list[str]]:
    """Write the PNGs and report.md under `out` (default: the first run dir's report/). Returns
    {png file name: titles of its panels} for the plots written."""
    runs = load_runs(run_dirs)
    out = Path(out) if out is not None else Path(run_dirs[0]) / "report"
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, list[str]] = {}
    for plot in PLOTS:
        keys = plot_keys(plot, runs)
        ncols = len({k.split("/", 2)[2] for k in keys}) if plot.name == "eval" and keys else 3
        figures[f"{plot.name}.png"] = draw_lines(runs, keys, plot.title, out / f"{plot.name}.png", min(ncols, 4))
    phases = phase_keys(runs)
    figures["time_per_phase.png"] = draw_phase_bars(runs, phases, STEP_TIME, out / "time_per_phase.png")
    for name, panels in figures.items():
        if not panels:
            (out / name).unlink(missing_ok=True)  # a plot of an earlier report into this directory
    figures = {name: panels for name, panels in figures.items() if panels}
    (out / "report.md").write_text(render_markdown(runs, figures, phases, last_n))
    return figures


def render_markdown(runs: list[Run], figures: dict[str, list[str]], phases: list[tuple[str, str]],
                    last_n: int) -> str:
    lines = ["# Run report", ""]
    lines += [f"- `{r.name}`: {r.path} (steps {r.rows[0]['step']}-{r.rows[-1]['step']})" for r in runs]
    lines.append("")
    for plot in PLOTS:
        lines += _section(plot.title, f"{plot.name}.png", figures)
    lines += _section("Time per phase", "time_per_phase.png", figures)
    lines += ["## Final numbers", "",
              f"`last`: the last logged value (its step in brackets when that is not the run's last step); "
              f"`mean`: the mean of the last {last_n} logged values (nulls skipped); `-`: not logged by that run.", ""]
    lines += _table(runs, [k for plot in PLOTS for k in plot_keys(plot, runs)] + [STEP_TIME], last_n)
    lines += ["", "## Absent keys", ""] + (_absent(runs, phases) or ["None: every run logged every key above."])
    return "\n".join(lines) + "\n"


def _section(title: str, png: str, figures: dict[str, list[str]]) -> list[str]:
    if png in figures:
        return [f"## {title}", "", f"![{title}]({png})", ""]
    return [f"## {title}", "", "Not drawn: no run logged any of its keys (see Absent keys).", ""]


def _table(runs: list[Run], keys: list[str], last_n: int) -> list[str]:
    head = "| metric | " + " | ".join(f"{r.name} last | {r.name} mean" for r in runs) + " |"
    lines = [head, "|---" * (1 + 2 * len(runs)) + "|"]
    for key in keys:
        cells = [_final(run, key, last_n) for run in runs]
        if any(c != ("-", "-") for c in cells):
            lines.append(f"| `{key}` | " + " | ".join(f"{a} | {b}" for a, b in cells) + " |")
    return lines


def _final(run: Run, key: str, last_n: int) -> tuple[str, str]:
    steps, values = run.series(key)
    finite = [(s, v) for s, v in zip(steps, values) if math.isfinite(v)]
    if not finite:
        return ("-", "-") if not steps else ("null", "null")
    step, last = finite[-1]
    tail = [v for _, v in finite[-last_n:]]
    at = "" if step == run.rows[-1]["step"] else f" (step {step})"
    return f"{last:.4g}{at}", f"{sum(tail) / len(tail):.4g}"


def _absent(runs: list[Run], phases: list[tuple[str, str]]) -> list[str]:
    lines = []
    found = [run.keys() for run in runs]
    for plot in PLOTS:
        if plot.pattern_doc and not any(re.fullmatch(plot.pattern, k) for keys in found for k in keys):
            lines.append(f"- `{plot.pattern_doc}` ({plot.title.lower()}): in no run")
    for key in [k for plot in PLOTS for k in plot.keys] + [k for k, _ in phases]:
        missing = [run.name for run, keys in zip(runs, found) if key not in keys]
        if len(missing) == len(runs):
            lines.append(f"- `{key}`: in no run")
        elif missing:
            lines.append(f"- `{key}`: not in " + ", ".join(f"`{m}`" for m in missing))
    return lines


def _config_run_dir(config: str, overrides: list[str]) -> Path:
    from config.load import load_config
    from config.rl import RLConfig
    from rl.train import run_dir_of

    return run_dir_of(load_config(RLConfig, config, overrides))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rl.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="run directories (with --config: its overrides)")
    p.add_argument("--out", type=Path, help="output directory (default: the first RUN_DIR/report)")
    p.add_argument("--last", type=int, default=5, help="the final-numbers table averages the last N values (5)")
    p.add_argument("--config", help="report the run dir `python -m rl.train --config NAME [overrides]` writes")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.last < 1:
        p.error("--last must be at least 1")
    try:
        run_dirs = [_config_run_dir(args.config, args.run_dirs)] if args.config else [Path(d) for d in args.run_dirs]
        if not run_dirs:
            p.error("give at least one RUN_DIR (or --config NAME [overrides])")
        out = args.out or run_dirs[0] / "report"
        figures = write_report(run_dirs, out, args.last)
    except (ReportError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {out / 'report.md'} ({len(figures)} plots: {', '.join(figures)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
