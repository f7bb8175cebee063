"""``suite-estimate``: on the tiny model it equals the measured breakdown for every method; at
paper scale it builds the published architectures and follows the byte counts they imply."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import needs_cuda
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf
from transformers import set_seed

from suite.blocks import find_blocks
from suite.configs import CONF_DIR
from suite.errors import ConfigError
from suite.estimate.architecture import meta_model
from suite.estimate.meta import meta_step
from suite.estimate.run import estimate
from suite.loop import build_method, train_step, without
from suite.measure.memory import MemoryMeter

METHODS = sorted(p.stem for p in (CONF_DIR / "method").glob("*.yaml"))
# What real CPU steps can measure: a CUDA-only method cannot be built here (its estimate is
# counted by hand below, test_the_offloaded_adamw_estimate_counts_its_gpu_and_host_bytes).
MEASURED = [m for m in METHODS if needs_cuda(m) is None]
# The default tiny architecture, unpretrained (the weights' values do not change a byte count).
TINY_SETTING = ["train.batch_size=2", "data.max_length=48", "estimate.device=cpu", "model.pretrain_steps=0"]
EXACT = ("mem_params_bytes", "mem_grads_bytes", "mem_state_bytes")


def compose_estimate(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=["+estimate=default", *overrides])


def measured(cfg) -> dict[str, int]:
    """The breakdown of ``cfg.estimate.steps`` real CPU training steps, counted by the loop's code
    on full-length batches (the estimator's shape), the method seeded as the estimator seeds it."""
    model, _ = instantiate(without(cfg.model, "name"))
    if cfg.train.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    meter = MemoryMeter(model)
    set_seed(cfg.seed)
    method = build_method(cfg, model)
    meter.track(method.optimizer, method.extra_state, method.host_state)
    method.model.train()
    ids = torch.randint(
        3, 259, (cfg.train.batch_size, cfg.data.max_length), generator=torch.Generator().manual_seed(0)
    )
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    for _ in range(cfg.estimate.steps):
        train_step(
            method,
            [batch] * cfg.train.grad_accum,
            meter,
            contextlib.nullcontext(),
            method.grad_scaler,
            cfg.train.get("max_grad_norm"),
            loss_chunks=cfg.train.get("loss_chunks"),
        )
        meter.after_step()
    meter.close()
    return meter.breakdown().as_dict()


def assert_matches(overrides: list[str]) -> None:
    est = estimate(compose_estimate(*TINY_SETTING, *overrides)).to_json()
    real = measured(compose_estimate(*TINY_SETTING, *overrides))
    assert {k: est[k] for k in EXACT} == {k: real[k] for k in EXACT}, overrides
    assert real["mem_activations_bytes"] > 0
    assert est["mem_activations_bytes"] == pytest.approx(real["mem_activations_bytes"], rel=0.01), overrides


@pytest.mark.compat(
    "estimator",
    checks="on the tiny model the estimate's weight, gradient and state bytes equal the meter's over "
    "real CPU steps, activations within 1%",
)
@pytest.mark.slow
@pytest.mark.parametrize("method", MEASURED)
def test_tiny_estimate_equals_the_measured_breakdown(method):
    assert_matches([f"method={method}"])


@pytest.mark.compat(
    "estimator",
    methods=["adamw_offload"],
    checks="on the tiny model the estimate holds the weights, their gradients (offload_gradients=true: "
    "only the small tensors' and one at a time) and AdamW's m, v and 4-byte step for the tensors under "
    "minimal_size only, what torchao leaves on the GPU; as host state, each other tensor's copy, "
    "gradient, m, v and 4-byte step (counted by hand)",
)
def test_the_offloaded_adamw_estimate_counts_its_gpu_and_host_bytes():
    cfg = compose_estimate(*TINY_SETTING, "method=adamw_offload")
    params = list(meta_model(OmegaConf.to_container(cfg.model, resolve=True)).parameters())
    small = [p for p in params if p.numel() < cfg.method.minimal_size]
    large = [p for p in params if p.numel() >= cfg.method.minimal_size]
    assert small and large
    nbytes = sum(4 * p.numel() for p in params)
    est = estimate(cfg)
    got = est.memory
    assert (got.params, got.grads) == (nbytes, nbytes)
    assert got.state == sum(2 * 4 * p.numel() + 4 for p in small)
    assert est.host_state == sum(4 * 4 * p.numel() + 4 for p in large)
    assert est.to_json()["mem_host_state_bytes"] == est.host_state
    freed = estimate(compose_estimate(*TINY_SETTING, "method=adamw_offload", "method.offload_gradients=true"))
    small_grads = sum(4 * p.numel() for p in small)
    assert small_grads < freed.memory.grads <= small_grads + max(4 * p.numel() for p in large)
    assert freed.memory.state == got.state


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        ["method=adamw", "train.gradient_checkpointing=true"],
        ["method=absignsgd", "train.gradient_checkpointing=true"],
        ["method=lora", "train.gradient_checkpointing=true"],
        ["method=adamw", "train.grad_accum=2"],
        ["method=signsgd", "method.fused_backward=true"],
        ["method=badam", "model.dtype=bfloat16"],
        ["method=adamw", "train.loss_chunks=4"],
        ["method=lora", "train.loss_chunks=5", "train.gradient_checkpointing=true"],
        ["method=lomo", "train.loss_chunks=3", "model.dtype=bfloat16"],
    ],
    ids=lambda o: ",".join(o),
)
def test_tiny_estimate_equals_measured_with_checkpointing_accumulation_and_bf16(overrides):
    assert_matches(overrides)


