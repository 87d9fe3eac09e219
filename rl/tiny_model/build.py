"""Build the tiny base model `mispo-tiny` deterministically into the cache.

    python -m rl.tiny_model.build [--name NAME] [--out DIR] [--force] [--from-scratch]

The repository ships each model's build under data/tiny_models/<name>-<version>/ (3.4 MB each; built by this
module, bit for bit reproducible), and a fresh machine copies it into the cache in seconds when its recorded recipe
is the current one; `--from-scratch` (or a changed recipe) trains it instead (~2 min each on 2 cores).

Steps: generate a corpus (chat-formatted math problems with noisy answers, plus tiny code functions), train a
byte-level BPE tokenizer with a chat template, pretrain a small Qwen2-shape causal LM on it for a fixed number
of steps with fixed seeds, save HF format (model + tokenizer). The result loads with
`AutoModelForCausalLM.from_pretrained` / `AutoTokenizer.from_pretrained` like any hub model.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rl.tiny_model.agent_tasks import all_agent_tasks, transcript
from rl.tiny_model.tasks import all_math_tasks, code_response, code_task_rows, noisy_answer

log = logging.getLogger(__name__)

TINY_NAME = "mispo-tiny"
TINY_VERSION = "v2"
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


@dataclass(frozen=True)
class TinyRecipe:
    """Everything that determines the built model; its fields are saved beside the weights."""

    vocab_size: int = 512
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 384
    steps: int = 700
    batch_size: int = 64
    lr: float = 3e-3
    p_correct: float = 0.8  # how often a pretraining answer is right
    p_boxed: float = 0.3  # how often it follows the \\boxed{} instruction: the base model's format weakness
    code_fraction: float = 0.15
    terminal_fraction: float = 0.0  # multi-turn <bash> transcripts (the agent variant only)
    p_command_correct: float = 0.6  # how often a transcript's command solves its task
    seed: int = 1234
    threads: int = 2


AGENT_NAME = "mispo-tiny-agent"
AGENT_VERSION = "v2"
AGENT_RECIPE = TinyRecipe(terminal_fraction=0.9, steps=500, batch_size=32)
MODELS: dict[str, tuple[str, TinyRecipe]] = {TINY_NAME: (TINY_VERSION, TinyRecipe()), AGENT_NAME: (AGENT_VERSION, AGENT_RECIPE)}


def cache_dir() -> Path:
    return Path(os.environ.get("MISPO_CACHE", Path.home() / ".cache" / "mispo"))


def tiny_model_dir(name: str = TINY_NAME) -> Path:
    return cache_dir() / "models" / f"{name}-{MODELS[name][0]}"


SHIPPED_DIR = Path(__file__).resolve().parents[2] / "data" / "tiny_models"


def shipped_dir(name: str) -> Path:
    """Where the repository ships the built model `name` (the output of `build` for its recipe, bit for bit)."""
    return SHIPPED_DIR / f"{name}-{MODELS[name][0]}"


def shipped_copy(name: str) -> Path | None:
    """The shipped build of `name` when its recorded recipe is today's recipe (None otherwise: it must be built)."""
    src = shipped_dir(name)
    try:
        info = json.loads((src / "mispo_tiny.json").read_text())
    except (OSError, ValueError):
        return None
    return src if info.get("recipe") == asdict(MODELS[name][1]) else None


def install_shipped(name: str, out: Path) -> Path | None:
    """Copy the shipped build of `name` into `out` (atomically; seconds instead of minutes of training)."""
    from filelock import FileLock

    src = shipped_copy(name)
    if src is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if not (out / "config.json").is_file():
            tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=out.name + ".tmp"))
            shutil.copytree(src, tmp, dirs_exist_ok=True)
            if out.exists():
                shutil.rmtree(out)
            tmp.rename(out)
            log.info("installed the shipped %s (rebuild from scratch: python -m rl.tiny_model.build --name %s "
                     "--from-scratch)", out.name, name)
    return out


def ensure_built(name: str) -> str:
    """The cache directory of the tiny model `name` (a key of MODELS): the shipped build when its recipe is current,
    otherwise trained now."""
    out = tiny_model_dir(name)
    if not (out / "config.json").is_file() and install_shipped(name, out) is None:
        build(out, MODELS[name][1])
    return str(out)


