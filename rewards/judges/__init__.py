"""Generative judges for the preference verifier: a small interface (`base.py`) and one module per backend."""
