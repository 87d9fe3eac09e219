"""HTTP judge: an OpenAI-compatible /v1/completions endpoint (for example a vLLM server) asked for one token
with top logprobs. Labels missing from the returned top-k get the smallest returned logprob minus one nat."""
from __future__ import annotations

import json
import os
import urllib.request

from rewards.preference_judges.base import Judge


class OpenAIJudge(Judge):
    def __init__(self, base_url: str, model: str, top_logprobs: int = 20, timeout_s: float = 30.0,
                 api_key_env: str = "OPENAI_API_KEY") -> None:
        self.url = base_url.rstrip("/") + "/completions"
        self.model, self.top_logprobs, self.timeout_s = model, top_logprobs, timeout_s
        self.api_key = os.environ.get(api_key_env, "")  # read from the environment; never logged

    def label_logprobs(self, prompt: str, labels: tuple[str, str]) -> tuple[float, float]:
        body = {"model": self.model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0,
                "logprobs": self.top_logprobs}
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})})
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            data = json.loads(resp.read())
        top = data["choices"][0]["logprobs"]["top_logprobs"][0]  # {token: logprob}
        top = {k.strip(): v for k, v in top.items()}
        floor = min(top.values()) - 1.0 if top else -50.0
        return top.get(labels[0].strip(), floor), top.get(labels[1].strip(), floor)
