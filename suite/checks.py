"""Checks of a composed job against what it names on this machine: the method's loop needs, the
device it needs, its ranks against the model's layers, the data file (read whole), the model
directory, the results folder and the W&B credentials. Each problem is one :class:`ConfigError`
line; nothing here imports torch (but for a CUDA-only method with ``device=auto``, to ask whether a
GPU is visible), so the command line is checked in a second or two before any work starts.
"""

from __future__ import annotations

import json
import netrc
import os
import tempfile
from pathlib import Path

from omegaconf import DictConfig

from suite import traits
from suite.data.answers import extract_answer
from suite.errors import ConfigError

_RANK_KEYS = ("r", "rank")  # LoRA's r; GaLore's and APOLLO's rank

# Per data builder: the fields every record must have, and whether its answer needs '#### N'.
DATA_FIELDS = {
    "suite.data.formats.gsm8k": (("question", "answer"), "answer"),
    "suite.data.formats.openmathinstruct2": (("problem", "generated_solution", "expected_answer"), None),
    "suite.data.formats.alpaca": (("instruction", "input", "output"), None),
}


def check_method_loop(
    cfg: DictConfig,
    in_backward: bool | None = None,
    own_scaler: bool | None = None,
    accumulates: bool | None = None,
) -> None:
    """Gradient accumulation, fp16 and clipping against how the method updates: from its YAML's
    traits, and, once it is built, the built method's own flags, which must agree with them."""
    name, train = cfg.method.name, cfg.train
    declared = traits.of(cfg.method)
    for what, built, said in (
        ("updates_in_backward", in_backward, declared.in_backward(cfg.method)),
        ("own_grad_scaler", own_scaler, declared.owns_grad_scaler(cfg.method)),
        (
            "accumulates_in_backward",
            accumulates,
            declared.in_backward(cfg.method) and declared.accumulates(cfg.method),
        ),
    ):
        if built is not None and built != said:
            raise ConfigError(
                f"method {name}: its builder returned {what}={built} but its YAML's traits say {said}; "
                f"declare traits.{what} in the YAML as the method behaves"
            )
    in_backward, own_scaler = declared.in_backward(cfg.method), declared.owns_grad_scaler(cfg.method)
    if in_backward and train.grad_accum > 1 and not declared.accumulates(cfg.method):
        raise ConfigError(
            f"method {name} updates inside backward and cannot accumulate gradients: "
            f"{declared.no_accumulation_because}; set train.grad_accum=1"
        )
    if in_backward and train.autocast == "fp16":
        raise ConfigError(
            f"method {name} updates inside backward; train.autocast=fp16 is not supported with it, "
            f"use bf16 or null"
        )
    copies = declared.copies_grads(cfg.method)
    if train.get("max_grad_norm") is not None and (in_backward or own_scaler or copies):
        why = (
            "updates inside backward"
            if in_backward
            else "unscales its own gradients"
            if own_scaler
            else "copies each gradient to its optimizer inside backward"
        )
        raise ConfigError(
            f"method {name} {why}, so the loop cannot clip before its step; set train.max_grad_norm=null"
        )
    if copies and train.autocast == "fp16":
        raise ConfigError(
            f"method {name} copies each gradient to its optimizer inside backward, before the loop's "
            f"loss scaler could unscale it; train.autocast=fp16 is not supported with it, use bf16 or null"
        )
    if train.grad_accum > 1:
        for condition in declared.grad_accum_requires:
            if not condition.holds(cfg.method):
                raise ConfigError(
                    f"method.{condition.key}={cfg.method.get(condition.key)} cannot accumulate gradients: "
                    f"{name} needs {condition} for train.grad_accum>1; set train.grad_accum=1"
                )


