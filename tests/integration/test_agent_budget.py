"""Each agent episode gets its own turn budget: one episode's nearly used-up total must not cut (and mark truncated,
which triggers the value bootstrap) the turns of the others generated in the same engine call."""
from __future__ import annotations

import pytest

from config.rollout import AgentConfig
from rollout.agent_loop import ObservationTemplate, run_episodes
from rollout.hf_engine import HFEngine
from rollout.tools import ToolCall, XMLToolParser
from rollout.types import EnvOutcome, RolloutRequest, SamplingParams

TIGHT = 3  # the tight episode's remaining budget
MAX_TURN = 40


class FixedObservationEnv:
    """A real, sandbox-free Environment: `reset` returns a fixed first observation (or none), tools echo, and
    `finish` scores 0."""

    def __init__(self, first_observation: str | None) -> None:
        self.first_observation = first_observation

    def reset(self, request: RolloutRequest) -> str | None:
        return self.first_observation

    def step(self, call: ToolCall) -> tuple[str, bool]:
        return f"<output>\n{call.body}\n</output>", False

    def finish(self, final_text: str) -> EnvOutcome:
        return EnvOutcome(0.0, "ok", {"final_text": final_text})

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def engine(tiny_model_path) -> HFEngine:
    return HFEngine(tiny_model_path, threads=2)


def test_episodes_keep_their_own_turn_budgets(engine, tiny_tokenizer):
    tok = tiny_tokenizer
    template = ObservationTemplate(tok)
    text = tok.apply_chat_template([{"role": "user", "content": "What is 1 + 1?"}], tokenize=False,
                                   add_generation_prompt=True)
    request = RolloutRequest(0, "agent", text, tok.encode(text, add_special_tokens=False))
    long_obs = "Working directory listing: " + " ".join(f"file{i}.txt" for i in range(40))
    obs_len = len(template.encode(long_obs, 10_000))
    limits = AgentConfig(max_turns=1, max_turn_tokens=MAX_TURN, max_total_tokens=obs_len + TIGHT,
                         observation_tokens=10_000)
    too_long = long_obs + " and more files: " + " ".join(f"extra{i}.txt" for i in range(10))
    assert limits.max_total_tokens > MAX_TURN and len(template.encode(too_long, 10_000)) > limits.max_total_tokens
    episodes = [(request, FixedObservationEnv(None)),  # roomy: a full MAX_TURN-token turn
                (request, FixedObservationEnv(long_obs)),  # tight: TIGHT tokens left in its total
                (request, FixedObservationEnv(too_long))]  # exhausted: its first observation used up the total
    roomy, tight, exhausted = run_episodes(engine, template, XMLToolParser(("bash",)), episodes,
                                           SamplingParams(temperature=1.0, seed=0), limits)

    assert TIGHT < sum(roomy.loss_mask) <= MAX_TURN, roomy.response_text
    assert not roomy.truncated and roomy.response_ids[-1] == tok.eos_token_id
    assert tight.truncated and sum(tight.loss_mask) == TIGHT and len(tight.response_ids) == limits.max_total_tokens
    assert len(tight.rollout_logprobs) == len(tight.response_ids) == len(tight.loss_mask)
    assert tight.version_spans == [(obs_len, obs_len + TIGHT, engine.version)]
    assert exhausted.truncated and sum(exhausted.loss_mask) == 0 and exhausted.turns == 0
