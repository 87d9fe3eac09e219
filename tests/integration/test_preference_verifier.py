"""Preference reward with the tiny model as judge: locally (transformers) and over an OpenAI-compatible HTTP
endpoint that serves the same model (a real model behind a real socket)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import torch

from rewards.base import VerifyRequest
from rewards.registry import setup_verifier

PROMPT = "What is 2 + 3?"
GOOD, BAD = "2 + 3 = 5. The answer is \\boxed{5}.", "I do not know."


# the tiny tokenizer splits " A" into two tokens, so the labels are the bare letters after a newline
TINY = {"labels": ["A", "B"], "template": "Question: {prompt}\nA: {first}\nB: {second}\nBetter:\n"}


@pytest.fixture(scope="module")
def local(tiny_model_path):
    return setup_verifier("preference", {"judge": "hf", "judge_options": {"model_path": tiny_model_path}, **TINY})


def test_bradley_terry_symmetry_and_range(local):
    p_xy, d = local.win_probability(PROMPT, GOOD, BAD)
    p_yx, _ = local.win_probability(PROMPT, BAD, GOOD)
    assert 0.0 < p_xy < 1.0 and p_xy + p_yx == pytest.approx(1.0, abs=1e-9)
    assert local.win_probability(PROMPT, GOOD, GOOD)[0] == pytest.approx(0.5, abs=1e-9)
    assert set(d) == {"p_response_first", "p_response_second"}


def test_verify_uses_reference_response_and_length_penalty(local, tiny_model_path):
    req = VerifyRequest(PROMPT, GOOD * 3, metadata={"reference_response": GOOD})
    plain = local.verify(req)
    assert plain.ok and 0.0 <= plain.score <= 1.0 and plain.details["length_penalty"] == 0.0
    penalised = setup_verifier("preference", {"judge": "hf", "judge_options": {"model_path": tiny_model_path},
                                              "length_penalty": 0.1, **TINY}).verify(req)
    assert penalised.details["length_penalty"] == pytest.approx(0.2)
    assert penalised.score == pytest.approx(max(0.0, plain.score - 0.2))
    missing = local.verify(VerifyRequest(PROMPT, GOOD))
    assert missing.status == "error" and "reference_response" in missing.details["reason"]


def test_bad_options_fail_with_the_option_name(tiny_model_path):
    with pytest.raises(ValueError, match="labels"):
        setup_verifier("preference", {"judge_options": {"model_path": tiny_model_path}, "labels": ["A", "A"]})
    with pytest.raises(ValueError, match="judge"):
        setup_verifier("preference", {"judge": "nope"})
    two_token = setup_verifier("preference", {"judge_options": {"model_path": tiny_model_path}})  # default " A"
    with pytest.raises(ValueError, match="single-token"):
        two_token.win_probability(PROMPT, GOOD, BAD)


def _serve(model_path: str) -> tuple[HTTPServer, str]:
    """A minimal OpenAI-compatible /v1/completions server: top logprobs of the next token from the tiny model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path).eval()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            ids = tok(body["prompt"], return_tensors="pt", add_special_tokens=False).input_ids
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=ids).logits[0, -1].float(), -1)
            top = torch.topk(logp, body["logprobs"])
            table = {tok.decode([int(i)]): float(v) for v, i in zip(top.values, top.indices)}
            out = {"choices": [{"text": "", "logprobs": {"top_logprobs": [table]}}]}
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def test_http_judge_matches_local_judge(local, tiny_model_path):
    server, url = _serve(tiny_model_path)
    try:
        remote = setup_verifier("preference", {"judge": "openai", "judge_options": {
            "base_url": url, "model": "mispo-tiny", "top_logprobs": 400}, **TINY})
        p_remote, _ = remote.win_probability(PROMPT, GOOD, BAD)
        p_local, _ = local.win_probability(PROMPT, GOOD, BAD)
        assert p_remote == pytest.approx(p_local, abs=1e-5)
    finally:
        server.shutdown()
