"""The multi-turn agent loop for real: the tiny agent model (HF engine) acting in Docker terminal tasks, token in /
token out, and a 2-step RL run on configs/mispo_terminal.yaml."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def agent_model(terminal_image) -> str:
    from rl.model_source import resolve_model_path

    return resolve_model_path("mispo-tiny-agent")


def _requests(tokenizer, n_tasks: int):
    from rollout.types import RolloutRequest

    rows = [json.loads(line) for line in (ROOT / "data/terminal_train.jsonl").read_text().splitlines()][:n_tasks]
    out = []
    for i, row in enumerate(rows):
        text = tokenizer.apply_chat_template([{"role": "user", "content": row["prompt"]}], tokenize=False,
                                             add_generation_prompt=True)
        out.append(RolloutRequest(i, "terminal", text, tokenizer.encode(text, add_special_tokens=False),
                                  metadata={"task_dir": str(ROOT / row["task_dir"])}))
    return out


def test_episodes_are_token_in_token_out(agent_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from config.rollout import AgentConfig
    from rollout.agent_loop import ObservationTemplate, run_episodes
    from rollout.envs.terminal import TerminalEpisodeEnv
    from rollout.hf_engine import HFEngine
    from rollout.tools import XMLToolParser
    from rollout.types import SamplingParams

    tok = AutoTokenizer.from_pretrained(agent_model)
    engine = HFEngine(agent_model, dtype="float32", threads=2, batch_size=16)
    envs = [TerminalEpisodeEnv() for _ in range(6)]
    try:
        reqs = _requests(tok, 3)
        episodes = [(r, envs[i * 2 + k]) for i, r in enumerate(reqs) for k in range(2)]
        trajs = run_episodes(engine, ObservationTemplate(tok), XMLToolParser(("bash",)), episodes,
                             SamplingParams(n=1, temperature=1.0, seed=0), AgentConfig(max_turns=4, max_turn_tokens=48,
                                                                                      max_total_tokens=320))
    finally:
        for e in envs:
            e.close()
    assert len(trajs) == 6
    multi = [t for t in trajs if t.turns >= 2]
    assert multi, "the tiny agent always calls a tool first, so some episodes must take several turns"
    model = AutoModelForCausalLM.from_pretrained(agent_model, dtype=torch.float32).eval()
    worst = 0.0
    for t in trajs:
        res = t.env_result
        assert res.status == "ok" and res.score in (0.0, 1.0), res
        assert len(t.response_ids) == len(t.rollout_logprobs) == len(t.loss_mask)
        if t.turns >= 2:
            assert 0 in t.loss_mask and "<output>" in tok.decode(t.response_ids)
        ids = torch.tensor([t.prompt_ids + t.response_ids])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)
        lp = logp[len(t.prompt_ids) - 1:].gather(-1, ids[0, len(t.prompt_ids):, None])[:, 0]
        for j, m in enumerate(t.loss_mask):
            if m:
                worst = max(worst, abs(lp[j].item() - t.rollout_logprobs[j]))
            else:
                assert t.rollout_logprobs[j] == 0.0
    print(f"agent loop logprob agreement on policy tokens: max abs diff {worst:.2e}; "
          f"turns {[t.turns for t in trajs]}, rewards {[t.env_result.score for t in trajs]}")
    assert worst < 1e-3


@pytest.mark.ray
def test_two_step_multi_turn_terminal_training(tmp_path, agent_model, ray_session):
    from rl.train import main

    run_dir = tmp_path / "run"
    rc = main(["--config", "mispo_terminal.yaml", "trainer.total_steps=2", f"trainer.run_dir={run_dir}",
               "rollout.prompts_per_step=2", "algo.advantage=grpo",  # the episodes are the subject, not the critic
               "logging.progress_bar=false", "logging.wandb.mode=disabled"])
    assert rc == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all("reward/terminal/mean" in r for r in rows)
    assert all(r["reward/error_frac"] == 0.0 for r in rows)
    assert all(r["agent/turns_mean"] >= 1.0 for r in rows) and any(r["agent/multi_turn_frac"] > 0 for r in rows)
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert any("<output>" in s["response"] for s in samples), "no multi-turn episode in the samples"
    assert (run_dir / "checkpoints" / "final" / "config.json").is_file()


def test_python_tool_environment(python_image):
    from rollout.envs.python_tool import PythonToolEnv
    from rollout.tools import ToolCall
    from rollout.types import RolloutRequest

    env = PythonToolEnv()
    try:
        spec = {"fn": "add", "cases": [{"args": [2, 3], "expected": 5}, {"args": [1, 1], "expected": 2}]}
        env.reset(RolloutRequest(0, "code_tool", "Write add(a, b).", [1], metadata={"io_pairs": spec}))
        obs, done = env.step(ToolCall("python", "print(2 + 3)"))
        assert "5" in obs and "[exit code 0]" in obs and not done
        obs, _ = env.step(ToolCall("python", "while True: pass"))
        assert "timed out" in obs
        res = env.finish("Final:\n```python\ndef add(a, b):\n    return a + b\n```")
        assert (res.score, res.status, res.details) == (1.0, "ok", {"passed": 2, "total": 2, "all_passed": True})
        env.reset(RolloutRequest(1, "code_tool", "Write add(a, b).", [1], metadata={"io_pairs": spec}))
        assert env.finish("no code here").score == 0.0
    finally:
        env.close()
