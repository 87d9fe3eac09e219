"""Preference judges: the generative reward models the preference verifier asks which of two answers is better.
A small interface (`base.py`) and one module per backend (local transformers, OpenAI-compatible HTTP). Not to be
confused with the sandbox's code harness (sandboxes/harness/), which runs tests."""
