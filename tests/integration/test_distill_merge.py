"""A small end-to-end merge on CPU: experts built by the SFT trainer, routed generation through the HF engine,
rejection by the real verifiers, student SFT, held-out evaluation, and the report in its documented shape."""
from __future__ import annotations

import json

import pytest

from distill.filters import REASONS
from distill.merge import main


def tiny_budget(tmp_path, domains: list[str]) -> list[str]:
    args = [f"run.dir={tmp_path / 'merge'}", "logging.progress_bar=false", "prompts.max_per_domain=16",
            "eval.max_prompts_per_domain=12", "generate.samples_per_prompt=2", "student.max_steps=4",
            "verifiers.processes=1"]
    for name in ("math_expert", "code_expert"):
        args.append(f"experts.{name}.sft_overrides=[trainer.run_dir={tmp_path / name},trainer.max_steps=6,"
                    "logging.progress_bar=false]")
    return args + [f"domains.{d}.enabled=false" for d in ("math", "code") if d not in domains]


def check_report(run_dir, domains: list[str], experts: list[str]) -> dict:
    report = json.loads((run_dir / "merge_report.json").read_text())
    assert set(report) == {"domains", "samples"} and list(report["domains"]) == domains
    for d in domains:
        row = report["domains"][d]
        assert set(row) == {"base", "experts", "student", "weight_average"} and list(row["experts"]) == experts
        assert all(v is None or 0 <= v <= 1 for v in [row["base"], row["student"], *row["experts"].values()])
    s = report["samples"]
    assert set(s["rejected"]) == set(REASONS) and s["generated"] == s["kept"] + sum(s["rejected"].values())
    assert s["kept"] == len((run_dir / "kept.jsonl").read_text().splitlines()) > 0
    assert "| domain | base |" in (run_dir / "merge_report.md").read_text()
    return report


def test_math_only_merge_end_to_end_and_expert_reuse(tmp_path, tiny_model_path, caplog):
    args = ["--config", "distill_merge.yaml", *tiny_budget(tmp_path, ["math"])]
    assert main([*args, "on_policy.steps=2", "on_policy.prompts_per_step=4", "student.topk_logits.topk=4"]) == 0
    report = check_report(tmp_path / "merge", ["math"], ["math_expert"])
    assert report["samples"]["generated"] == 16 * 2
    assert report["domains"]["math"]["weight_average"] is None  # one expert: no average to build
    assert (tmp_path / "math_expert" / "checkpoints" / "final" / "config.json").is_file()
    assert not (tmp_path / "code_expert").exists()  # the disabled domain's expert is not built
    details = json.loads((tmp_path / "merge" / "merge_details.json").read_text())
    assert details["prompts_per_teacher"] == {"math_expert": 16} and details["unrouted_prompts"] == {"code": 16}
    # on-policy distillation refined the SFT student: both are evaluated, the refined one is the report's student
    assert set(details["eval"]) == {"base", "math_expert", "student", "student_sft"}
    op = [json.loads(line) for line in (tmp_path / "merge" / "on_policy" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in op] == [1, 2] and all(r["onpolicy/reverse_kl/math"] is not None for r in op)
    student_rows = (tmp_path / "merge" / "student" / "metrics.jsonl").read_text().splitlines()
    assert "train/kd" in json.loads(student_rows[-1])  # token-level distillation on the teacher's top-k
    caplog.clear()
    with caplog.at_level("INFO", logger="distill.experts"):
        assert main(args) == 0
    assert any("reusing" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
@pytest.mark.docker
def test_math_and_code_merge_with_the_docker_code_verifier(tmp_path, tiny_model_path):
    assert main(["--config", "distill_merge.yaml", *tiny_budget(tmp_path, ["math", "code"])]) == 0
    report = check_report(tmp_path / "merge", ["math", "code"], ["math_expert", "code_expert"])
    assert all(report["domains"][d]["weight_average"] is not None for d in ("math", "code"))
    assert report["samples"]["rejected"]["verifier_error"] == 0
