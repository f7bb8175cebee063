"""The wrapped baselines (AdamW, LoRA, GaLore, APOLLO, BAdam, LOMO, AdaLomo) on a tiny model.

Each method is built from its YAML (``conf/method/<name>.yaml``) and trained on one fixed random
batch with a plain loop; the memory facts are computed by hand from the tensors the packages hold.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from suite.blocks import attn_mlp_linear_names, find_blocks
from suite.configs import CONF_DIR
from suite.methods import Method
from suite.methods.lowrank import projector_matrices
from suite.models import byte_tokenizer, tiny_qwen3

METHODS = [
    "adamw",
    "lora",
    "galore",
    "galore_layerwise",
    "apollo",
    "apollo_layerwise",
    "apollo_mini",
    "badam",
    "lomo",
    "adalomo",
    "muon",
    "adafactor",
    "adamw8bit",
    "adamw8bit_bnb",
    "galore8bit",
    "qgalore",
    "lion",
    "schedulefree",
    "adam_mini",
]

TOKENIZER = byte_tokenizer()


def tiny(dtype: torch.dtype = torch.float32) -> nn.Module:
    model = tiny_qwen3(
        TOKENIZER, hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64
    )
    return model.to(dtype)


BATCH = torch.randint(0, 256, (4, 24), generator=torch.Generator().manual_seed(0))


def method_from_yaml(name: str, model: nn.Module, **overrides) -> Method:
    """What the training loop does with ``method=<name>``: compose, pop ``name`` and ``traits``,
    instantiate."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"method={name}"])
    kwargs = OmegaConf.to_container(cfg.method, resolve=True)
    assert kwargs.pop("name") == name
    kwargs.pop("traits")
    kwargs.update(overrides)
    method = instantiate(kwargs, model=model, _convert_="all")
    assert isinstance(method, Method)
    return method


def loss_of(method: Method) -> torch.Tensor:
    return method.model(input_ids=BATCH, labels=BATCH).loss


def train(method: Method, steps: int = 10) -> list[float]:
    losses = []
    for _ in range(steps):
        loss = loss_of(method)
        method.backward(loss)
        if not method.updates_in_backward:
            method.optimizer.step()
            method.optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


def state_tensors(optimizer: torch.optim.Optimizer, key: str) -> list[torch.Tensor]:
    return [s[key] for s in optimizer.state.values() if key in s]


def nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


# ---------------------------------------------------------------- every method learns


@pytest.mark.parametrize("name", METHODS)
def test_loss_goes_down_with_the_yaml_defaults(name):
    # Tiny-scale ranks where the YAML's (32) exceed the test model's smallest dimension (16).
    small = {"rank": LOWRANK[name]} if name in LOWRANK else {}
    if name == "badam":
        small = {"switch_block_every": 4}
    losses = train(method_from_yaml(name, tiny(), **small))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.99 * losses[0], losses


# ---------------------------------------------------------------- LoRA


def test_lora_state_is_8_bytes_per_adapter_parameter_and_base_is_frozen():
    model = tiny()
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    linears = {
        n: m for n, m in model.named_modules() if isinstance(m, nn.Linear) and n != "lm_head"
    }  # "all-linear" skips the head
    method = method_from_yaml("lora", model, r=4)
    peft_model, opt = method.model, method.optimizer

    adapters = [p for n, p in peft_model.named_parameters() if "lora_" in n]
    assert {id(p) for p in adapters} == {id(p) for p in peft_model.parameters() if p.requires_grad}
    n_adapter = sum(p.numel() for p in adapters)
    assert n_adapter == sum(4 * (m.in_features + m.out_features) for m in linears.values())

    train(method, steps=1)
    moments = state_tensors(opt, "exp_avg") + state_tensors(opt, "exp_avg_sq")
    assert nbytes(moments) == 8 * n_adapter
    # torch's AdamW also keeps one 4-byte fp32 `step` scalar per adapter tensor, counted apart.
    steps = state_tensors(opt, "step")
    assert len(steps) == len(adapters) and nbytes(steps) == 4 * len(adapters)
    assert len(opt.state) == len(adapters)
    # Base weights: no gradient, no state, unchanged.
    for name, p in peft_model.get_base_model().named_parameters():
        if "lora_" not in name:
            assert not p.requires_grad and p.grad is None and p not in opt.state
            assert torch.equal(p, base[name.replace(".base_layer", "")])


