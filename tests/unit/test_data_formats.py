"""Data as users have it: our jsonl, a plain {question, answer} jsonl, a verl-style parquet and a save_to_disk
directory, each written here and loaded through the real loader (rl/data.py) with the tiny model's tokenizer;
the field map, overlong prompts (dropped / truncated, counted), and the config errors of the data section."""
from __future__ import annotations

import json

import pytest

from config.errors import ConfigError
from config.load import load_config
from config.rl import DataConfig, RLConfig, validate_rl_config
from rl.data import load_prompt_file, load_prompts

LONG = "Some context sentence. " * 60 + "What is 6 * 7? Put the final answer in \\boxed{}."


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def verl_rows():
    """Rows as verl's examples/data_preprocess scripts write them."""
    def row(i, q, gt, source="openai/gsm8k"):
        return {"data_source": source, "ability": "math", "reward_model": {"style": "rule", "ground_truth": gt},
                "prompt": [{"role": "system", "content": "You are a careful solver."}, {"role": "user", "content": q}],
                "extra_info": {"split": "train", "index": i}}
    return [row(0, "What is 2 + 2?", "4"), row(1, "What is 3 * 5?", "15"), row(2, LONG, "42"),
            row(3, "Name a colour.", "red", source="other/poetry")]


@pytest.fixture
def verl_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(verl_rows()), path)
    return str(path)


VERL = dict(answer_key="reward_model.ground_truth", domain_key="data_source", domain_map={"openai/gsm8k": "math"})


def test_our_jsonl_layout_unchanged(tmp_path, tiny_tokenizer):
    rows = [{"id": "m1", "domain": "math", "prompt": "What is 1 + 1?", "reference": "2"},
            {"id": "c1", "domain": "code", "prompt": "Write add(a, b).",
             "io_pairs": {"fn": "add", "cases": [{"args": [1, 2], "expected": 3}]}}]
    cfg = DataConfig(train_files=[write_jsonl(tmp_path / "ours.jsonl", rows)], domain_weights={"math": 1, "code": 1})
    by_domain, report = load_prompts(cfg, tiny_tokenizer)
    math, code = by_domain["math"][0], by_domain["code"][0]
    assert math.reference == "2" and math.metadata == {"id": "m1", "io_pairs": None}
    assert math.prompt_text == tiny_tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 1 + 1?"}], add_generation_prompt=True, tokenize=False)
    assert math.prompt_ids == tiny_tokenizer(math.prompt_text, add_special_tokens=False).input_ids
    assert code.reference is None and code.metadata["io_pairs"]["fn"] == "add"
    assert report.kept == {"math": 1, "code": 1} and report.overlong_dropped == 0


def test_question_answer_jsonl_with_field_map(tmp_path, tiny_tokenizer):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "What is 2 + 3?", "answer": "5"},
                                               {"question": "What is 9 - 4?", "answer": "5"}])
    cfg = DataConfig(train_files=[{"path": path, "domain": "math", "prompt_key": "question", "answer_key": "answer"}],
                     domain_weights={"math": 1.0})
    by_domain, _ = load_prompts(cfg, tiny_tokenizer)
    assert [r.reference for r in by_domain["math"]] == ["5", "5"]
    assert "What is 9 - 4?" in by_domain["math"][1].prompt_text
    assert all(r.domain == "math" and r.metadata == {} for r in by_domain["math"])


def test_verl_parquet_drops_overlong_prompts(verl_parquet, tiny_tokenizer):
    cfg = DataConfig(train_files=[verl_parquet], domain_weights={"math": 1.0}, max_prompt_tokens=96, **VERL)
    by_domain, report = load_prompts(cfg, tiny_tokenizer)
    recs = by_domain["math"]
    assert [r.reference for r in recs] == ["4", "15"]
    assert recs[0].prompt_text == tiny_tokenizer.apply_chat_template(
        verl_rows()[0]["prompt"], add_generation_prompt=True, tokenize=False)
    assert "You are a careful solver." in recs[0].prompt_text  # the system message is kept
    assert recs[0].metadata["extra_info"] == {"split": "train", "index": 0}
    assert recs[0].metadata["reward_model"]["style"] == "rule"
    assert report.overlong_dropped == 1 and report.overlong_truncated == 0
    assert report.outside_domains == {"other/poetry": 1}
    summary = report.summary()
    assert "prompts over data.max_prompt_tokens=96: 1 dropped, 0 truncated" in summary
    assert f"{verl_parquet} row 2" in summary and "read 4 rows from 1 file(s)" in summary


