"""The tiny base model builder is deterministic and produces a standard HF model + chat tokenizer."""
from __future__ import annotations

import json

import torch

from rl.model_source import resolve_model_path
from rl.tiny_model.build import TINY_NAME, TinyRecipe, build
from rl.tiny_model.tasks import MathTask, all_math_tasks, split_math_tasks


def test_build_is_deterministic(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    recipe = TinyRecipe(steps=3, batch_size=8, layers=1, hidden_size=32, heads=2, kv_heads=1,
                        intermediate_size=64, vocab_size=300)
    a, b = build(tmp_path / "a", recipe), build(tmp_path / "b", recipe)
    ma, mb = AutoModelForCausalLM.from_pretrained(a), AutoModelForCausalLM.from_pretrained(b)
    for (na, pa), (nb, pb) in zip(ma.state_dict().items(), mb.state_dict().items()):
        assert na == nb and torch.equal(pa, pb), na
    tok = AutoTokenizer.from_pretrained(a)
    text = tok.apply_chat_template([{"role": "user", "content": "What is 12 + 7?"}], add_generation_prompt=True,
                                   tokenize=False)
    assert text.endswith("<|im_start|>assistant\n")
    ids = tok(text, add_special_tokens=False).input_ids
    assert tok.decode(ids) == text  # byte-level round trip
    assert json.loads((a / "mispo_tiny.json").read_text())["recipe"]["steps"] == 3


def test_resolve_model_path_passes_real_paths_through(tmp_path):
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)
    assert TINY_NAME == "mispo-tiny"


def test_tasks_split_and_answers():
    train, test = split_math_tasks()
    assert len(train) + len(test) == len(all_math_tasks()) and not set(train) & set(test)
    t = MathTask(7, "*", 6)
    assert t.answer == 42 and "\\boxed{42}" in t.response(42) and "\\boxed" not in t.response(42, boxed=False)


def test_model_source_names_every_builtin_tiny_model():
    from rl.model_source import BUILTIN_MODELS
    from rl.tiny_model.build import MODELS

    assert set(BUILTIN_MODELS) == set(MODELS)


def test_shipped_builds_are_of_the_current_recipes_and_install_into_a_fresh_cache(tmp_path, monkeypatch):
    """A fresh machine copies the shipped builds instead of training (make models); a recipe change without a
    re-shipped build would silently fall back to minutes of training, so it fails here instead."""
    from transformers import AutoModelForCausalLM

    from rl.tiny_model.build import MODELS, ensure_built, shipped_copy, shipped_dir

    monkeypatch.setenv("MISPO_CACHE", str(tmp_path))
    for name in MODELS:
        assert shipped_copy(name) is not None, f"{shipped_dir(name)} is missing or of an older recipe: rebuild it " \
            f"with `python -m rl.tiny_model.build --name {name} --from-scratch --out {shipped_dir(name)} --force`"
        path = ensure_built(name)
        assert path.startswith(str(tmp_path))
        shipped = AutoModelForCausalLM.from_pretrained(shipped_dir(name)).state_dict()
        installed = AutoModelForCausalLM.from_pretrained(path).state_dict()
        assert all(torch.equal(shipped[k], installed[k]) for k in shipped)
