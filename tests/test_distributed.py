"""Training under torchrun (suite/distributed.py): what may run, the shards, the vote, the bytes,
and two gloo ranks on CPU that equal one process when they see the same data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import FAST, NARROW, TINY, compose_job, run_job
from omegaconf import OmegaConf
from safetensors.torch import load_file

from suite import compat, distributed, traits
from suite.blocks import find_blocks
from suite.configs import CONF_DIR
from suite.errors import ConfigError

TWO_RANKS = distributed.World(rank=0, size=2, local_rank=0)
METHODS = tuple(compat.cells_where("torchrun", refused=False))  # every method torchrun runs


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["method=badam"], "method=badam cannot run under torchrun"),
        (["method=absignsgd"], "method=absignsgd cannot run under torchrun: each rank would step its own"),
        (["method=lomo"], "method=lomo cannot run under torchrun"),
        (["method=signsgd", "method.fused_backward=true"], "method.fused_backward=true cannot run"),
        (
            ["distributed.strategy=fsdp", "method=galore", "method.rank=8"],
            "method=galore cannot run with distributed.strategy=fsdp: its",
        ),
        (
            ["distributed.strategy=fsdp", "method=signsgd"],
            "signsgd cannot run with distributed.strategy=fsdp: its ranks vote",
        ),
        (["distributed.strategy=fsdp", "method=badam"], "method=badam cannot run under torchrun"),
        (
            ["distributed.strategy=fsdp", "method=adafactor"],
            "method=adafactor cannot run with distributed.strategy=fsdp: its second moment's column factor",
        ),
        (
            ["distributed.strategy=fsdp", "method.master_weights=true"],
            "master_weights=true cannot run with distributed",
        ),
        (
            ["distributed.strategy=fsdp", "method=lora", "save_checkpoint=true"],
            "save_checkpoint=true cannot run",
        ),
        (["distributed.strategy=zero3"], "distributed.strategy='zero3' is not known; allowed: ddp, fsdp"),
        (
            ["distributed.mixed_precision=fp8"],
            "distributed.mixed_precision='fp8' is not known; allowed: null, bf16",
        ),
    ],
)
def test_what_cannot_run_distributed_is_refused_before_any_work(overrides, message, monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match=message):
        run_job(tmp_path, *overrides)
    assert not any(tmp_path.iterdir())  # refused before the run folder was made


@pytest.mark.parametrize(("written", "now"), [(1, 2), (2, 1)])
def test_resume_at_another_world_size_is_refused_before_any_work(written, now, monkeypatch, tmp_path):
    """A checkpointed run that stopped early (SIGTERM leaves ``interrupted``) continues only on
    the number of ranks it was run on."""
    run_job(tmp_path, "train.checkpoint_every=2", "train.max_steps=2", "eval.n_examples=0")
    run_dir = tmp_path / "default" / "adamw-seed0"
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["status"] = "interrupted"
    if written > 1:
        summary["world_size"] = written
    (run_dir / "summary.json").write_text(json.dumps(summary))
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    monkeypatch.setenv("WORLD_SIZE", str(now))
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(
        ConfigError, match=f"was run on {written} rank.s. and this run has {now}; resume it with"
    ):
        run_job(tmp_path, "train.checkpoint_every=2", "train.max_steps=2", "eval.n_examples=0", "resume=true")
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before


METHOD_YAMLS = sorted((CONF_DIR / "method").glob("*.yaml"))


def _mode(path: Path) -> str:
    return traits.of(OmegaConf.load(path)).distributed


@pytest.mark.parametrize("method", [p.stem for p in METHOD_YAMLS if _mode(p) != "refused"])
def test_methods_whose_traits_allow_torchrun_pass_the_check(method):
    distributed.check(compose_job(f"method={method}"), TWO_RANKS)


def test_how_each_suite_method_runs_under_torchrun():
    """As the methods' YAMLs declare it: DDP, or a vote in the optimizer's step on each rank's own
    sign (no suite method leaves the vote to the loop: that is for a plugin's momentum-free sign)."""
    modes: dict[str, set[str]] = {}
    for path in METHOD_YAMLS:
        modes.setdefault(_mode(path), set()).add(path.stem)
    averaged = {"adamw", "alias", "alias_adam", "apollo", "apollo_mini", "galore", "lora", "sgd"}
    averaged |= {"muon", "adafactor", "adamw8bit", "adamw8bit_bnb", "galore8bit", "qgalore"}
    averaged |= {"lion", "schedulefree"}
    assert modes["averaged"] == averaged
    assert "voted" not in modes and modes["voted_in_step"] == {"absignsgd_mv", "signsgd", "stosignsgd"}
    sharded = {p.stem for p in METHOD_YAMLS if traits.of(OmegaConf.load(p)).fsdp}
    assert sharded == {"adamw", "sgd", "lora"}


def test_shards_are_disjoint_equal_and_cover_all_but_the_remainder():
    data = list(range(11))
    shards = [list(distributed.shard(data, distributed.World(r, 3, r))) for r in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]
    assert sorted(x for s in shards for x in s) == list(range(9))
    assert distributed.shard(data, distributed.World(0, 1, 0)) is data


def test_traffic_counts_the_payload_beside_fp32_and_bf16():
    traffic = distributed.Traffic()
    traffic.count(100, 1)  # 100 int8 votes
    traffic.count(10, 4)  # an fp32 bucket of 10
    assert traffic.end_step() == {"sent": 140, "fp32_equiv": 440, "bf16_equiv": 220}
    traffic.count(50, 1)
    traffic.end_step()
    assert traffic.summary() == {
        "comm_sent_bytes_per_step": 95.0,
        "comm_fp32_equiv_bytes_per_step": 320.0,
        "comm_bf16_equiv_bytes_per_step": 160.0,
    }


VOTE_GRADS = [  # rank -> two gradients; zeros, a NaN and opposite signs (ties) included
    [torch.tensor([1.0, -2.0, 0.0, 3.0, float("nan")]), torch.tensor([[0.5, -0.5], [2.0, 0.0]])],
    [torch.tensor([4.0, 1.0, -1.0, -3.0, 2.0]), torch.tensor([[0.1, -0.2], [-1.0, 0.0]])],
]


def _vote_worker(rank: int, init_file: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    grads = [g.clone() for g in VOTE_GRADS[rank]]
    traffic = distributed.Traffic()
    distributed.vote(grads, traffic)
    torch.save({"grads": grads, "traffic": traffic.end_step()}, f"{out}.{rank}")
    dist.destroy_process_group()


@pytest.mark.slow
def test_vote_of_two_gloo_ranks_matches_a_float64_reference(tmp_path):
    import torch.multiprocessing as mp

    out = str(tmp_path / "vote")
    mp.spawn(_vote_worker, args=(str(tmp_path / "init"), out), nprocs=2, join=True)
    for rank in range(2):
        result = torch.load(f"{out}.{rank}")
        for i, got in enumerate(result["grads"]):
            votes = sum(torch.sign(torch.nan_to_num(VOTE_GRADS[r][i].double(), nan=0.0)) for r in range(2))
            assert torch.equal(got.double(), torch.sign(votes))
        assert result["traffic"] == {"sent": 9, "fp32_equiv": 36, "bf16_equiv": 18}


def _adafactor_worker(rank: int, init_file: str, out: str) -> None:
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    errors = {}
    for foreach in (False, True):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4))
        for layer in (model[0], model[2]):
            fully_shard(layer)
        fully_shard(model)
        model(torch.randn(16, 6)).square().mean().backward()
        try:
            torch.optim.Adafactor(model.parameters(), foreach=foreach).step()
        except RuntimeError as err:
            errors[foreach] = str(err)
    torch.save(errors, f"{out}.{rank}")
    dist.destroy_process_group()