def test_verl_parquet_truncates_overlong_prompts(verl_parquet, tiny_tokenizer):
    cfg = DataConfig(train_files=[verl_parquet], domain_weights={"math": 1.0}, max_prompt_tokens=96,
                     overlong_prompt="truncate", **VERL)
    by_domain, report = load_prompts(cfg, tiny_tokenizer)
    long = by_domain["math"][2]
    assert report.overlong_truncated == 1 and report.overlong_dropped == 0 and long.reference == "42"
    assert 80 < len(long.prompt_ids) <= 96
    assert long.prompt_ids == tiny_tokenizer(long.prompt_text, add_special_tokens=False).input_ids
    # the template, the system message and the end of the question stay; the start of the context goes
    assert "You are a careful solver." in long.prompt_text
    assert long.prompt_text.endswith("Put the final answer in \\boxed{}.<|im_end|>\n<|im_start|>assistant\n")
    assert long.prompt_text.count("Some context sentence.") < 60
    assert "0 dropped, 1 truncated" in report.summary()


def test_save_to_disk_directory_and_splits(tmp_path, tiny_tokenizer):
    from datasets import Dataset, DatasetDict

    one = tmp_path / "one"
    Dataset.from_list([{"problem": "What is 4 + 4?", "solution": "8", "meta": {"level": 1}}]).save_to_disk(str(one))
    splits = tmp_path / "splits"
    DatasetDict({"train": Dataset.from_list([{"problem": "What is 1 + 2?", "solution": "3"}]),
                 "test": Dataset.from_list([{"problem": "What is 5 + 2?", "solution": "7"}])}).save_to_disk(str(splits))
    cfg = DataConfig(train_files=[str(one), str(splits)], domain_weights={"math": 1.0}, prompt_key="problem",
                     answer_key="solution", default_domain="math")
    by_domain, report = load_prompts(cfg, tiny_tokenizer)
    assert [r.reference for r in by_domain["math"]] == ["8", "3"]  # the train split by default
    assert by_domain["math"][0].metadata == {"meta": {"level": 1}}
    # the same loader, one file with a fixed domain: what eval.files.<domain> uses
    test, own = load_prompt_file({"path": str(splits), "split": "test", "domain": "math"}, cfg, tiny_tokenizer,
                                 key="eval.files.math")
    assert [(r.domain, r.reference) for r in test] == [("math", "7")] and own.kept == {"math": 1}
    with pytest.raises(ConfigError, match=r"eval.files.math: .* holds splits \['train', 'test'\]"):
        load_prompt_file({"path": str(splits), "split": "dev"}, cfg, tiny_tokenizer, key="eval.files.math")


def test_wrong_field_map_names_file_row_and_keys(tmp_path, tiny_tokenizer):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "What is 2 + 3?", "answer": "5"}])
    cfg = DataConfig(train_files=[path], domain_weights={"math": 1.0}, default_domain="math")
    with pytest.raises(ConfigError) as exc:
        load_prompts(cfg, tiny_tokenizer)
    msg = str(exc.value)
    assert "data.train_files[0]" in msg and path in msg and "row 0" in msg and "['question', 'answer']" in msg
    assert "prompt_key" in msg


def test_unmapped_data_source_says_to_map_it(verl_parquet, tiny_tokenizer):
    cfg = DataConfig(train_files=[verl_parquet], domain_weights={"math": 1.0}, answer_key="reward_model.ground_truth",
                     domain_key="data_source")
    with pytest.raises(ConfigError, match=r"'openai/gsm8k': 3.*data.domain_map"):
        load_prompts(cfg, tiny_tokenizer)