def check_device(cfg: DictConfig) -> None:
    """A method whose traits say it needs CUDA (``traits.needs_cuda_because``) is refused unless the
    job's device is CUDA: ``device=cpu``, or ``device=auto`` with no GPU visible (``device=cuda``
    without one is the run's own refusal, ``suite.loop.pick_device``)."""
    why = traits.of(cfg.method).needs_cuda_because
    if why is None or cfg.device == "cuda":
        return
    if cfg.device == "auto" and cuda_visible():
        return
    where = "no CUDA device is visible (device=auto)" if cfg.device == "auto" else f"device={cfg.device}"
    raise ConfigError(
        f"method {cfg.method.name} needs CUDA ({why}) and {where}; run it with device=cuda or auto on a GPU"
    )


def cuda_visible() -> bool:
    """Whether torch sees a CUDA device (imports torch: only asked for a CUDA-only method)."""
    import torch

    return torch.cuda.is_available()


def layer_shapes(cfg: DictConfig) -> dict[str, tuple[int, int]] | None:
    """(out, in) of one block's attention and MLP projections, from the model's config (the
    tiny model's YAML, or ``config.json`` of a checkpoint); None when neither says."""
    arch = dict(cfg.model)
    path = cfg.model.get("path")
    if path and (Path(path) / "config.json").exists():
        arch = json.loads((Path(path) / "config.json").read_text())
    hidden = arch.get("hidden_size")
    inter = arch.get("intermediate_size")
    heads = arch.get("num_attention_heads", arch.get("num_heads"))
    kv = arch.get("num_key_value_heads", arch.get("num_kv_heads", heads))
    if not (hidden and inter and heads):
        return None
    head_dim = arch.get("head_dim") or hidden // heads
    return {
        "q_proj": (heads * head_dim, hidden),
        "k_proj": (kv * head_dim, hidden),
        "o_proj": (hidden, heads * head_dim),
        "up_proj": (inter, hidden),
    }


def check_ranks(cfg: DictConfig) -> None:
    """A low-rank method's rank must not exceed the smaller side of the layers it projects."""
    shapes = layer_shapes(cfg)
    for key in _RANK_KEYS:
        rank = cfg.method.get(key)
        if shapes is None or not isinstance(rank, int):
            continue
        name, (out, inp) = min(shapes.items(), key=lambda kv: min(kv[1]))
        if rank > min(out, inp):
            raise ConfigError(
                f"method.{key}={rank} exceeds the smaller dimension of the model's {name} "
                f"({out}x{inp}); allowed: 1..{min(out, inp)}"
            )


def check_quant_groups(cfg: DictConfig) -> None:
    """Q-GaLore quantizes each rank-r projector (r × the layer's smaller side) in groups of
    ``quant_group_size`` values, which must divide it (-1: one group per row)."""
    group, rank, shapes = cfg.method.get("quant_group_size"), cfg.method.get("rank"), layer_shapes(cfg)
    if shapes is None or not isinstance(group, int) or group <= 0 or not isinstance(rank, int):
        return
    for name, (out, inp) in shapes.items():
        size = rank * min(out, inp)
        if size % group:
            raise ConfigError(
                f"method.quant_group_size={group} does not divide the {size} values of the {name} "
                f"projector (rank {rank} x {min(out, inp)}); allowed: a divisor of {size}, "
                f"or -1 (one group per row)"
            )


def check_data_file(cfg: DictConfig) -> int | None:
    """Read a local data file whole; returns its record count (None: no local file to check)."""
    data = cfg.data
    spec = DATA_FIELDS.get(data.get("_target_"))
    if spec is None or not data.get("path"):
        return None
    path = Path(data.path)
    if not path.is_file():
        raise ConfigError(f"data.path={path} does not exist (a jsonl file is expected)")
    fields, answer_field = spec
    n = 0
    with path.open() as f:
        for n, line in enumerate(f, start=1):
            _check_record(path, n, line, fields, answer_field)
    if n == 0:
        raise ConfigError(f"data.path={path} is empty; it needs one JSON record per line")
    return n