def test_lora_checkpoint_is_merged_and_reloads_the_same_function(tmp_path):
    from transformers import AutoModelForCausalLM

    from suite.train import save_checkpoint

    method = method_from_yaml("lora", tiny(), r=4)
    train(method, steps=3)  # B is zero at init: train so that the merge matters
    with torch.no_grad():
        before = loss_of(method).item()
    save_checkpoint(method.model, TOKENIZER, tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert not any("lora" in n for n, _ in reloaded.named_parameters())
    with torch.no_grad():
        assert reloaded(input_ids=BATCH, labels=BATCH).loss.item() == pytest.approx(before, 1e-5)


# ---------------------------------------------------------------- GaLore / APOLLO

RANK = 4


def expected_lowrank_shapes(m: int, n: int, r: int) -> tuple[tuple, tuple]:
    """('std' projection) the shape of Adam's moments and of the projector for an m×n weight."""
    return ((m, r), (r, n)) if m >= n else ((r, n), (m, r))


@pytest.mark.parametrize("name", ["galore", "galore_layerwise"])
def test_galore_state_is_adam_on_the_projected_gradient_plus_the_projector(name):
    model = tiny()
    targets = {f"{n}.weight" for n in attn_mlp_linear_names(model)}
    method = method_from_yaml(name, model, rank=RANK)
    train(method, steps=1)
    state = method.optimizer.state
    shapes = set()
    total = 0
    for pname, p in model.named_parameters():
        s = state[p]
        if pname in targets:
            m, n = p.shape
            moment, proj = expected_lowrank_shapes(m, n, RANK)
            assert s["exp_avg"].shape == s["exp_avg_sq"].shape == moment
            assert s["projector"].ortho_matrix.shape == proj
            # GaLore state (jiaweizzhao/GaLore, galore_torch/galore_projector.py 'std' projection):
            # 2·m·r + r·n (m ≥ n) or 2·r·n + m·r, instead of Adam's 2·m·n.
            proj_numel = s["projector"].ortho_matrix.numel()
            elements = s["exp_avg"].numel() + s["exp_avg_sq"].numel() + proj_numel
            assert elements == (2 * m * RANK + RANK * n if m >= n else 2 * RANK * n + m * RANK)
            # Trap (fp32 weights): the projector is a slice of the SVD factor, whose whole
            # min(m,n)×n (or m×min(m,n)) storage stays alive.
            k = min(m, n)
            assert s["projector"].ortho_matrix.untyped_storage().nbytes() == 4 * (k * n if m >= n else m * k)
            shapes.add(m >= n)
            total += 4 * elements
        else:  # embeddings, norms, lm_head: full Adam
            assert s["exp_avg"].shape == s["exp_avg_sq"].shape == p.shape
            assert "projector" not in s
    assert shapes == {True, False}  # both branches of the projection were exercised
    assert len(projector_matrices(method.optimizer)) == len(targets)
    assert total < 8 * sum(model.get_parameter(t).numel() for t in targets)


@pytest.mark.compat(
    "in_backward",
    methods=["galore_layerwise"],
    checks="per-layer steps inside backward give GaLore's losses (1e-5), one gradient alive at a time",
)
def test_galore_layerwise_matches_galore_and_frees_each_gradient_in_backward():
    ref = method_from_yaml("galore", tiny(), rank=RANK, lr=1e-2)
    model = tiny()
    alive, peak = set(), [0]

    def watch(p):  # registered before the method's hooks: sees each gradient before it is freed
        alive.intersection_update({id(q) for q in model.parameters() if q.grad is not None})
        alive.add(id(p))
        peak[0] = max(peak[0], len(alive))

    for p in model.parameters():
        p.register_post_accumulate_grad_hook(watch)
    lw = method_from_yaml("galore_layerwise", model, rank=RANK, lr=1e-2)
    assert lw.updates_in_backward
    assert [len(g["params"]) for g in lw.optimizer.param_groups] == [len(list(model.parameters()))]

    assert train(lw, steps=4) == pytest.approx(train(ref, steps=4), rel=1e-5)
    assert peak[0] == 1
    assert all(p.grad is None for p in model.parameters())

    # The scheduler's knob: the container's group lr reaches every per-parameter optimizer.
    lw.optimizer.param_groups[0]["lr"] = 0.0
    before = [p.detach().clone() for p in model.parameters()]
    lw.backward(loss_of(lw))
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))


