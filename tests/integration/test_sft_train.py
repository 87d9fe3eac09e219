"""SFT for real: the tiny model, DeepSpeed on CPU, packed chat data; metrics, eval loss and an HF checkpoint."""
from __future__ import annotations

import json

from sft.train import main


def test_sft_trains_logs_and_saves_a_loadable_checkpoint(tmp_path, tiny_model_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = tmp_path / "sft"
    rc = main(["--config", "sft_math_expert.yaml", f"trainer.run_dir={run_dir}", "trainer.max_steps=8",
               "trainer.eval_every=4", "logging.progress_bar=false", "optim.warmup_steps=2"])
    assert rc == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(9))
    assert "eval/loss" in rows[0] and "eval/loss" in rows[4] and "eval/loss" in rows[8]
    assert rows[8]["eval/loss"] < rows[0]["eval/loss"], "8 SFT steps did not lower the held-out loss"
    for key in ("train/loss", "train/lr", "train/grad_norm", "train/target_tokens", "throughput/tokens_per_s"):
        assert all(r[key] is not None for r in rows[1:]), key
    lrs = [r["train/lr"] for r in rows[1:]]
    assert lrs[0] < lrs[1] and lrs[1] == max(lrs) and lrs[-1] < lrs[1]  # warm-up, then cosine decay
    report = json.loads((run_dir / "data_report.json").read_text())
    assert report["kept"] == 406 and report["eval_examples"] > 0

    ckpt = run_dir / "checkpoints" / "final"
    assert (ckpt / "sft_config.yaml").is_file()
    model = AutoModelForCausalLM.from_pretrained(ckpt)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    assert max((p - q).abs().max().item() for p, q in zip(model.parameters(), base.parameters())) > 0
    tok = AutoTokenizer.from_pretrained(ckpt)
    ids = tok.apply_chat_template([{"role": "user", "content": "What is 2 + 3? Put the final answer in \\boxed{}."}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=24, do_sample=False)
    assert torch.isfinite(model(out).logits).all()


def test_dry_run_and_config_errors(capsys):
    assert main(["--config", "sft_code_expert.yaml", "--dry-run"]) == 0
    assert main(["--config", "sft_code_expert.yaml", "optim.lr=-1"]) == 2
    assert "optim.lr" in capsys.readouterr().err


def test_two_ranks_match_one_rank_with_twice_the_accumulation(tmp_path, tiny_model_path):
    """Data parallelism (torchrun, gloo) splits each step's micro-batches over ranks; the loss normaliser is the
    step's global token count, so 2 ranks x 1 micro-batch train exactly like 1 rank x 2 micro-batches."""
    import subprocess
    import sys
    from pathlib import Path

    common = ["--config", "sft_math_expert.yaml", "trainer.max_steps=3", "logging.progress_bar=false",
              "optim.torch_threads=1"]
    torchrun = str(Path(sys.executable).parent / "torchrun")
    res = subprocess.run([torchrun, "--nproc_per_node", "2", "-m", "sft.train", *common,
                          f"trainer.run_dir={tmp_path / 'two'}"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert main([*common, f"trainer.run_dir={tmp_path / 'one'}", "optim.grad_accum_steps=2"]) == 0
    rows = {name: [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
            for name in ("one", "two")}
    for a, b in zip(rows["one"][1:], rows["two"][1:]):
        assert a["train/target_tokens"] == b["train/target_tokens"]
        assert abs(a["train/loss"] - b["train/loss"]) < 1e-6 and abs(a["train/grad_norm"] - b["train/grad_norm"]) < 1e-5
