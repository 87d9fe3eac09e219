"""Weight sync from the learner to the rollout engines, one module per backend (see base.py)."""