def test_galore_layerwise_state_dict_round_trip_resumes_exactly():
    first = method_from_yaml("galore_layerwise", tiny(), rank=RANK, lr=1e-2)
    train(first, steps=2)
    saved_model = {k: v.clone() for k, v in first.model.state_dict().items()}
    saved_opt = copy.deepcopy(first.optimizer.state_dict())  # torch returns live references
    expected = train(first, steps=2)

    model = tiny()
    model.load_state_dict(saved_model)
    resumed = method_from_yaml("galore_layerwise", model, rank=RANK, lr=1e-2)
    resumed.optimizer.load_state_dict(saved_opt)
    # the per-parameter optimizers see the loaded state (the container shares its dicts)
    for p, sub in resumed.optimizer.sub.items():
        assert sub.state[p] is resumed.optimizer.state[p]
        assert sub.state[p]["step"] == 2
    assert train(resumed, steps=2) == pytest.approx(expected, rel=1e-6)


@pytest.mark.compat(
    "in_backward",
    methods=["apollo_layerwise"],
    checks="per-layer steps inside backward give APOLLO's losses (SVD projection), every gradient freed",
)
def test_apollo_layerwise_matches_apollo_and_frees_each_gradient_in_backward():
    """With the deterministic SVD projection (no per-parameter seed), per-layer APOLLO is APOLLO
    stepped inside backward; with the random one every matrix draws from seed 1 + the run's seed,
    as LLaMA-Factory's per-parameter optimizers number their one parameter 1."""
    ref = method_from_yaml("apollo", tiny(), rank=RANK, lr=1e-2, proj="svd")
    model = tiny()
    lw = method_from_yaml("apollo_layerwise", model, rank=RANK, lr=1e-2, proj="svd")
    assert lw.updates_in_backward
    assert train(lw, steps=4) == pytest.approx(train(ref, steps=4), rel=1e-5)
    assert all(p.grad is None for p in model.parameters())

    random = method_from_yaml("apollo_layerwise", tiny(), rank=RANK, seed=3)
    seeds = {s["seed"] for s in random.optimizer.state.values() if "seed" in s}
    assert seeds == {4}


@pytest.mark.parametrize(("name", "rank"), [("apollo", RANK), ("apollo_mini", 1)])
def test_apollo_state_is_low_rank(name, rank):
    model = tiny()
    targets = {f"{n}.weight" for n in attn_mlp_linear_names(model)}
    method = method_from_yaml(name, model, rank=rank)
    train(method, steps=1)
    for pname, p in model.named_parameters():
        s = method.optimizer.state[p]
        if pname in targets:
            m, n = p.shape
            moment, proj = expected_lowrank_shapes(m, n, rank)
            assert s["exp_avg"].shape == s["exp_avg_sq"].shape == moment
            assert s["projector"].ortho_matrix.shape == proj  # random: its own storage
            assert s["projector"].ortho_matrix.untyped_storage().nbytes() == 4 * rank * (n if m >= n else m)
            assert s["scaled_grad"].numel() == 1  # the norm-growth limiter's previous norm
        else:
            assert s["exp_avg"].shape == p.shape


