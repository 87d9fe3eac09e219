"""Typed configuration of every job (OmegaConf structured dataclasses), torch-free.

One schema module per part: `config.rollout` (engines, agent loop, weight sync), `config.rewards` (verifier
workers), `config.rl` (the RL run: data, algorithm, learners, trainer), `config.sft`, `config.distill`;
shared pieces in `config.common`; `config.load` merges YAML + CLI overrides with strict keys and validates;
`config.errors.ConfigError` is what every problem raises. Nothing here imports torch, ray, vllm or deepspeed,
so `--help`, validation and dry runs are instant, and each component can receive only its own sub-config.
"""