def test_checkpointing_cuts_the_estimated_activations():
    plain = estimate(compose_estimate(*TINY_SETTING, "method=adamw"))
    checkpointed = estimate(
        compose_estimate(*TINY_SETTING, "method=adamw", "train.gradient_checkpointing=true")
    )
    assert checkpointed.memory.activations < plain.memory.activations / 2
    assert checkpointed.memory.state == plain.memory.state


def test_chunked_loss_cuts_the_estimated_activations_by_the_fp32_logits():
    """The plain loss saves the fp32 logits (batch x length x vocabulary x 4 bytes) for backward;
    chunks save none of them (the byte-level vocabulary has at least 256 entries)."""
    plain = estimate(compose_estimate(*TINY_SETTING, "method=adamw"))
    chunked = estimate(compose_estimate(*TINY_SETTING, "method=adamw", "train.loss_chunks=4"))
    assert plain.memory.activations - chunked.memory.activations >= 2 * 47 * 256 * 4
    assert chunked.memory.state == plain.memory.state


def test_the_experiments_padded_length_is_the_estimated_length():
    """An experiment's ``padded_length`` (a batch's expected longest sequence) is the sequence the
    estimator builds; without one, every sequence is at the cut-off."""
    cut = estimate(compose_estimate(*TINY_SETTING, "method=adamw"))
    padded = estimate(compose_estimate(*TINY_SETTING, "method=adamw", "+padded_length=24"))
    assert (cut.max_length, padded.max_length) == (48, 24)
    assert padded.memory.activations < cut.memory.activations
    assert padded.memory.state == cut.memory.state


# Published sizes: the model cards' parameter counts (Qwen3-8B 8.2B, Qwen3-32B 32.8B; Llama-3-8B
# 8.03B; LLaMA-7B 6.7B, Touvron et al. 2023, arXiv 2302.13971 Table 2).
PUBLISHED_BILLIONS = {"qwen3_8b": 8.19, "qwen3_32b": 32.76, "llama3_8b": 8.03, "llama_7b": 6.74}


@pytest.mark.parametrize("name", sorted(PUBLISHED_BILLIONS))
def test_published_architecture_on_meta_has_the_published_size_in_bf16(name):
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / f"{name}.yaml"))
    model = meta_model(cfg)
    params = list(model.parameters())
    assert round(sum(p.numel() for p in params) / 1e9, 2) == PUBLISHED_BILLIONS[name]
    assert {p.device.type for p in params} == {"meta"} and {p.dtype for p in params} == {torch.bfloat16}


def test_qwen3_8b_bytes_follow_from_its_parameters():
    """bf16 AdamW: params = grads = 2 B/param, state = 4 B/param + a 4-byte step per tensor;
    ABSignSGD: no state, gradients of one block at most (the embeddings and head are frozen)."""
    setting = ["model=qwen3_8b", "train.batch_size=1", "data.max_length=64"]
    adamw = estimate(compose_estimate(*setting, "method=adamw"))
    n, tensors = (
        adamw.n_params,
        len(list(meta_model(OmegaConf.to_container(compose_estimate(*setting).model)).parameters())),
    )
    assert adamw.memory.params == adamw.memory.grads == 2 * n
    assert adamw.memory.state == 4 * n + 4 * tensors
    absign = estimate(compose_estimate(*setting, "method=absignsgd"))
    model = meta_model(OmegaConf.to_container(compose_estimate(*setting).model))
    largest_block = max(2 * sum(p.numel() for p in b.parameters()) for b in find_blocks(model))
    assert absign.memory.state == 0
    assert 0 < absign.memory.grads <= largest_block
    assert absign.memory.activations < adamw.memory.activations


