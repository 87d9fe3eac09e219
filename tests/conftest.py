"""Shared fixtures. The tiny model is built once into $MISPO_CACHE (make prepare does it before pytest)."""
from __future__ import annotations

import pytest

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_model_path() -> str:
    from rl.tiny_model.build import resolve_model_path

    return resolve_model_path("mispo-tiny")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_path)
