"""Training under ``torchrun``: the process group, which methods run how, the sign vote, the bytes sent.

``torchrun --nproc_per_node=K suite-train ...`` starts K copies of the app; each reads RANK,
WORLD_SIZE and LOCAL_RANK from its environment. Gradient-averaging methods run under
``torch.nn.parallel.DistributedDataParallel`` (``distributed.strategy=ddp``) or, where the
method's ``traits.fsdp`` allows, FSDP2 (``distributed.strategy=fsdp``: ``fully_shard`` per
transformer block and on the root, so each rank holds 1/K of the weights, gradients and
optimizer state as DTensor shards; Zhao et al., PyTorch FSDP, VLDB 2023, arXiv 2304.11277);
sign methods replace averaging by a majority vote of int8 signs (signSGD with majority vote,
Bernstein et al., ICLR 2019, arXiv 1810.05291, Alg. 1): ``g <- sign(sum_j sign(g_j))``, a tie
giving 0 (the coordinate stays).
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from omegaconf import DictConfig
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.utils.data import Dataset, Subset

from suite import traits
from suite.blocks import find_blocks
from suite.errors import ConfigError
from suite.methods import Method
from suite.track.store import CHECKPOINT, FINISHED, RunFolder, run_folder

VOTE_DTYPE = torch.int8  # a sum of K votes in [-K, K] fits for K <= 127
STRATEGIES = ("ddp", "fsdp")
MIXED_PRECISION = {None: None, "bf16": torch.bfloat16}  # FSDP's compute dtype


@dataclass(frozen=True)
class World:
    """This process's place among the ranks torchrun started (one process: rank 0 of 1)."""

    rank: int
    size: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World:
    env = os.environ
    return World(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def check(cfg: DictConfig, world: World) -> None:
    """Refuse, in one line and before any work, what cannot run on ``world.size`` > 1 ranks (what
    the method's traits, suite/traits.py, refuse or require), and resuming a run on another number
    of ranks than it was started with."""
    check_resumed_world(cfg, world)
    strategy, precision = cfg.distributed.strategy, cfg.distributed.mixed_precision
    if strategy not in STRATEGIES:
        raise ConfigError(f"distributed.strategy={strategy!r} is not known; allowed: {', '.join(STRATEGIES)}")
    if precision not in MIXED_PRECISION:
        raise ConfigError(f"distributed.mixed_precision={precision!r} is not known; allowed: null, bf16")
    if world.size == 1:
        return
    name, declared = cfg.method.name, traits.of(cfg.method)
    if declared.distributed == "refused":
        raise ConfigError(f"method={name} cannot run under torchrun: {declared.refused_because}")
    if declared.in_backward(cfg.method):
        raise ConfigError(
            f"method.{declared.updates_in_backward}=true cannot run under torchrun (the update runs inside "
            f"backward, before the ranks combine their gradients); use false for {name}"
        )
    for condition in declared.distributed_requires:
        if not condition.holds(cfg.method):
            raise ConfigError(
                f"method.{condition.key}={cfg.method.get(condition.key)} cannot run under torchrun: "
                f"{name} needs {condition}"
            )
    if world.size > torch.iinfo(VOTE_DTYPE).max and declared.distributed != "averaged":
        raise ConfigError(f"the int8 sign vote allows at most 127 ranks, got {world.size}")
    if strategy == "fsdp":
        check_fsdp(cfg)


def check_fsdp(cfg: DictConfig) -> None:
    """What ``distributed.strategy=fsdp`` refuses: a method whose traits do not allow it, fp32
    master copies beside sharded weights, and what needs each rank's whole model (resume does
    not: each rank checkpoints its shards, suite/track/shards.py)."""
    name, declared = cfg.method.name, traits.of(cfg.method)
    if not declared.fsdp:
        raise ConfigError(
            f"method={name} cannot run with distributed.strategy=fsdp: {traits.fsdp_refusal(declared)}; "
            f"use distributed.strategy=ddp"
        )
    if cfg.method.get("master_weights"):
        raise ConfigError(
            "method.master_weights=true cannot run with distributed.strategy=fsdp; use model.dtype=float32 "
            "distributed.mixed_precision=bf16 (bf16 compute over fp32 weights, sharded)"
        )
    if cfg.lm_eval.tasks:
        raise ConfigError(
            "lm_eval.tasks cannot run with distributed.strategy=fsdp (lm-eval needs a whole model); use []"
        )
    if cfg.save_checkpoint and "peft" in declared.packages:
        raise ConfigError(
            f"save_checkpoint=true cannot run with distributed.strategy=fsdp and method={name} (merging "
            f"adapters needs the whole weights); use false"
        )


def check_resumed_world(cfg: DictConfig, world: World) -> None:
    """``resume=true`` continues a checkpointed run only at its own world size (its ``summary.json``
    records it; absent: one process), since each rank's data shard, RNGs and votes are its own."""
    folder = run_folder(cfg)
    previous = RunFolder(folder).previous() if cfg.resume and (folder / CHECKPOINT).exists() else None
    if not previous or previous.get("status") in FINISHED:
        return
    ranks = previous.get("world_size", 1)
    if ranks != world.size:
        raise ConfigError(
            f"resume=true but {folder} was run on {ranks} rank(s) and this run has {world.size}; "
            f"resume it with torchrun --nproc_per_node={ranks} (1: without torchrun), or pass overwrite=true"
        )


def start(world: World, device: torch.device) -> torch.device:
    """Join the process group (nccl on CUDA, gloo on CPU) once per process, so the jobs of a
    multirun share it; it is destroyed at exit. Returns this rank's device."""
    if world.size == 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(dist.destroy_process_group)
    return device


def shard_model(model: nn.Module, mixed_precision: str | None) -> None:
    """FSDP2 in place: ``fully_shard`` on each transformer block (its weights are gathered for its
    forward and backward only) and on the root (embeddings, final norm, head); ``mixed_precision``
    bf16 computes in bf16 and reduces gradients in fp32 over the weights' own (fp32) shards."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    dtype = MIXED_PRECISION[mixed_precision]
    policy = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32 if dtype else None)
    for block in find_blocks(model):
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole weights of a sharded model on rank 0's CPU (empty on the others; a collective)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


@contextlib.contextmanager
def main_first(world: World) -> Iterator[None]:
    """Rank 0 runs the block before the other ranks do (a model it pretrains or fetches into the
    cache is there for them to load: transformers' ``save_pretrained`` writes on rank 0 only)."""
    if world.size > 1 and not world.main:
        dist.barrier()
    yield
    if world.size > 1 and world.main:
        dist.barrier()


def shard(dataset: Dataset, world: World) -> Dataset:
    """This rank's disjoint share of ``dataset``: every ``world.size``-th example from ``rank``,
    all shards of one length (the last ``len % size`` examples are left out)."""
    if world.size == 1:
        return dataset
    usable = len(dataset) - len(dataset) % world.size
    return Subset(dataset, range(world.rank, usable, world.size))


@dataclass
class Traffic:
    """Bytes this rank hands to ``all_reduce`` per step (the payload; a ring all-reduce moves about
    2(K-1)/K of it over each link), beside what fp32 and bf16 averaging of the same tensors would;
    under FSDP (``sharded``) also the whole buffers of its parameter all-gathers and gradient
    reduce-scatters (a ring moves (K-1)/K of each over each link)."""

    sent: int = 0
    fp32_equiv: int = 0
    bf16_equiv: int = 0
    steps: list[dict[str, int]] = field(default_factory=list)
    sharded: bool = False
    all_gather: int = 0
    reduce_scatter: int = 0

    def count(self, elements: int, element_size: int) -> None:
        self.sent += elements * element_size
        self.fp32_equiv += 4 * elements
        self.bf16_equiv += 2 * elements

    def keys(self) -> tuple[str, ...]:
        return (
            "sent",
            "fp32_equiv",
            "bf16_equiv",
            *(("all_gather", "reduce_scatter") if self.sharded else ()),
        )

    def end_step(self) -> dict[str, int]:
        """This step's counts (then zeroed for the next step)."""
        row = {key: getattr(self, key) for key in self.keys()}
        self.steps.append(row)
        for key in row:
            setattr(self, key, 0)
        return row

    def summary(self) -> dict[str, Any]:
        """Mean bytes per step over the run, for ``summary.json``."""
        n = max(1, len(self.steps))
        return {f"comm_{key}_bytes_per_step": sum(s[key] for s in self.steps) / n for key in self.keys()}


def count_fsdp_collectives(model: nn.Module, traffic: Traffic) -> None:
    """Count every FSDP2 all-gather (its gathered output) and reduce-scatter (its unsharded
    input) of ``model``'s sharded modules in ``traffic``: torch's own default collectives, handed
    to ``FSDPModule.set_custom_all_gather``/``set_custom_reduce_scatter`` with a counter."""
    from torch.distributed.fsdp import FSDPModule
    from torch.distributed.fsdp._fully_shard._fsdp_collectives import DefaultAllGather, DefaultReduceScatter

    class CountedAllGather(DefaultAllGather):
        def __call__(self, output_tensor, input_tensor, group, async_op=False):  # noqa: ANN001, ANN204
            traffic.all_gather += output_tensor.numel() * output_tensor.element_size()
            return super().__call__(output_tensor, input_tensor, group, async_op)

    class CountedReduceScatter(DefaultReduceScatter):
        def __call__(self, output_tensor, input_tensor, group, op, async_op=False):  # noqa: ANN001, ANN204
            traffic.reduce_scatter += input_tensor.numel() * input_tensor.element_size()
            return super().__call__(output_tensor, input_tensor, group, op, async_op)

    traffic.sharded = True
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.set_custom_all_gather(CountedAllGather())
            module.set_custom_reduce_scatter(CountedReduceScatter())


def _counted_allreduce(traffic, bucket):  # noqa: ANN001 (DDP checks the annotation as a live type)
    """DDP's own all-reduce of one gradient bucket (``default_hooks.allreduce_hook``), counted."""
    buffer = bucket.buffer()
    traffic.count(buffer.numel(), buffer.element_size())
    return default_hooks.allreduce_hook(None, bucket)


def wrap_ddp(model: nn.Module, device: torch.device, traffic: Traffic) -> nn.Module:
    """``model`` under DDP, its gradient buckets' all-reduce counted in ``traffic``."""
    ids = [device.index] if device.type == "cuda" else None
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=ids, gradient_as_bucket_view=True)
    ddp.register_comm_hook(traffic, _counted_allreduce)
    return ddp


def sync_on_last(forward: nn.Module, last: bool) -> contextlib.AbstractContextManager:
    """DDP all-reduces, and FSDP reduce-scatters, in the last micro-batch's backward only: the
    earlier ones accumulate locally."""
    if isinstance(forward, nn.parallel.DistributedDataParallel):
        return contextlib.nullcontext() if last else forward.no_sync()
    root = fsdp_root(forward)
    if root is not None:
        root.set_requires_gradient_sync(last)
    return contextlib.nullcontext()


def fsdp_root(model: nn.Module) -> Any:
    """The outermost FSDP2 module in ``model`` (a LoRA wrapper holds it), or None."""
    from torch.distributed.fsdp import FSDPModule

    return next((m for m in model.modules() if isinstance(m, FSDPModule)), None)


def average(grads: list[torch.Tensor], traffic: Traffic) -> None:
    """Replace each gradient by the ranks' mean, in one fp32 all-reduce (LoRA's replicated
    adapters under FSDP)."""
    flat = torch.cat([g.flatten().float() for g in grads])
    traffic.count(flat.numel(), flat.element_size())
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= dist.get_world_size()
    for g, mean in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        g.copy_(mean.view_as(g))


def vote(grads: list[torch.Tensor], traffic: Traffic) -> None:
    """Replace each gradient by ``sign(sum over ranks of sign(g))`` in one int8 all-reduce
    (NaN votes 0; a tie gives 0)."""
    if not grads:
        return
    votes = torch.cat([torch.sign(torch.nan_to_num(g, nan=0.0)).to(VOTE_DTYPE).flatten() for g in grads])
    traffic.count(votes.numel(), VOTE_DTYPE.itemsize)
    dist.all_reduce(votes, op=dist.ReduceOp.SUM)
    for g, v in zip(grads, votes.split([g.numel() for g in grads]), strict=True):
        g.copy_(v.view_as(g).sign())


def count_block_votes(grads: list[torch.Tensor], traffic: Traffic) -> None:
    """What ABSignSGD-MV's optimizer all-reduces in its step: int8 signs of the active block."""
    for g in grads:
        traffic.count(g.numel(), VOTE_DTYPE.itemsize)


@dataclass
class Ranks:
    """How one job runs over the ranks: ``kind`` ("single", "ddp", "fsdp" or "vote"), the module the
    batches go through, what replaces the gradients before the update, and the bytes sent."""

    kind: str
    forward: nn.Module
    before_update: Callable[[], None] | None
    traffic: Traffic


def prepare(
    method: Method, config: DictConfig, world: World, device: torch.device, strategy: str = "ddp"
) -> Ranks:
    """As the method's ``traits.distributed`` says (``config`` is its composed YAML): DDP for an
    averaged method, the loop's sign vote for a voted one; for ``voted_in_step``, the vote handed
    to an optimizer that takes one (its ``vote`` attribute: SignSGD/Signum, StoSignSGD), else the
    count of the optimizer's own vote (ABSignSGD-MV); under ``strategy`` fsdp (the model already
    sharded, :func:`shard_model`), the parameters FSDP does not hold (LoRA's adapters) averaged
    before the update and FSDP's own collectives counted; in one process, the model as it is."""
    traffic = Traffic()
    if world.size == 1:
        return Ranks("single", method.model, None, traffic)
    if strategy == "fsdp":
        from torch.distributed.tensor import DTensor

        kept = [p for g in method.optimizer.param_groups for p in g["params"] if not isinstance(p, DTensor)]
        replicated = (
            (lambda: average([p.grad for p in kept if p.grad is not None], traffic)) if kept else None
        )
        count_fsdp_collectives(method.model, traffic)
        return Ranks("fsdp", method.model, replicated, traffic)
    mode = traits.of(config).distributed
    if method.updates_in_backward:  # check() refuses it from the config; this guards the builder
        raise ConfigError(f"method={config.name} updates inside backward and cannot run under torchrun")
    if mode == "averaged":
        return Ranks("ddp", wrap_ddp(method.model, device, traffic), None, traffic)
    if mode == "voted_in_step" and hasattr(method.optimizer, "vote"):
        method.optimizer.vote = lambda signs: vote(signs, traffic)
        return Ranks("vote", method.model, None, traffic)
    tally = vote if mode == "voted" else count_block_votes
    return Ranks("vote", method.model, lambda: tally(gradients(method), traffic), traffic)


def gradients(method: Method) -> list[torch.Tensor]:
    """The gradients the optimizer will use this step (parameters without one are skipped)."""
    return [p.grad for group in method.optimizer.param_groups for p in group["params"] if p.grad is not None]


def mean(value: float, world: World) -> float:
    """The mean of ``value`` over the ranks (float64; a collective: every rank calls it)."""
    if world.size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t) / world.size


