"""The merge report: merge_report.json (fixed shape), merge_report.md (tables), merge_details.json (the rest).

merge_report.json:
  {"domains": {"<domain>": {"base": x, "experts": {"<expert>": x}, "student": x, "weight_average": x}},
   "samples": {"generated": n, "kept": n, "rejected": {"<reason>": n}}}
Scores are held-out mean verifier scores; null where nothing could be judged (or no weight average was built).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from distill.evaluate import DomainScore
from distill.filters import REASONS, FilterOutcome


def _score(scores: dict[str, dict[str, DomainScore]], model: str, domain: str) -> float | None:
    s = scores.get(model, {}).get(domain)
    return None if s is None or s.score is None else round(s.score, 4)


def build_report(domains: list[str], experts: list[str], scores: dict[str, dict[str, DomainScore]],
                 outcome: FilterOutcome) -> dict[str, Any]:
    """`scores`: model ("base", an expert name, "student", "weight_average") -> domain -> DomainScore."""
    return {
        "domains": {d: {"base": _score(scores, "base", d),
                        "experts": {e: _score(scores, e, d) for e in experts},
                        "student": _score(scores, "student", d),
                        "weight_average": _score(scores, "weight_average", d)} for d in domains},
        "samples": {"generated": outcome.generated, "kept": len(outcome.kept),
                    "rejected": {r: outcome.rejected.get(r, 0) for r in REASONS}},
    }


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def markdown(report: dict[str, Any], details: dict[str, Any]) -> str:
    """Per-domain score table (teacher marked with *), then sample accounting per domain."""
    experts = list(next(iter(report["domains"].values()))["experts"])
    teachers = details.get("teachers", {})
    lines = ["# Merge report", "", "Held-out score per domain (mean verifier score; * = the domain's teacher).", "",
             "| domain | base | " + " | ".join(experts) + " | weight average | student |",
             "|---|---|" + "---|" * len(experts) + "---|---|"]
    for d, row in report["domains"].items():
        cells = [_fmt(row["experts"][e]) + ("*" if teachers.get(d) == e else "") for e in experts]
        lines.append(f"| {d} | {_fmt(row['base'])} | " + " | ".join(cells)
                     + f" | {_fmt(row['weight_average'])} | {_fmt(row['student'])} |")
    s = report["samples"]
    lines += ["", f"Samples: {s['generated']} generated, {s['kept']} kept.", "",
              "| domain | generated | kept | " + " | ".join(REASONS) + " |",
              "|---|---|---|" + "---|" * len(REASONS)]
    for d, counts in details.get("samples_per_domain", {}).items():
        lines.append(f"| {d} | {counts.get('generated', 0)} | {counts.get('kept', 0)} | "
                     + " | ".join(str(counts.get(r, 0)) for r in REASONS) + " |")
    lines.append(f"| all | {s['generated']} | {s['kept']} | "
                 + " | ".join(str(s['rejected'][r]) for r in REASONS) + " |")
    if details.get("seconds"):
        lines += ["", "Time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in details["seconds"].items())]
    return "\n".join(lines) + "\n"


def write_report(run_dir: Path, report: dict[str, Any], details: dict[str, Any]) -> Path:
    path = run_dir / "merge_report.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    (run_dir / "merge_report.md").write_text(markdown(report, details))
    (run_dir / "merge_details.json").write_text(json.dumps(details, indent=2, default=str) + "\n")
    return path