@pytest.mark.slow
def test_torch_adafactor_cannot_step_on_fsdp_shards(tmp_path):
    """Why ``method=adafactor`` is refused under FSDP (its traits.fsdp_refused_because): on a
    row-sharded gradient the column mean square is a norm summed over the ranks (a DTensor
    partial), which torch.optim.Adafactor squares in place, and DTensor raises, in both its
    single-tensor and foreach paths. When torch computes it, this test fails: compare the
    step with one process and allow the method."""
    import torch.multiprocessing as mp

    out = str(tmp_path / "adafactor")
    mp.spawn(_adafactor_worker, args=(str(tmp_path / "init"), out), nprocs=2, join=True)
    for rank in range(2):
        errors = torch.load(f"{out}.{rank}")
        assert set(errors) == {False, True}
        assert all("in-place operations that require placement changes" in e for e in errors.values())


def _ranks_run(root: Path, method: str, *, shard_data: bool) -> Path:
    return root / "ranks" / "default" / f"{method}-shard_data_{shard_data}"


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "checkpoint" / "model.safetensors")


def _rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "train/loss" in r]


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory, suite_cache):
    """Each method in one process, then one torchrun multirun on two gloo ranks: each method with
    the same data on both ranks (``<method>-shard_data_False``) and with a shard each (``..._True``)."""
    root = tmp_path_factory.mktemp("distributed")
    # Two micro-batches a step: DDP must still all-reduce once per step.
    common = ["train.max_steps=4", "train.grad_accum=2", "eval.n_examples=0", "save_checkpoint=true"]
    single = {m: run_job(root / "single", f"method={m}", *common, *NARROW.get(m, [])) for m in METHODS}
    suite_train = Path(sys.executable).parent / "suite-train"
    groups: dict[tuple[str, ...], list[str]] = {}  # one multirun per set of extra overrides
    for m in METHODS:
        groups.setdefault(tuple(NARROW.get(m, [])), []).append(m)
    for extra, methods in groups.items():
        command = [
            *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"),
            *(str(suite_train), "-m", *TINY, *FAST, *common),
            *(f"{o.partition('=')[0]}=choice({o.partition('=')[2]})" for o in extra),  # swept with method
            f"results_dir={root / 'ranks'}",
            "distributed.shard_data=false,true",
            f"method={','.join(methods)}",
            "run_name=${method.name}-shard_data_${distributed.shard_data}",
        ]
        env = os.environ | {"OMP_NUM_THREADS": "1"}
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root, single


