"""SFT entry point: `python -m sft.train --config sft_math_expert.yaml [dotted.key=value ...]`.

Parses and validates the config before torch/deepspeed are imported (`--dry-run` is instant), then runs
`sft.trainer.train_sft` and prints the final checkpoint directory.
"""
from __future__ import annotations

import sys

from config.errors import ConfigError
from config.load import load_cli_config, parse_cli
from config.sft import SFTConfig, validate_sft_config
from sft.trainer import quiet_library_progress_bars, train_sft


def main(argv: list[str] | None = None) -> int:
    args = parse_cli("python -m sft.train", __doc__, "trainer.max_steps=5", argv)
    cfg = load_cli_config(SFTConfig, args, validate_sft_config, lambda c: c.logging.level)
    if cfg is None:
        return 2
    if args.dry_run:
        return 0
    quiet_library_progress_bars()
    try:
        print(train_sft(cfg))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
