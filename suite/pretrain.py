"""The tiny model's pretrained base, made by the suite itself and cached.

Block-coordinate methods (ABSignSGD, BAdam) freeze the embeddings and the LM head, so
fine-tuning must start from a model whose embeddings already mean something. The base is
pretrained with AdamW on ``suite.data.pretrain_texts`` (a seed stream disjoint from the
fine-tuning splits) and saved as a Hugging Face checkpoint under the cache folder, keyed by
everything that determines its weights: the same settings give the same file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch
from filelock import FileLock
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from suite.data import pretrain_texts
from suite.models import DTYPES, byte_tokenizer, tiny_qwen3

FORMAT_VERSION = 1
log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("SUITE_CACHE", Path.home() / ".cache" / "suite"))


def _pretrain(
    model: PreTrainedModel, tokenizer, steps: int, batch_size: int, lr: float, seq_len: int, seed: int
) -> None:
    texts = pretrain_texts(steps * batch_size, seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    bar = tqdm(range(steps), desc="pretraining the tiny base", leave=False)
    for step in bar:
        chunk = texts[step * batch_size : (step + 1) * batch_size]
        enc = tokenizer(
            [t + tokenizer.eos_token for t in chunk],
            padding=True,
            truncation=True,
            max_length=seq_len,
            return_tensors="pt",
            add_special_tokens=False,
        )
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{loss.item():.3f}")


def tiny_base(
    hidden_size: int = 128,
    num_layers: int = 4,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 384,
    dtype: str = "float32",
    pretrain_steps: int = 300,
    pretrain_batch_size: int = 32,
    pretrain_lr: float = 3e-3,
    pretrain_seq_len: int = 192,
    seed: int = 0,
    cache_dir: str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The tiny Qwen3 model, pretrained (or loaded from the cache) and cast to ``dtype``."""
    tokenizer = byte_tokenizer()
    arch = dict(
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        intermediate_size=intermediate_size,
    )
    if pretrain_steps == 0:
        return tiny_qwen3(tokenizer, **arch, seed=seed).to(DTYPES[dtype]), tokenizer
    recipe = dict(
        arch,
        steps=pretrain_steps,
        batch_size=pretrain_batch_size,
        lr=pretrain_lr,
        seq_len=pretrain_seq_len,
        seed=seed,
        version=FORMAT_VERSION,
        torch=torch.__version__.split("+")[0],
    )
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    path = root / f"tiny-base-{key}"
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        problem = cache_problem(path)
        if problem is not None:
            if path.exists():
                log.warning("the cached tiny base %s is damaged (%s): rebuilding it", path, problem)
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                model = tiny_qwen3(tokenizer, **arch, seed=seed)
                _pretrain(
                    model, tokenizer, pretrain_steps, pretrain_batch_size, pretrain_lr, pretrain_seq_len, seed
                )
            _write_cache(path, model, tokenizer, recipe)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype])
    return model, tokenizer


WEIGHTS = "model.safetensors"


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _write_cache(path: Path, model: PreTrainedModel, tokenizer, recipe: dict) -> None:
    """Save the base next to ``path`` and move it into place whole, with its weights' size and hash."""
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=".tmp-"))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    weights = tmp / WEIGHTS
    record = dict(recipe, weights_bytes=weights.stat().st_size, weights_sha256=_sha256(weights))
    (tmp / "recipe.json").write_text(json.dumps(record, indent=2))
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


def cache_problem(path: Path) -> str | None:
    """What is wrong with a cached base (None: it is whole): missing files, or weights whose size
    or SHA-256 differ from what was recorded when it was written."""
    if not path.exists():
        return "not built yet"
    for name in ("config.json", "recipe.json", WEIGHTS):
        if not (path / name).exists():
            return f"{name} is missing"
    try:
        record = json.loads((path / "recipe.json").read_text())
    except ValueError:
        return "recipe.json is not valid JSON"
    weights = path / WEIGHTS
    if weights.stat().st_size != record.get("weights_bytes"):
        return f"{WEIGHTS} has {weights.stat().st_size} bytes, {record.get('weights_bytes')} were written"
    if _sha256(weights) != record.get("weights_sha256"):
        return f"{WEIGHTS} does not match the SHA-256 recorded when it was written"
    return None