@pytest.mark.slow
@pytest.mark.compat(
    "torchrun",
    checks="two gloo ranks given the same data end with the one-process weights (averaged: within "
    "fp32 tolerance; voted: bitwise) and losses, two micro-batches a step",
)
# StoSignSGD's ranks draw their own noise by default, so its equality with one process is tested
# with method.noise_per_rank=false below (test_signum_and_stosignsgd_...).
@pytest.mark.parametrize("method", [m for m in METHODS if m != "stosignsgd"])
def test_two_ranks_with_the_same_data_equal_one_process(two_rank_runs, method):
    root, _ = two_rank_runs
    one, two = root / "single" / "default" / f"{method}-seed0", _ranks_run(root, method, shard_data=False)
    a, b = _weights(one), _weights(two)
    assert a.keys() == b.keys()
    if _mode(CONF_DIR / "method" / f"{method}.yaml") == "averaged":  # the mean of equal gradients
        for k in a:
            torch.testing.assert_close(b[k], a[k])
    else:  # bitwise: the vote of two equal signs is the sign
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["train/loss"] for r in _rows(two)] == pytest.approx([r["train/loss"] for r in _rows(one)])


@pytest.mark.slow
def test_bytes_per_step_are_the_int8_block_for_absignsgd_mv(two_rank_runs):
    """ABSignSGD-MV sends one int8 per parameter of its active block: a quarter of fp32 averaging."""
    root, _ = two_rank_runs
    run_dir = _ranks_run(root, "absignsgd_mv", shard_data=False)
    model, _ = _tiny_model()
    sizes = {sum(p.numel() for p in block.parameters()) for block in find_blocks(model)}
    assert len(sizes) == 1  # every block of the tiny model has the same size
    block = sizes.pop()
    for row in _rows(run_dir):
        assert row["comm/sent_bytes"] == block
        assert row["comm/fp32_equiv_bytes"] == 4 * block
        assert row["comm/bf16_equiv_bytes"] == 2 * block
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["comm_sent_bytes_per_step"] == block
    assert summary["comm_fp32_equiv_bytes_per_step"] == 4 * block
    assert summary["world_size"] == 2 and summary["distributed"] == "vote"


