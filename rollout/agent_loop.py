"""The multi-turn agent loop, token in / token out.

Each episode keeps one growing list of token ids. A policy turn is generated from those ids and appended as
sampled (loss mask 1, rollout logprobs); the turn's tool call is run in the episode's environment and the
observation is rendered with the chat template, tokenized ONCE and appended (loss mask 0). Earlier turns are
never re-tokenized, so the learner sees exactly the tokens the engine sampled. Episodes advance in lockstep:
every active episode's next turn is generated in one engine call that asks for the largest remaining budget, and
each episode's turn is then cut at its OWN budget (min(max_turn_tokens, max_total_tokens - tokens so far)); a
prefix of a sample is a sample of that prefix, so the cut tokens' logprobs stay exact. Only an episode that hit its
own limit is truncated; one with no budget left ends (truncated) without another turn. Each turn's tokens are
tagged with the policy version that generated them (`Trajectory.version_spans`): with partial rollouts a weight
update can land between turns.
"""
from __future__ import annotations

import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from config.rollout import AgentConfig
from rollout.base import Engine
from rollout.envs import Environment
from rollout.tools import ToolParser
from rollout.types import Completion, EnvOutcome, RolloutRequest, SamplingParams, Trajectory, add_span

Generate = Callable[[list[list[int]], SamplingParams], tuple[list[list[Completion]], int]]

log = logging.getLogger(__name__)
PLACEHOLDER = "\x00OBSERVATION\x00"


class ObservationTemplate:
    """Renders an observation as the tokens that follow a finished assistant turn: whatever the chat template puts
    after the assistant's end-of-turn token, a user turn with the observation, and the next assistant header."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        eos = tokenizer.eos_token
        base = [{"role": "user", "content": "U"}, {"role": "assistant", "content": "A"}]
        full = tokenizer.apply_chat_template(base + [{"role": "user", "content": PLACEHOLDER}], tokenize=False,
                                             add_generation_prompt=True)
        anchor = f"A{eos}"
        start = full.find(anchor)
        if start < 0 or PLACEHOLDER not in full:
            raise ValueError("the tokenizer's chat template does not end assistant turns with its eos token; the "
                             "agent loop needs that to know where a turn ends")
        segment = full[start + len(anchor):]
        self.prefix, _, self.suffix = segment.partition(PLACEHOLDER)

    def encode(self, observation: str, max_tokens: int) -> list[int]:
        obs_ids = self.tokenizer.encode(observation, add_special_tokens=False)
        if len(obs_ids) > max_tokens:
            obs_ids = obs_ids[: max_tokens // 2] + self.tokenizer.encode("\n[...]\n", add_special_tokens=False) \
                + obs_ids[-(max_tokens // 2):]
        enc = self.tokenizer.encode
        return enc(self.prefix, add_special_tokens=False) + obs_ids + enc(self.suffix, add_special_tokens=False)


@dataclass
class Episode:
    request: RolloutRequest
    env: Environment
    ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    spans: list[tuple[int, int, int]] = field(default_factory=list)
    turns: int = 0
    last_text: str = ""
    truncated: bool = False
    done: bool = False
    error: str = ""
    started: float = field(default_factory=time.monotonic)


def _safe(fn: Callable[[], Any], ep: Episode) -> Any:
    """Environment failures end that episode with status error (masked), never the batch."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - any env failure is the sandbox's, not the policy's
        log.warning("environment failed for sample %s: %s: %s", ep.request.group_id, type(exc).__name__, exc)
        ep.error, ep.done = f"{type(exc).__name__}: {exc}"[:300], True
        return None


