"""The project's own tiny base model: a byte-level BPE tokenizer with a chat template and a small Qwen2-shape
causal LM, pretrained briefly on generated math and code text. No model hub is needed; it is built
deterministically into the cache the first time a config names `model.path: mispo-tiny`."""