def _chat(prompt: str, response: str) -> str:
    return _render([{"role": "user", "content": prompt}, {"role": "assistant", "content": response}])


def _render(messages: list[dict[str, str]]) -> str:
    """The chat template, in Python (the corpus must match what the tokenizer's template renders)."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def make_corpus(recipe: TinyRecipe, n: int, rng: random.Random) -> list[str]:
    math_tasks = all_math_tasks()
    code_rows = code_task_rows()
    agent_tasks = all_agent_tasks() if recipe.terminal_fraction else []
    texts = []
    for _ in range(n):
        if recipe.terminal_fraction and rng.random() < recipe.terminal_fraction:
            texts.append(_render(transcript(rng.choice(agent_tasks), rng, recipe.p_command_correct, p_look=0.3)))
        elif rng.random() < recipe.code_fraction:
            row = rng.choice(code_rows)
            texts.append(_chat(row["prompt"], code_response(row)))
        else:
            task = rng.choice(math_tasks)
            answer = noisy_answer(task, rng, recipe.p_correct)
            texts.append(_chat(task.prompt, task.response(answer, boxed=rng.random() < recipe.p_boxed)))
    return texts


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE with single-digit splitting (arithmetic-friendly) and a Qwen-style chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _pretrain(model, tokenizer, recipe: TinyRecipe, rng: random.Random, name: str = TINY_NAME) -> list[float]:
    import torch
    from tqdm import tqdm

    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = max(1, recipe.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, recipe.steps) / recipe.steps))
    )
    losses = []
    model.train()
    for _ in tqdm(range(recipe.steps), desc=f"pretrain {name}", unit="step", mininterval=2):
        texts = make_corpus(recipe, recipe.batch_size, rng)
        enc = tokenizer(texts, return_tensors="pt", padding=True)
        labels = enc.input_ids.masked_fill(enc.attention_mask == 0, -100)
        loss = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def build(out: Path, recipe: TinyRecipe = TinyRecipe()) -> Path:
    """Build the model into `out` (atomically: a temp dir renamed at the end). Deterministic for a recipe."""
    import torch
    from filelock import FileLock
    from transformers import Qwen2Config, Qwen2ForCausalLM

    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if (out / "config.json").is_file():
            return out
        start = time.time()
        log.info("building %s (one-time, ~1-3 min on 2 cores)", out)
        rng = random.Random(recipe.seed)
        torch.manual_seed(recipe.seed)
        prev_threads = torch.get_num_threads()
        torch.set_num_threads(recipe.threads)
        tokenizer = train_tokenizer(make_corpus(recipe, 4000, random.Random(recipe.seed + 1)), recipe.vocab_size)
        config = Qwen2Config(
            vocab_size=len(tokenizer), hidden_size=recipe.hidden_size, intermediate_size=recipe.intermediate_size,
            num_hidden_layers=recipe.layers, num_attention_heads=recipe.heads, num_key_value_heads=recipe.kv_heads,
            max_position_embeddings=1024, tie_word_embeddings=True, rope_theta=10000.0,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        )
        model = Qwen2ForCausalLM(config)
        losses = _pretrain(model, tokenizer, recipe, rng, out.name)
        torch.set_num_threads(prev_threads)
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=out.name + ".tmp"))
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        info = {"recipe": asdict(recipe), "final_loss": sum(losses[-20:]) / 20, "seconds": time.time() - start}
        (tmp / "mispo_tiny.json").write_text(json.dumps(info, indent=2))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
        log.info("built %s in %.0fs (final loss %.3f)", out.name, info["seconds"], info["final_loss"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="output dir (default: the cache)")
    parser.add_argument("--force", action="store_true", help="rebuild even if present")
    parser.add_argument("--name", choices=sorted(MODELS), default=TINY_NAME, help="which tiny model")
    parser.add_argument("--from-scratch", action="store_true",
                        help=f"train it (~2 min) even when {SHIPPED_DIR} ships a build of the current recipe")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = args.out or tiny_model_dir(args.name)
    if args.force and out.exists():
        shutil.rmtree(out)
    if not args.from_scratch and not (out / "config.json").is_file() and install_shipped(args.name, out):
        print(out)
        return
    print(build(out, MODELS[args.name][1]))


if __name__ == "__main__":
    main()
