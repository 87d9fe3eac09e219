"""Supervised fine-tuning (domain experts): see issue 7. Reuses rl/'s DeepSpeed plumbing."""
