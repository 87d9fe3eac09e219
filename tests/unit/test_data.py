"""Dataset validation: bad rows are counted, reported with the first example, and skipped."""
from __future__ import annotations

import json
import logging

import pytest

from config.errors import ConfigError
from config.rl import DataConfig
from rl.data import PromptSampler, domain_counts, load_prompts


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_bad_rows_reported_and_skipped(tmp_path, tiny_tokenizer, caplog):
    rows = [
        {"prompt": "What is 1 + 1?", "reference": "2", "domain": "math"},
        {"reference": "3", "domain": "math"},  # no prompt
        {"prompt": "", "reference": "3", "domain": "math"},  # empty prompt
        {"prompt": "What is 2 + 2?", "reference": "4"},  # no domain
        {"prompt": "What is 2 + 3?", "reference": "5", "domain": "poetry"},  # domain not in the mix
    ]
    cfg = DataConfig(train_files=[write_jsonl(tmp_path / "d.jsonl", rows)], domain_weights={"math": 1.0})
    with caplog.at_level(logging.WARNING):
        by_domain, report = load_prompts(cfg, tiny_tokenizer)
    assert len(by_domain["math"]) == 1 and by_domain["math"][0].reference == "2"
    assert report.skipped["missing or empty 'prompt'"] == 2
    assert report.skipped["no 'domain' field and no data.default_domain"] == 1
    assert sum(report.skipped.values()) == 4
    assert "skipped 2 rows" in caplog.text and "What is 2 + 2?" in caplog.text  # count + first example
    rec = by_domain["math"][0]
    assert rec.prompt_text.startswith("<|im_start|>user") and rec.prompt_ids


def test_default_domain_fills_missing_field(tmp_path, tiny_tokenizer):
    cfg = DataConfig(train_files=[write_jsonl(tmp_path / "d.jsonl", [{"prompt": "hi", "reference": "1"}])],
                     domain_weights={"math": 1.0}, default_domain="math")
    by_domain, _ = load_prompts(cfg, tiny_tokenizer)
    assert len(by_domain["math"]) == 1


def test_domain_in_mix_without_rows_is_config_error(tmp_path, tiny_tokenizer):
    cfg = DataConfig(train_files=[write_jsonl(tmp_path / "d.jsonl", [{"prompt": "a", "domain": "math"}])],
                     domain_weights={"math": 1.0, "code": 1.0})
    with pytest.raises(ConfigError, match=r"data.domain_weights: domain\(s\) \['code'\]"):
        load_prompts(cfg, tiny_tokenizer)


def test_missing_file_is_config_error(tiny_tokenizer):
    cfg = DataConfig(train_files=["nope.jsonl"], domain_weights={"math": 1.0})
    with pytest.raises(ConfigError, match="data.train_files"):
        load_prompts(cfg, tiny_tokenizer)


def test_domain_counts_and_sampler_cycle():
    assert domain_counts({"a": 1.0, "b": 1.0}, 5) in ({"a": 3, "b": 2}, {"a": 2, "b": 3})
    assert domain_counts({"a": 3.0, "b": 1.0}, 8) == {"a": 6, "b": 2}
    recs = {"a": list(range(3)), "b": list(range(10, 14))}
    sampler = PromptSampler(recs, {"a": 1.0, "b": 1.0}, seed=0)
    first = sampler.sample(6)
    assert sorted(x for x in first if x < 10) == [0, 1, 2]  # one full pass over domain a before repeating