# ---------------------------------------------------------------- BAdam


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_badam_state_covers_only_the_active_block(dtype):
    model = tiny(dtype)
    blocks = find_blocks(model)
    method = method_from_yaml("badam", model, switch_block_every=3, switch_mode="descending")
    opt = method.optimizer
    base = opt.base_optimizer
    seen_blocks = []
    for step in range(4):
        active = [i for i, b in enumerate(blocks) if all(p.requires_grad for p in b.parameters())]
        assert len(active) == 1
        block = list(blocks[active[0]].parameters())
        others = [p for p in model.parameters() if all(p is not q for q in block)]
        assert all(not p.requires_grad for p in others)  # embeddings, head, other blocks
        seen_blocks.append(active[0])
        train(method, steps=1)
        assert all(p.grad is None for p in model.parameters())
        if step == 1:  # the first block gets K - 1 = 2 steps: after its 2nd step it switched
            assert not base.state  # Adam state dropped at the switch
            continue
        masters = [p for g in base.param_groups for p in g["params"]]
        n = sum(p.numel() for p in block)
        # fp32 master copies of the active block only, not sharing the model's storage
        assert sum(p.numel() for p in masters) == n and len(masters) == len(block)
        assert all(p.dtype == torch.float32 for p in masters)
        model_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
        assert all(p.untyped_storage().data_ptr() not in model_ptrs for p in masters)
        # Adam state keyed by the masters: 8 B/param (fp32 m, v) + a 4-byte step per tensor
        assert set(map(id, base.state)) == set(map(id, masters))
        assert nbytes(state_tensors(base, "exp_avg") + state_tensors(base, "exp_avg_sq")) == 8 * n
        assert nbytes(masters) == 4 * n  # so 12 B/param persist; the fp32 grad adds 4 in step()
        assert not opt.state  # the wrapper's own state stays empty: the meter reads extra_state
    assert seen_blocks == [1, 1, 0, 0]
    # The scheduler drives the wrapper's groups, which hold every parameter.
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


# ---------------------------------------------------------------- LOMO / AdaLomo


@pytest.mark.compat(
    "in_backward", checks="fp32 and bf16: the loss falls, one gradient alive at a time, no optimizer state"
)
@pytest.mark.parametrize("name", ["lomo", "adalomo"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_lomo_keeps_at_most_one_gradient_and_no_optimizer_state(name, dtype):
    model = tiny(dtype)
    method = method_from_yaml(name, model)
    assert method.updates_in_backward
    peak = [0]

    def count(_):  # after each accumulation: how many .grad are stored right now
        peak[0] = max(peak[0], sum(q.grad is not None for q in model.parameters()))

    for p in model.parameters():
        p.register_post_accumulate_grad_hook(count)
    before = [p.detach().clone() for p in model.parameters()]
    losses = train(method, steps=3)
    assert peak[0] == 1
    assert all(p.grad is None for p in model.parameters())
    assert not method.optimizer.state
    assert all(p.dtype == dtype for p in model.parameters())
    assert losses[-1] < losses[0]
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))

    # AdaLomo's factored second moment: fp32 row + column per matrix, a vector per 1-D tensor.
    state = [t for d in method.extra_state for t in d.values()]
    expected = sum(sum(p.shape) for p in model.parameters()) if name == "adalomo" else 0
    assert nbytes(state) == 4 * expected
    assert all(t.dtype == torch.float32 for t in state)

    # lr comes from param_groups[0]["lr"], where the LR scheduler writes it.
    method.optimizer.param_groups[0]["lr"] = 0.0
    frozen = [p.detach().clone() for p in model.parameters()]
    method.backward(loss_of(method))
    assert all(torch.equal(a, p) for a, p in zip(frozen, model.parameters(), strict=True))


# ---------------------------------------------------------------- through the app

