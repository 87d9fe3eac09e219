"""The merge report has exactly the documented shape; the markdown table and the weight-average baseline."""
from __future__ import annotations

import json

import pytest
import torch

from distill.evaluate import DomainScore
from distill.filters import REASONS, FilterOutcome
from distill.generate import PromptRow, Sample
from distill.report import build_report, write_report
from distill.weight_average import average_state_dicts


def test_report_shape_and_markdown(tmp_path):
    scores = {m: {"math": DomainScore(v, 10, 0), "code": DomainScore(v / 2, 4, 1)}
              for m, v in [("base", 0.1), ("m_exp", 0.8), ("c_exp", 0.2), ("student", 0.7), ("weight_average", 0.3)]}
    scores["base"]["code"] = DomainScore(None, 4, 4)  # nothing could be judged
    outcome = FilterOutcome()
    outcome.kept.append(Sample(PromptRow("1", "math", "p", "r"), "m_exp", "ok", 3, False))
    outcome.rejected.update({"low_score": 2, "duplicate": 1})
    report = build_report(["math", "code"], ["m_exp", "c_exp"], scores, outcome)
    assert report == {
        "domains": {
            "math": {"base": 0.1, "experts": {"m_exp": 0.8, "c_exp": 0.2}, "student": 0.7, "weight_average": 0.3},
            "code": {"base": None, "experts": {"m_exp": 0.4, "c_exp": 0.1}, "student": 0.35, "weight_average": 0.15},
        },
        "samples": {"generated": 4, "kept": 1, "rejected": {r: {"low_score": 2, "duplicate": 1}.get(r, 0)
                                                             for r in REASONS}},
    }
    write_report(tmp_path, report, {"teachers": {"math": "m_exp", "code": "c_exp"},
                                    "samples_per_domain": {"math": {"generated": 4, "kept": 1}}})
    assert json.loads((tmp_path / "merge_report.json").read_text()) == report
    md = (tmp_path / "merge_report.md").read_text()
    assert "| math | 0.100 | 0.800* | 0.200 | 0.300 | 0.700 |" in md
    assert "| code | - | 0.400 | 0.100* | 0.150 | 0.350 |" in md


def test_weight_average_is_the_parameter_mean():
    a = {"w": torch.tensor([1.0, 2.0]), "step": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "step": torch.tensor(5)}
    avg = average_state_dicts([a, b])
    assert torch.equal(avg["w"], torch.tensor([2.0, 4.0])) and avg["step"].item() == 3
    with pytest.raises(ValueError, match="shape"):
        average_state_dicts([a, {"w": torch.zeros(3), "step": torch.tensor(1)}])
    with pytest.raises(ValueError, match="different parameters"):
        average_state_dicts([a, {"w": torch.zeros(2)}])