def test_meta_step_restores_torch_on_exit():
    generator, attention = torch.Generator, F.scaled_dot_product_attention
    x = torch.ones(3, device="meta")
    with meta_step("cuda"):
        assert float(x.sum()) == 1.0 and bool((x > 0).all()) and x.tolist() == [1.0, 1.0, 1.0]
        assert torch.Generator(device="meta").device.type == "cpu"
    assert torch.Generator is generator and F.scaled_dot_product_attention is attention
    with pytest.raises(RuntimeError):
        float(x.sum())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["estimate.device=tpu"], "estimate.device='tpu' is not known; allowed: cpu, cuda"),
        (["estimate.steps=0"], "estimate.steps=0 is out of range"),
        (["train.autocast=bf16"], "train.autocast=bf16 cannot be estimated"),
        (["train.batch_size=0"], "train.batch_size=0 is out of range"),
        (["estimate.length=2000"], "estimate.length=2000 is out of range; allowed: an integer from 1 to"),
        (["model=qwen3_8b", "~model.architecture"], "loads a checkpoint and has no architecture"),
    ],
)
def test_bad_settings_stop_with_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        estimate(compose_estimate(*overrides))


@pytest.mark.slow
def test_cli_multirun_prints_every_method_on_qwen3_8b(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from suite.estimate.cli import main; main()",
            "-m",
            "model=qwen3_8b",
            "method=glob(*)",
            "train.batch_size=1",
            "data.max_length=128",
            f"estimate.out={tmp_path}",
            f"results_dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for method in METHODS:
        assert re.search(rf"\|\s*qwen3_8b\s*\|\s*{method}\s*\|", out), method
    assert {p.name for p in tmp_path.iterdir()} >= {"table.md", "table.csv", "estimates.json"}
    assert len((tmp_path / "table.csv").read_text().splitlines()) == 1 + len(METHODS)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((torch.bfloat16, (4, 1, 8)), (torch.float32, ())),  # 0-dim fp32 does not promote bf16
        ((torch.bfloat16, (4, 1, 8)), (torch.float32, (3, 8))),  # broadcast, promoted to fp32
        ((torch.float32, (8, 4)), 2.0),
    ],
)
def test_pointwise_short_path_gives_torchs_own_meta_result(a, b):
    def make(spec):
        return torch.empty(spec[1], dtype=spec[0], device="meta") if isinstance(spec, tuple) else spec

    x, y = make(a), make(b)
    for op in (torch.mul, torch.add, torch.sub, torch.div):
        want = op(x, y)
        with meta_step("cpu"):
            got = op(x, y)
        assert (got.shape, got.dtype, got.stride()) == (want.shape, want.dtype, want.stride()), op


def test_first_block_is_the_worst_block_of_a_block_method():
    from suite.estimate.published import WORST_BLOCK

    for method in ("absignsgd", "badam"):
        worst = estimate(compose_estimate(*TINY_SETTING, f"method={method}", *WORST_BLOCK[method]))
        for seed in range(3):
            other = estimate(compose_estimate(*TINY_SETTING, f"method={method}", f"seed={seed}"))
            assert other.memory.activations <= worst.memory.activations
            assert other.memory.params == worst.memory.params
            assert other.memory.state == worst.memory.state


@pytest.mark.slow
def test_committed_paper_estimate_is_reproduced():
    """The SQ-MEFT Table IV LOMO row of results/estimates/estimates.json, estimated afresh."""
    import json

    from suite.estimate.published import TABLE4, estimate_row

    committed = json.loads((Path(__file__).parents[1] / "results/estimates/estimates.json").read_text())
    row = next(r for r in TABLE4.rows if r.label == "LOMO")
    fresh, _ = estimate_row(TABLE4, row, next(iter(TABLE4.settings.values())))
    (old,) = [e for e in committed if e["model"] == "llama_7b" and e["method"] == "lomo"]
    assert fresh.to_json() == old


def test_committed_table2_rows_are_within_15_percent_at_the_paper_files_length():
    """results/estimates: every Table 2 row as the paper files run it (GaLore and APOLLO
    layer-wise), at the files' padded_length, within 15% of the published GB."""
    import json

    from omegaconf import OmegaConf

    from suite.estimate.published import TABLE2

    length = OmegaConf.load(
        Path(__file__).parents[1] / "experiments/paper_absignsgd_table2.yaml"
    ).padded_length
    committed = json.loads((Path(__file__).parents[1] / "results/estimates/estimates.json").read_text())
    found = {e["method"]: e for e in committed if e["model"] == "qwen3_8b" and e["max_length"] == length}
    as_run = [r for r in TABLE2.rows if r.method not in ("galore", "apollo")]
    assert len(as_run) == 5
    for row in as_run:
        ratio = found[row.method]["mem_total_bytes"] / 2**30 / row.published["total"]
        assert abs(ratio - 1) <= 0.15, (row.label, row.method, ratio)


def test_committed_every_method_table_names_every_method():
    """results/estimates/table.md estimates every method of conf/method at the Table 2 file's
    setting, so a method added later shows up there once the table is regenerated."""
    text = (Path(__file__).parents[1] / "results/estimates/table.md").read_text()
    section = text.split("### Every method at the Table 2 file's setting")[1].split("###")[0]
    rows = {line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")}
    assert rows - {"method"} == set(METHODS)