# Eight training examples and batch size 8: every step sees the same batch, so the loss must fall.
APP = ["train.max_steps=10", "data.n_train=8", "eval.n_examples=2"]
SUMMARY_KEYS = {
    "status",
    "final_train_loss",
    "eval_exact_match",
    "mem_params_bytes",
    "mem_grads_bytes",
    "mem_state_bytes",
    "mem_activations_bytes",
    "mem_total_bytes",
    "peak_rss_bytes",
    "wall_clock_s",
    "step_time_median_s",
    "n_trainable_params",
}
LOWRANK = {
    "galore": RANK,
    "galore_layerwise": RANK,
    "galore8bit": RANK,
    "qgalore": 8,  # its quantization groups (128 values) must divide rank x 16
    "apollo": RANK,
    "apollo_layerwise": RANK,
    "apollo_mini": 1,
}


def app_run(tmp_path, name: str) -> tuple[dict, list[float]]:
    from helpers import run_job

    rank = [f"method.rank={LOWRANK[name]}"] if name in LOWRANK else []
    summary = run_job(tmp_path, f"method={name}", *APP, *rank)
    rows = (tmp_path / "default" / f"{name}-seed0" / "metrics.jsonl").read_text().splitlines()
    curve = [r["train/loss"] for r in map(json.loads, rows) if "train/loss" in r]
    return summary, curve


def fp32_adam_bytes(n: int) -> int:
    return 8 * n