@pytest.mark.slow
@pytest.mark.parametrize(("method", "bytes_per_param"), [("signsgd", 1), ("adamw", 4)])
def test_bytes_per_step_of_the_whole_model(two_rank_runs, method, bytes_per_param):
    """SignSGD's vote: one int8 per trainable parameter; DDP: its fp32 buckets of every gradient,
    once per step although each step has two micro-batches."""
    root, single = two_rank_runs
    n = single[method]["n_trainable_params"]
    summary = json.loads((_ranks_run(root, method, shard_data=False) / "summary.json").read_text())
    assert summary["comm_sent_bytes_per_step"] == bytes_per_param * n
    assert summary["comm_fp32_equiv_bytes_per_step"] == 4 * n


@pytest.mark.slow
def test_rank_zero_writes_and_every_rank_peak_is_recorded(two_rank_runs):
    root, _ = two_rank_runs
    run_dir = _ranks_run(root, "signsgd", shard_data=False)
    summary = json.loads((run_dir / "summary.json").read_text())
    per_rank = summary["peak_rss_bytes_per_rank"]
    assert len(per_rank) == 2 and summary["peak_rss_bytes"] == max(per_rank) > 0
    assert summary["status"] == "ok" and summary["steps"] == 4
    assert len(_rows(run_dir)) == 4  # one writer: each step logged once


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_ranks_on_their_own_shards_stay_in_step(two_rank_runs, method):
    """Different data on each rank: the weights still agree across the ranks (averaged or voted
    gradients), and differ from the one-process run (the ranks did see other data)."""
    root, _ = two_rank_runs
    sharded = _ranks_run(root, method, shard_data=True)
    summary = json.loads((sharded / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["ranks_weights_agree"] is True
    same = json.loads((_ranks_run(root, method, shard_data=False) / "summary.json").read_text())
    assert same["ranks_weights_agree"] is True
    a, b = _weights(sharded), _weights(root / "single" / "default" / f"{method}-seed0")
    assert any(not torch.equal(a[k], b[k]) for k in a)


def _tiny_model():
    from hydra.utils import instantiate

    from suite.loop import without

    return instantiate(without(compose_job().model, "name", "architecture"))


def _torchrun(root: Path, *overrides: str) -> None:
    """``torchrun --nproc_per_node=2`` (gloo on CPU, one thread per rank) of a tiny multirun."""
    suite_train = Path(sys.executable).parent / "suite-train"
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone"),
        *(str(suite_train), "-m", *TINY, *FAST, f"results_dir={root}", *overrides),
    ]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def sign_vote_runs(tmp_path_factory, suite_cache):
    """Signum and StoSignSGD in one process, then on two gloo ranks with the same data: Signum, and
    StoSignSGD with rank 0's noise on both ranks and with each rank's own noise."""
    root = tmp_path_factory.mktemp("sign_votes")
    common = ["train.max_steps=4", "eval.n_examples=0", "save_checkpoint=true"]
    single = {
        "signum": run_job(
            root / "single", "method=signsgd", "method.momentum=0.9", "run_name=signum", *common
        ),
        "stosignsgd": run_job(root / "single", "method=stosignsgd", "run_name=stosignsgd", *common),
    }
    ranks = [*common, "distributed.shard_data=false"]
    _torchrun(root / "ranks", "method=signsgd", "method.momentum=0.9", "run_name=signum", *ranks)
    _torchrun(
        root / "ranks",
        "method=stosignsgd",
        "method.noise_per_rank=false,true",
        "run_name=stosignsgd-noise_per_rank_${method.noise_per_rank}",
        *ranks,
    )
    return root, single


@pytest.mark.slow
@pytest.mark.compat(
    "torchrun",
    methods=["stosignsgd"],
    checks="two gloo ranks given the same data and the same noise (method.noise_per_rank=false) end "
    "with the one-process weights bitwise; each rank's own noise is tested below",
)
@pytest.mark.parametrize(
    ("run", "alone"), [("signum", "signum"), ("stosignsgd-noise_per_rank_False", "stosignsgd")]
)
def test_signum_and_stosignsgd_voted_on_the_same_data_equal_one_process(sign_vote_runs, run, alone):
    """Each rank's momentum (and noise) the same: the vote of two equal signs is the sign, bitwise;
    one int8 per trainable parameter is sent each step, a quarter of fp32 averaging."""
    root, single = sign_vote_runs
    two = root / "ranks" / "default" / run
    a, b = _weights(root / "single" / "default" / alone), _weights(two)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    summary = json.loads((two / "summary.json").read_text())
    n = single[alone]["n_trainable_params"]
    assert summary["distributed"] == "vote" and summary["ranks_weights_agree"] is True
    assert summary["comm_sent_bytes_per_step"] == n and summary["comm_fp32_equiv_bytes_per_step"] == 4 * n
    assert all(r["comm/sent_bytes"] == n for r in _rows(two))


@pytest.mark.slow
def test_stosignsgd_ranks_draw_their_own_noise_and_still_agree(sign_vote_runs):
    """Each rank's own noise: the ranks' signs differ where the noise decides them, so the vote
    differs from one process (ties give 0), yet every rank applies the same vote."""
    root, _ = sign_vote_runs
    two = root / "ranks" / "default" / "stosignsgd-noise_per_rank_True"
    summary = json.loads((two / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["ranks_weights_agree"] is True
    a, b = _weights(root / "single" / "default" / "stosignsgd"), _weights(two)
    assert any(not torch.equal(a[k], b[k]) for k in a)


FSDP_STEPS = ["train.max_steps=20", "train.grad_accum=2", "eval.n_examples=0", "save_checkpoint=true"]


@pytest.fixture(scope="module")
def fsdp_runs(tmp_path_factory, suite_cache):
    """AdamW in one process, then under FSDP on two gloo ranks with the same data on both."""
    root = tmp_path_factory.mktemp("fsdp")
    single = run_job(root / "single", "method=adamw", *FSDP_STEPS)
    _torchrun(
        root / "ranks",
        "method=adamw",
        "distributed.strategy=fsdp",
        "distributed.shard_data=false",
        *FSDP_STEPS,
    )
    summary = json.loads((root / "ranks" / "default" / "adamw-seed0" / "summary.json").read_text())
    return root, single, summary


@pytest.mark.slow
def test_fsdp_adamw_on_two_ranks_equals_one_process(fsdp_runs):
    """20 steps of two micro-batches, each rank holding half of every weight, gradient and state
    tensor: the gathered weights equal the one-process run's within float32 rounding."""
    root, _, summary = fsdp_runs
    assert summary["status"] == "ok" and summary["distributed"] == "fsdp" and summary["steps"] == 20
    a = _weights(root / "single" / "default" / "adamw-seed0")
    b = _weights(root / "ranks" / "default" / "adamw-seed0")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_fsdp_ranks_hold_half_and_the_estimator_says_so(fsdp_runs):
    """Every dimension of the tiny model is even, so each of two ranks holds exactly half of the
    parameters and gradients; of AdamW's state all but the per-tensor scalar step (4 bytes a
    tensor, whole on every rank). The estimator, on the meta device, gives the same bytes."""
    from suite.estimate.run import estimate

    _, single, summary = fsdp_runs
    n_tensors = len(list(_tiny_model()[0].parameters()))
    for key in ("params", "grads", "state"):
        per_rank = summary[f"mem_{key}_bytes_per_rank"]
        assert len(per_rank) == 2 and per_rank[0] == per_rank[1] == summary[f"mem_{key}_bytes"]
        scalars = 4 * n_tensors if key == "state" else 0
        assert per_rank[0] == (single[f"mem_{key}_bytes"] - scalars) / 2 + scalars
    cfg = compose_job(
        "+estimate=default", "method=adamw", "distributed.world_size=2", "distributed.strategy=fsdp"
    )
    estimated = estimate(cfg).to_json()
    for key in ("params", "grads", "state"):
        assert estimated[f"mem_{key}_bytes"] == summary[f"mem_{key}_bytes"]


@pytest.mark.slow
def test_fsdp_collective_bytes_per_step_are_the_hand_count(fsdp_runs):
    """Each of the two micro-batches all-gathers every fp32 weight for its forward, and the two
    transformer blocks' again for their backward (FSDP2 reshards the blocks after forward, not the
    root); the step's gradients are reduce-scattered once, whole-model sized. Nothing is
    all-reduced (AdamW holds no replicated parameter)."""
    root, _, summary = fsdp_runs
    model, _ = _tiny_model()
    everything = sum(p.numel() for p in model.parameters())
    blocks = sum(p.numel() for block in find_blocks(model) for p in block.parameters())
    gathered, reduced = 4 * 2 * (everything + blocks), 4 * everything
    rows = _rows(root / "ranks" / "default" / "adamw-seed0")
    assert len(rows) == 20
    assert all(
        r["comm/all_gather_bytes"] == gathered and r["comm/reduce_scatter_bytes"] == reduced for r in rows
    )
    assert summary["comm_all_gather_bytes_per_step"] == gathered
    assert summary["comm_reduce_scatter_bytes_per_step"] == reduced
    assert summary["comm_sent_bytes_per_step"] == 0


LORA_STEPS = ["train.max_steps=20", "train.grad_accum=2", "eval.n_examples=0", "train.checkpoint_every=20"]


def _adapters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if ".lora_" in k}


@pytest.mark.slow
def test_fsdp_lora_on_two_ranks_equals_one_process(tmp_path, suite_cache):
    """LoRA under FSDP (the frozen base sharded, the adapters whole on each rank and averaged), two
    gloo ranks with the same data: after 20 steps of two micro-batches the adapters, read from the
    run's last sharded checkpoint, equal the one-process run's within float32 rounding; the bytes
    each step sends are the adapters' gradients and the base's all-gathers."""
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    from suite.track import checkpoint

    run_job(tmp_path / "single", "method=lora", *LORA_STEPS)
    _torchrun(
        tmp_path / "ranks",
        "method=lora",
        "distributed.strategy=fsdp",
        "distributed.shard_data=false",
        *LORA_STEPS,
    )
    run_dir = tmp_path / "ranks" / "default" / "lora-seed0"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["distributed"] == "fsdp" and summary["steps"] == 20
    dcp_to_torch_save(run_dir / "resume-shards-step20", tmp_path / "ranks.pt")
    two = _adapters(torch.load(tmp_path / "ranks.pt")["model"])
    one = _adapters(checkpoint.load(tmp_path / "single" / "default" / "lora-seed0" / "resume.pt")["model"])
    assert one and one.keys() == two.keys()
    for k in one:
        torch.testing.assert_close(two[k], one[k], rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(one[k], torch.zeros_like(one[k])) for k in one if "lora_B" in k)  # trained
    # the adapters' fp32 gradients all-reduced once a step; the frozen base has none to reduce-scatter
    assert summary["comm_sent_bytes_per_step"] == 4 * sum(v.numel() for v in one.values())
    assert summary["comm_reduce_scatter_bytes_per_step"] == 0 < summary["comm_all_gather_bytes_per_step"]