class QuietFolder(RunFolder):
    """The run folder as a rank other than 0 sees it: only rank 0 writes, so this writes nothing."""

    def claim(self, *, overwrite: bool, resume: bool) -> None:
        pass

    def write_config(self, cfg: DictConfig) -> None:
        pass

    def log(self, row: dict[str, Any]) -> None:
        pass

    def keep_metrics_through(self, step: int) -> None:
        pass

    def write_summary(self, summary: Any) -> None:
        pass


def from_main(value: Any, world: World) -> Any:
    """Rank 0's ``value`` on every rank (a collective: every rank calls it)."""
    if world.size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def agree_to_stop(stop: list[str], world: World) -> None:
    """Every rank stops at the step any rank caught a signal: a rank that caught none takes the
    first rank's signal name into ``stop`` (a collective: every rank calls it)."""
    if world.size == 1:
        return
    every: list[Any] = [None] * world.size
    dist.all_gather_object(every, stop[:1])
    if not stop:
        stop.extend(next(([s[0]] for s in every if s), []))


def weights_agree(model: nn.Module, world: World) -> bool:
    """Whether every rank ends with the same weights, by a fingerprint: each parameter's float64
    sum, compared bitwise across the ranks (a collective: every rank calls it)."""
    with torch.no_grad():
        mine = torch.stack([p.detach().double().sum() for p in model.parameters()]).cpu()
    every: list[Any] = [None] * world.size
    dist.all_gather_object(every, mine)
    return all(torch.equal(mine, other) for other in every)


def gather_peaks(peaks: dict[str, int | None], world: World) -> dict[str, list[int | None]]:
    """Every rank's peaks, rank by rank (a collective: every rank calls it)."""
    if world.size == 1:
        return {k: [v] for k, v in peaks.items()}
    every: list[Any] = [None] * world.size
    dist.all_gather_object(every, peaks)
    return {k: [p[k] for p in every] for k in peaks}