def run_episodes(engine: Engine, template: ObservationTemplate, parser: ToolParser,
                 episodes: list[tuple[RolloutRequest, Environment]], params: SamplingParams,
                 limits: AgentConfig, generate: Generate | None = None) -> list[Trajectory]:
    """Run the episodes to the end; one Trajectory each, with the environment's verdict in `env_result`.

    generate: how a turn is generated, returning the completions and the weight version that produced them (the
    rollout worker passes one that holds its engine lock); default: `engine.generate` at `engine.version`.
    """
    eps = [Episode(req, env) for req, env in episodes]
    if generate is None:
        def generate(prompts: list[list[int]], p: SamplingParams) -> tuple[list[list[Completion]], int]:
            return engine.generate(prompts, p), engine.version
    with ThreadPoolExecutor(max(1, len(eps))) as io:
        for ep, extra in zip(eps, io.map(lambda e: _safe(lambda: e.env.reset(e.request), e), eps)):
            if extra:
                _append_obs(ep, template.encode(extra, limits.observation_tokens))
        for turn in itertools.count():
            active = _budgets(eps, limits)
            if not active:
                break
            # a fresh seed per turn: re-using one would replay the same random draws turn after turn
            seed = None if params.seed is None else (params.seed + 7919 * turn) % (2**31 - 1)
            turn_params = SamplingParams(n=1, temperature=params.temperature, top_p=params.top_p,
                                         max_new_tokens=max(b for _, b in active), seed=seed)
            outs, version = generate([list(e.request.prompt_ids) + e.ids for e, _ in active], turn_params)
            calls = []
            for (ep, budget), (c,) in zip(active, outs):
                c = _clip(c, budget, engine)
                add_span(ep.spans, len(ep.ids), len(ep.ids) + len(c.token_ids), version)
                ep.ids += c.token_ids
                ep.logprobs += c.logprobs
                ep.mask += [1] * len(c.token_ids)
                ep.turns += 1
                ep.last_text = c.text
                call = parser.parse(c.text)
                if c.finish_reason == "length":  # a turn without its end-of-turn token cannot be continued
                    ep.done = ep.truncated = True
                if call is None or ep.turns >= limits.max_turns or time.monotonic() - ep.started > limits.wall_s:
                    ep.done = True
                if not ep.done:
                    calls.append((ep, call))
            stepped = io.map(lambda ec: _safe(lambda: ec[0].env.step(ec[1]), ec[0]), calls)
            for (ep, _), res in zip(calls, stepped):
                if res is None:
                    continue
                obs, env_done = res
                ids = template.encode(obs, limits.observation_tokens)
                if len(ep.ids) + len(ids) >= limits.max_total_tokens:
                    ep.done = ep.truncated = True
                    continue
                _append_obs(ep, ids)
                ep.done = env_done
        results = list(io.map(lambda e: _finish(e), eps))
    return [_trajectory(ep, res, engine) for ep, res in zip(eps, results)]


def _budgets(eps: list[Episode], limits: AgentConfig) -> list[tuple[Episode, int]]:
    """The episodes that take another turn, each with its own token budget for it. An episode with no budget left
    (an initial observation filled its total) ends here, truncated."""
    active = []
    for ep in eps:
        if ep.done:
            continue
        budget = min(limits.max_turn_tokens, limits.max_total_tokens - len(ep.ids))
        if budget <= 0:
            ep.done = ep.truncated = True
        else:
            active.append((ep, budget))
    return active


def _clip(c: Completion, budget: int, engine: Engine) -> Completion:
    """`c` cut to the episode's own `budget` (the engine call asked for the largest budget of the batch)."""
    if len(c.token_ids) <= budget:
        return c
    ids = c.token_ids[:budget]
    return Completion(token_ids=ids, logprobs=c.logprobs[:budget], finish_reason="length", text=engine.decode(ids))


def _append_obs(ep: Episode, ids: list[int]) -> None:
    ep.ids += ids
    ep.logprobs += [0.0] * len(ids)
    ep.mask += [0] * len(ids)


def _finish(ep: Episode) -> EnvOutcome:
    if ep.error:
        try:
            ep.env.finish(ep.last_text)  # release the episode's sandbox
        except Exception:  # noqa: BLE001
            pass
        return EnvOutcome(0.0, "error", {"reason": ep.error})
    res = _safe(lambda: ep.env.finish(ep.last_text), ep)
    if res is not None and not isinstance(res, EnvOutcome):
        return EnvOutcome(0.0, "error", {"reason": f"environment finish() returned {type(res).__name__}, not "
                                                   "EnvOutcome (rollout/types.py); fix the environment"})
    return res if res is not None else EnvOutcome(0.0, "error", {"reason": ep.error})


def _trajectory(ep: Episode, result: EnvOutcome, engine: Engine) -> Trajectory:
    req = ep.request
    version = min((v for _, _, v in ep.spans), default=engine.version)
    return Trajectory(group_id=req.group_id, domain=req.domain, prompt_text=req.prompt_text,
                      prompt_ids=list(req.prompt_ids), response_ids=ep.ids, response_text=engine.decode(ep.ids),
                      rollout_logprobs=ep.logprobs, loss_mask=ep.mask, policy_version=version,
                      truncated=ep.truncated, reference=req.reference, metadata=dict(req.metadata),
                      version_spans=ep.spans, turns=ep.turns, env_result=result)