def test_row_without_prompt_is_reported_with_file_row_and_keys(tmp_path, tiny_tokenizer):
    path = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "What is 1 + 1?", "domain": "math"},
                                              {"prompt": None, "text": "oops", "domain": "math"}])
    cfg = DataConfig(train_files=[path], domain_weights={"math": 1.0})
    _, report = load_prompts(cfg, tiny_tokenizer)
    assert report.skipped == {"missing or empty 'prompt'": 1}
    assert f"{path} row 1, keys ['prompt', 'domain', 'text']" in report.summary()


def load(tmp_path, data_yaml: str, rewards: str = "math: {verifier: math}"):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model:\n  path: mispo-tiny\ndata:\n{data_yaml}\nrewards:\n  domains:\n    {rewards}\n"
                   "algo:\n  advantage: grpo\ntrainer:\n  total_steps: 1\n")
    return load_config(RLConfig, str(cfg), [], validate_rl_config)


def test_yaml_forms_of_train_files(tmp_path):
    cfg = load(tmp_path, "  train_files:\n    - data/math_train.jsonl\n"
                         "    - {path: gsm8k.parquet, answer_key: reward_model.ground_truth, domain_key: data_source}\n"
                         "    - {path: qa.jsonl, domain: math, prompt_key: question, answer_key: answer}\n"
                         "  domain_map: {openai/gsm8k: math}\n  domain_weights: {math: 1.0}")
    assert cfg.data.train_files[0] == "data/math_train.jsonl" and cfg.data.train_files[2]["domain"] == "math"
    assert cfg.data.domain_map == {"openai/gsm8k": "math"}
    override = load_config(RLConfig, "mispo_math_code.yaml",
                           ["data.train_files=[data/math_train.jsonl,{path: x.parquet, domain: math}]"],
                           validate_rl_config)
    assert override.data.train_files[1] == {"path": "x.parquet", "domain": "math"}


@pytest.mark.parametrize("data_yaml, expected", [
    ("  train_files: [{path: a.jsonl, prompt_field: q}]\n  domain_weights: {math: 1.0}",
     r"data.train_files\[0\]: unknown key\(s\) \['prompt_field'\]; allowed keys of a file entry: \['path', 'domain'"),
    ("  train_files: [{domain: math}]\n  domain_weights: {math: 1.0}", r"data.train_files\[0\]: path is required"),
    ("  train_files: [{path: a.jsonl, domain: math, domain_key: data_source}]\n  domain_weights: {math: 1.0}",
     r"data.train_files\[0\]: give either domain .* or domain_key"),
    ("  train_files: [a.jsonl, {path: b.jsonl, domain: code}]\n  domain_weights: {math: 1.0}",
     r"data.train_files\[1\].domain: 'code' is not in data.domain_weights.*add data.domain_weights.code: 1.0"),
    ("  train_files: [a.parquet]\n  domain_weights: {math: 1.0}\n  domain_map: {openai/gsm8k: gsm8k}",
     r"data.domain_map\['openai/gsm8k'\]: no verifier configured for domain 'gsm8k'; add "
     r"rewards.domains.gsm8k.verifier"),
    ("  train_files: [a.jsonl]\n  domain_weights: {math: 1.0, code: 1.0}",
     r"data.domain_weights.code: no verifier configured .* add rewards.domains.code.verifier"),
    ("  train_files: [a.jsonl]\n  domain_weights: {math: 1.0}\n  overlong_prompt: cut",
     r"data.overlong_prompt: expected drop or truncate, got 'cut'"),
], ids=["unknown_entry_key", "no_path", "domain_and_domain_key", "file_domain_outside_mix", "map_to_unverified",
        "weight_without_verifier", "bad_overlong_mode"])
def test_data_config_errors(tmp_path, data_yaml, expected):
    with pytest.raises(ConfigError, match=expected) as exc:
        load(tmp_path, data_yaml)
    assert "\n" not in str(exc.value)