def _check_record(path: Path, n: int, line: str, fields: tuple[str, ...], answer_field: str | None) -> None:
    try:
        record = json.loads(line)
    except ValueError:
        raise ConfigError(f"{path} line {n} is not valid JSON; each line must be one JSON object") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{path} line {n} is not a JSON object")
    missing = [k for k in fields if k not in record]
    if missing:
        raise ConfigError(
            f"{path} line {n} lacks the field(s) {', '.join(missing)}; each record needs {', '.join(fields)}"
        )
    if answer_field and extract_answer(str(record[answer_field])) is None:
        raise ConfigError(f"{path} line {n}: the {answer_field} has no final '#### <number>' line")


def check_batch(cfg: DictConfig, n_records: int | None) -> None:
    """The validation split must leave training records, and the loader drops incomplete batches, so
    a batch larger than the training split never yields one."""
    n = cfg.data.get("n_train")
    if n_records is not None:
        n_test = cfg.data.get("n_test") or 0
        available = max(n_records - (0 if cfg.data.get("test_path") else n_test), 0)
        n_val = cfg.data.get("n_val") or 0
        if n_val >= available > 0:
            raise ConfigError(
                f"data.n_val={n_val} would hold out every training record of data.path ({available} "
                f"after the test split); allowed: 0..{available - 1}"
            )
        n = min(n or n_records, available - n_val)
    if isinstance(n, int) and cfg.train.batch_size > n:
        raise ConfigError(
            f"train.batch_size={cfg.train.batch_size} is larger than the training split ({n} examples); "
            f"allowed: 1..{n}"
        )


def check_model_dir(cfg: DictConfig) -> None:
    """A local checkpoint directory has a config, weights and a tokenizer; say which is missing."""
    path = cfg.model.get("path")
    if not path or not str(cfg.model.get("_target_", "")).endswith("load_pretrained"):
        return
    d = Path(path)
    if not d.is_dir():
        if not d.exists() and "/" in str(path) and not str(path).startswith((".", "/", "~")):
            return  # a hub id (org/name): from_pretrained downloads it
        raise ConfigError(f"model.path={path} is not a directory (a Hugging Face checkpoint is expected)")
    wanted = {
        "config.json": ["config.json"],
        "weights (*.safetensors or pytorch_model*.bin)": ["*.safetensors", "pytorch_model*.bin"],
        "tokenizer (tokenizer.json, tokenizer.model or vocab.json)": [
            "tokenizer.json",
            "tokenizer.model",
            "vocab.json",
        ],
    }
    for what, patterns in wanted.items():
        if not any(any(d.glob(p)) for p in patterns):
            raise ConfigError(f"model.path={path} has no {what}")


def check_results_dir(cfg: DictConfig) -> None:
    """The results folder (or its first existing parent) is a writable directory."""
    p = Path(cfg.results_dir).absolute()
    while not p.exists():
        p = p.parent
    if not p.is_dir():
        raise ConfigError(f"results_dir={cfg.results_dir}: {p} is a file, not a folder")
    try:  # a real write: permission bits do not tell root or a read-only file system
        tempfile.TemporaryFile(dir=p).close()
    except OSError as err:
        raise ConfigError(f"results_dir={cfg.results_dir}: cannot write in {p} ({err.strerror})") from None


def check_wandb(cfg: DictConfig) -> None:
    """Online W&B needs credentials (``wandb login`` or ``WANDB_API_KEY``)."""
    if cfg.logger.get("kind") != "wandb" or cfg.logger.get("mode") != "online":
        return
    if os.environ.get("WANDB_API_KEY"):
        return
    try:
        if netrc.netrc().authenticators("api.wandb.ai"):
            return
    except (OSError, netrc.NetrcParseError):
        pass
    raise ConfigError(
        "logger.mode=online but no W&B credentials were found (run wandb login or set WANDB_API_KEY); "
        "or use logger.mode=offline"
    )


def check_job(cfg: DictConfig) -> None:
    """Every check of one composed job."""
    check_method_loop(cfg)
    check_device(cfg)
    check_ranks(cfg)
    check_quant_groups(cfg)
    check_model_dir(cfg)
    check_batch(cfg, check_data_file(cfg))
    check_results_dir(cfg)
    check_wandb(cfg)