def bnb_8bit_adam_bytes(n: int) -> int:
    """bitsandbytes: a tensor of >= 4096 values keeps each moment as uint8 codes + one fp32 absmax
    per block of 256; a smaller one fp32 moments (its two shared code tables counted once apart)."""
    return 2 * (n + 4 * -(-n // 256)) if n >= 4096 else 8 * n


BNB_CODE_TABLES = 2 * 256 * 4


def qgalore_state_bytes(model: nn.Module, rank: int, group: int) -> int:
    """Q-GaLore: 8-bit Adam as GaLore 8-bit; each projector (rank × the smaller side k) as one
    uint8 code per value + an fp32 scale and zero point per group, and the previous projector's
    first vector (k fp32 values)."""
    targets = {f"{n}.weight" for n in attn_mlp_linear_names(model)}
    total = BNB_CODE_TABLES
    for name, p in model.named_parameters():
        if name not in targets:
            total += bnb_8bit_adam_bytes(p.numel())
            continue
        k = min(p.shape)
        total += bnb_8bit_adam_bytes(rank * max(p.shape)) + rank * k + 2 * 4 * (rank * k // group) + 4 * k
    return total


def lowrank_state_bytes(
    model: nn.Module, rank: int, svd: bool, per_matrix_scalars: int, adam_bytes=fp32_adam_bytes
) -> int:
    """Hand count of GaLore/APOLLO state: Adam on the projected gradient + the projector's real
    storage (GaLore fp32: the whole SVD factor) for attn/mlp weights, full Adam elsewhere.
    The packages' ``step`` is a Python int: no bytes."""
    targets = {f"{n}.weight" for n in attn_mlp_linear_names(model)}
    total = 0
    for name, p in model.named_parameters():
        if name not in targets:
            total += adam_bytes(p.numel())
            continue
        m, n = p.shape
        moment = rank * (m if m >= n else n)
        k = min(m, n) if svd else rank
        proj = k * n if m >= n else m * k
        total += adam_bytes(moment) + 4 * (proj + per_matrix_scalars)
    return total


@pytest.mark.slow
@pytest.mark.parametrize("name", METHODS)
def test_default_job_through_the_app(tmp_path, name):
    s, curve = app_run(tmp_path, name)
    assert s["status"] == "ok" and SUMMARY_KEYS <= s.keys()
    assert len(curve) == 10 and curve[-1] < curve[0], curve
    assert s["mem_total_bytes"] == sum(
        s[f"mem_{k}_bytes"] for k in ("params", "grads", "state", "activations")
    )
    model = tiny()
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    if name != "lora":
        assert s["n_params"] == n  # the app's tiny model has the shapes of tiny()
    largest_grad = 4 * max(p.numel() for p in params)
    if name == "adamw":
        assert s["mem_state_bytes"] == 8 * n + 4 * len(params)
    elif name == "lora":
        linears = [m for k, m in model.named_modules() if isinstance(m, nn.Linear) and k != "lm_head"]
        n_adapter = sum(8 * (m.in_features + m.out_features) for m in linears)  # r = 8
        assert s["n_params"] == n + n_adapter
        assert s["n_trainable_params"] == n_adapter
        assert s["mem_grads_bytes"] == 4 * n_adapter
        assert s["mem_state_bytes"] == 8 * n_adapter + 4 * 2 * len(linears)
    elif name in ("galore", "galore_layerwise"):
        assert s["mem_state_bytes"] == lowrank_state_bytes(model, RANK, svd=True, per_matrix_scalars=0)
        full = 4 * n if name == "galore" else largest_grad  # layerwise: one gradient at a time
        assert s["mem_grads_bytes"] == full
    elif name == "galore8bit":
        assert s["mem_state_bytes"] == BNB_CODE_TABLES + lowrank_state_bytes(
            model, RANK, svd=True, per_matrix_scalars=0, adam_bytes=bnb_8bit_adam_bytes
        )
        assert s["mem_grads_bytes"] == 4 * n
    elif name == "qgalore":
        assert s["mem_state_bytes"] == qgalore_state_bytes(model, LOWRANK[name], group=128)
        assert s["mem_grads_bytes"] == 4 * n
    elif name in ("apollo", "apollo_layerwise", "apollo_mini"):
        assert s["mem_state_bytes"] == lowrank_state_bytes(
            model, LOWRANK[name], svd=False, per_matrix_scalars=1
        )
        assert s["mem_grads_bytes"] == (largest_grad if name == "apollo_layerwise" else 4 * n)
    elif name == "badam":  # K = 25 > 10 steps: one block, master + m + v, 4-byte step each
        block = list(find_blocks(model)[0].parameters())
        n_block = sum(p.numel() for p in block)
        assert s["n_trainable_params"] == n_block
        assert s["mem_grads_bytes"] == 4 * n_block
        assert s["mem_state_bytes"] == 12 * n_block + 4 * len(block)
    elif name in ("lomo", "adalomo"):
        assert s["mem_grads_bytes"] == largest_grad
        factored = 4 * sum(sum(p.shape) for p in params)
        assert s["mem_state_bytes"] == (factored if name == "adalomo" else 0)
    else:
        assert s["mem_state_bytes"] == NEW_BASELINE_STATE[name](model)


def muon_state_bytes(model: nn.Module) -> int:
    """Muon: one fp32 momentum buffer per hidden matrix; AdamW (m, v, a 4-byte step) on the rest."""
    hidden = {id(p) for b in find_blocks(model) for p in b.parameters() if p.ndim == 2}
    return sum(4 * p.numel() if id(p) in hidden else 8 * p.numel() + 4 for p in model.parameters())


def adafactor_state_bytes(model: nn.Module) -> int:
    """A row and a column of second moments per matrix, a full one per vector; a 4-byte step each."""
    return sum(4 * (sum(p.shape) if p.ndim == 2 else p.numel()) + 4 for p in model.parameters())


def adamw8bit_state_bytes(model: nn.Module, block: int = 256) -> int:
    """torchao: a tensor with >= 4096 values (divisible by the block) keeps each moment as uint8
    codes + an fp32 scale per block + its own 256-entry fp32 code table; smaller ones fp32 moments."""
    total = 0
    for p in model.parameters():
        n = p.numel()
        quantized = n >= 4096 and n % block == 0
        total += 2 * (n + 4 * n // block + 4 * 256) if quantized else 8 * n
        total += 4  # step
    return total


def adam_mini_state_bytes(model: nn.Module) -> int:
    """Adam-mini: fp32 m for every value; one fp32 v per head (q, k), per row (v, o, MLP,
    embeddings, head) or per tensor (norms)."""
    head = model.config.head_dim
    total = 0
    for name, p in model.named_parameters():
        if "q_proj" in name or "k_proj" in name:
            blocks = p.shape[0] // head
        elif "norm" in name:
            blocks = 1
        else:
            blocks = p.shape[0]
        total += 4 * p.numel() + 4 * blocks
    return total


NEW_BASELINE_STATE = {
    "muon": muon_state_bytes,
    "adafactor": adafactor_state_bytes,
    "adamw8bit": adamw8bit_state_bytes,
    "adamw8bit_bnb": lambda model: (
        BNB_CODE_TABLES + sum(bnb_8bit_adam_bytes(p.numel()) for p in model.parameters())
    ),
    "lion": lambda model: 4 * sum(p.numel() for p in model.parameters()),
    "schedulefree": lambda model: 8 * sum(p.numel() for p in model.parameters()),
    "adam_mini": adam_mini_state_bytes,
}


@pytest.mark.parametrize("name", ["lora", "badam", "galore_layerwise", "lomo"])
def test_frozen_or_in_backward_methods_train_with_gradient_checkpointing(tmp_path, name):
    """The loop's non-reentrant checkpointing works with frozen embeddings (LoRA, BAdam) and with
    updates inside backward (per-layer GaLore, LOMO): recomputed blocks see unchanged weights."""
    from helpers import run_job

    rank = [f"method.rank={LOWRANK[name]}"] if name in LOWRANK else []
    s = run_job(tmp_path / "ckpt", f"method={name}", *APP, *rank, "train.gradient_checkpointing=true")
    plain = run_job(tmp_path / "plain", f"method={name}", *APP, *rank)
    assert s["status"] == "ok"
    assert s["final_train_loss"] == pytest.approx(plain["final_train_loss"], rel=1e-4)
    assert s["mem_activations_bytes"] < plain["mem_activations_bytes"]


# ---------------------------------------------------------------- fp32 master weights


def test_master_weights_adamw_and_sgdm_against_float64_reference_and_counted_as_state():
    """bf16 weights with fp32 masters: the masters follow AdamW / SGDM written out in float64
    (to fp32 rounding), the model's weights are the masters rounded to bf16, and the meter counts
    the masters as optimizer state (Table I of SQ-MEFT: AdamW 12 B/param with the step, SGDM 8)."""
    from suite.measure.memory import state_bytes

    gen = torch.Generator().manual_seed(0)
    w0 = (0.02 * torch.randn(6, 5, generator=gen)).to(torch.bfloat16)
    grads = [torch.randn(6, 5, generator=gen).to(torch.bfloat16) for _ in range(4)]
    lr, b1, b2, eps, wd = 1e-5, 0.9, 0.999, 1e-8, 0.01
    for name, overrides in (("adamw", dict(weight_decay=wd)), ("sgd", dict(lr=1e-3, momentum=0.9))):
        model = nn.Linear(5, 6, bias=False).to(torch.bfloat16)
        with torch.no_grad():
            model.weight.copy_(w0)
        method = method_from_yaml(name, model, master_weights=True, **({"lr": lr} | overrides))
        x, m, v, buf = w0.double(), 0.0, 0.0, None
        for t, g in enumerate(grads, start=1):
            model.weight.grad = g.clone()
            method.optimizer.step()
            method.optimizer.zero_grad()
            g = g.double()
            if name == "adamw":
                x = x * (1 - lr * wd)
                m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
                x = x - lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps)
            else:
                buf = g if buf is None else 0.9 * buf + g
                x = x - 1e-3 * buf
        master = method.optimizer.masters[0]
        assert master.dtype == torch.float32
        torch.testing.assert_close(master.double(), x, rtol=1e-6, atol=1e-9)
        assert torch.equal(model.weight, master.to(torch.bfloat16))
        assert not torch.equal(model.weight, w0)  # steps far below bf16's spacing still land
        n = model.weight.numel()
        per_param = {"adamw": 4 + 8, "sgd": 4 + 4}[name]
        step_counter = 4 if name == "adamw" else 0
        assert state_bytes(method.optimizer, model) == per_param * n + step_counter
