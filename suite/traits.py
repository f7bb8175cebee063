"""What the suite must know about a method before it builds it, declared once in the method's YAML.

A method YAML may hold a reserved ``traits:`` block; the loop removes it (with ``name``) before
Hydra calls the builder::

    traits:
      label: SignSGD                 # the tables' and figures' name (default: the YAML's name)
      packages: [peft]               # PyPI distributions whose versions the run records
      updates_in_backward: false     # true, false, or the hyperparameter that turns it on
      accumulates_in_backward: ["momentum > 0"]  # conditions under which that update accumulates
      no_accumulation_because: ...   # why, in-backward, it does not (the refusal's reason)
      own_grad_scaler: false         # same form: the optimizer unscales its own gradients
      distributed: voted             # averaged | voted | voted_in_step | refused
      distributed_requires: ["momentum == 0"]   # conditions on the hyperparameters under torchrun
      refused_because: ...           # why, when distributed is refused
      fsdp: false                    # true: its optimizer works on FSDP's sharded parameters
      fsdp_refused_because: ...      # why not, where the generic reason does not say it
      needs_cuda_because: ...        # it runs on CUDA only: why (the refusal's reason elsewhere)
      copies_grads_in_backward: false  # same form as updates_in_backward: its optimizer takes a copy
                                       # of each gradient inside backward (CPU offload)
      grad_accum_requires: ["offload_gradients == false"]  # conditions for train.grad_accum > 1

``fsdp``: whether ``distributed.strategy=fsdp`` may run it (its optimizer works elementwise on the
DTensor shards FSDP2 gives each rank: AdamW, SGD, LoRA's adapters); otherwise that strategy is
refused in one line saying why (:func:`fsdp_refusal`: ``fsdp_refused_because`` where the YAML
gives it, else the reason that follows from ``distributed``).

``needs_cuda_because``: the method's package runs on a CUDA device only (torchao's
``CPUOffloadOptimizer`` asserts one); a job whose device is not CUDA is refused in one line giving
this reason (:func:`suite.checks.check_device`), before any work. Absent: it runs on any device.
``copies_grads_in_backward``: the optimizer copies each gradient as soon as backward has
accumulated it (torchao's ``CPUOffloadOptimizer``, to the host) and steps on the copies, so the
loop's clipping and fp16 loss-scale unscaling, which act on the gradients after backward, would not
reach them: both are refused. ``grad_accum_requires``: conditions on the hyperparameters under
which a method that steps after backward takes ``train.grad_accum > 1`` (torchao's
``offload_gradients=true`` frees each gradient once copied, so micro-batches would not sum).

An update inside backward frees each gradient as soon as it is used, so gradient accumulation
over micro-batches is refused unless the method folds each micro-batch into state it keeps anyway
(Signum's momentum: ``accumulates_in_backward`` lists the conditions, all of which must hold;
absent, it never does); the refusal gives ``no_accumulation_because``.

``distributed``: ``averaged``, DDP averages the gradients before the step; ``voted``, the loop
replaces each gradient by the ranks' int8 sign vote before the step (signSGD with majority vote,
Bernstein et al., ICLR 2019, arXiv 1810.05291, Alg. 1); ``voted_in_step``, the ranks vote in
``step`` on the signs each computed from its own state (Signum's momentum, StoSignSGD's noisy
sign): the loop hands the vote to an optimizer with a ``vote`` attribute, or counts the bytes of an
optimizer that all-reduces its own (ABSignSGD-MV); ``refused``, torchrun is refused before any work.
A method that updates inside backward cannot be averaged or voted: DDP's reducer
finishes its all-reduce at the end of backward, after per-parameter hooks have stepped on the local
gradients. A method without a block gets the defaults: its name as label, no packages, a step after
backward, and torchrun refused.

The traits live in the YAML rather than as attributes on the builder so that the command-line
check reads them with OmegaConf alone, before torch, the method's packages or a plugin's module is
imported; ``build_method`` then checks the built ``Method`` against them.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from omegaconf import DictConfig, OmegaConf

from suite.configs import CONF_DIR
from suite.errors import ConfigError

NOT_PASSED = ("name", "traits")  # method YAML keys the suite reads and never passes to the builder
MODES = ("averaged", "voted", "voted_in_step", "refused")
OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_CONDITION = re.compile(r"^\s*([A-Za-z_]\w*)\s*(==|!=|<=|>=|<|>)\s*(\S.*?)\s*$")


@dataclass(frozen=True)
class Condition:
    """``<hyperparameter> <op> <value>``, e.g. ``momentum == 0``."""

    key: str
    op: str
    value: Any

    def holds(self, method: DictConfig) -> bool:
        try:
            return bool(OPS[self.op](method.get(self.key), self.value))
        except TypeError:
            return False

    def __str__(self) -> str:
        return f"{self.key} {self.op} {self.value}"


_UNDECLARED = "its YAML declares no traits.distributed"
NO_BUFFER = (
    "it keeps no state to fold the micro-batches into, and a buffer for their sum would be the full "
    "gradient its in-backward update saves"
)


@dataclass(frozen=True)
class Traits:
    """One method's traits, as its YAML declares them (see the module docstring)."""

    label: str
    packages: tuple[str, ...] = ()
    updates_in_backward: bool | str = False
    own_grad_scaler: bool | str = False
    distributed: str = "refused"
    distributed_requires: tuple[Condition, ...] = ()
    refused_because: str = _UNDECLARED
    accumulates_in_backward: tuple[Condition, ...] | None = None
    no_accumulation_because: str = NO_BUFFER

    def accumulates(self, method: DictConfig) -> bool:
        """Whether its in-backward update, with these hyperparameters, accumulates micro-batches."""
        conditions = self.accumulates_in_backward
        return conditions is not None and all(c.holds(method) for c in conditions)

    fsdp: bool = False
    fsdp_refused_because: str | None = None
    needs_cuda_because: str | None = None
    copies_grads_in_backward: bool | str = False
    grad_accum_requires: tuple[Condition, ...] = ()

    def in_backward(self, method: DictConfig) -> bool:
        """Whether the method, with these hyperparameters, updates inside backward."""
        return _switched(self.updates_in_backward, method)

    def owns_grad_scaler(self, method: DictConfig) -> bool:
        return _switched(self.own_grad_scaler, method)

    def copies_grads(self, method: DictConfig) -> bool:
        """Whether its optimizer, with these hyperparameters, copies each gradient inside backward."""
        return _switched(self.copies_grads_in_backward, method)


def _switched(trait: bool | str, method: DictConfig) -> bool:
    return bool(method.get(trait, False)) if isinstance(trait, str) else trait


_KEYS = tuple(f.name for f in fields(Traits))


def of(method: DictConfig) -> Traits:
    """The traits of a composed ``method`` config; :class:`ConfigError` for a malformed block."""
    name = method.get("name", "?")
    block = method.get("traits")
    if block is None:
        return Traits(label=name)
    if not isinstance(block, DictConfig):
        raise ConfigError(f"method {name}: traits must be a mapping of {', '.join(_KEYS)}")
    given = OmegaConf.to_container(block, resolve=True)
    unknown = sorted(set(given) - set(_KEYS))
    if unknown:
        raise ConfigError(f"method {name}: unknown trait {unknown[0]}; allowed: {', '.join(_KEYS)}")
    traits = Traits(
        label=str(given.get("label", name)),
        packages=tuple(_strings(name, "packages", given)),
        updates_in_backward=_switch(name, method, "updates_in_backward", given),
        own_grad_scaler=_switch(name, method, "own_grad_scaler", given),
        distributed=given.get("distributed", "refused"),
        distributed_requires=tuple(
            _condition(name, method, c) for c in _strings(name, "distributed_requires", given)
        ),
        refused_because=given.get("refused_because", "" if "distributed" in given else _UNDECLARED),
        accumulates_in_backward=None
        if "accumulates_in_backward" not in given
        else tuple(_condition(name, method, c) for c in _strings(name, "accumulates_in_backward", given)),
        no_accumulation_because=given.get("no_accumulation_because", NO_BUFFER),
        fsdp=given.get("fsdp", False),
        fsdp_refused_because=given.get("fsdp_refused_because"),
        needs_cuda_because=given.get("needs_cuda_because"),
        copies_grads_in_backward=_switch(name, method, "copies_grads_in_backward", given),
        grad_accum_requires=tuple(
            _condition(name, method, c) for c in _strings(name, "grad_accum_requires", given)
        ),
    )
    why = traits.needs_cuda_because
    if why is not None and not (isinstance(why, str) and why.strip()):
        raise ConfigError(f"method {name}: traits.needs_cuda_because must say why it needs CUDA, got {why!r}")
    if not isinstance(traits.fsdp, bool):
        raise ConfigError(f"method {name}: traits.fsdp must be true or false, got {traits.fsdp!r}")
    if traits.fsdp and traits.fsdp_refused_because:
        raise ConfigError(f"method {name}: traits.fsdp=true with traits.fsdp_refused_because; drop one")
    if traits.distributed not in MODES:
        raise ConfigError(
            f"method {name}: traits.distributed={traits.distributed!r} is not one of {', '.join(MODES)}"
        )
    if traits.distributed == "refused" and not traits.refused_because:
        raise ConfigError(f"method {name}: traits.distributed=refused needs traits.refused_because (why)")
    if traits.distributed != "refused" and traits.updates_in_backward is True:
        raise ConfigError(
            f"method {name}: traits.distributed={traits.distributed} but it always updates inside backward, "
            f"before the ranks' gradients are combined; use refused"
        )
    return traits


def fsdp_refusal(traits: Traits) -> str:
    """Why ``distributed.strategy=fsdp`` cannot run a method whose ``traits.fsdp`` is false."""
    if traits.distributed == "refused":
        return traits.refused_because
    if traits.fsdp_refused_because:
        return traits.fsdp_refused_because
    if traits.distributed != "averaged":
        return "its ranks vote on their own signs of whole gradients, where FSDP averages sharded ones"
    return (
        "its update needs whole parameter matrices (projections, norms or blocks of whole tensors), "
        "and FSDP gives each rank a slice of rows"
    )


def _strings(name: str, key: str, given: dict) -> list[str]:
    value = given.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"method {name}: traits.{key} must be a list of strings, got {value!r}")
    return value


def _switch(name: str, method: DictConfig, key: str, given: dict) -> bool | str:
    value = given.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in method and value not in NOT_PASSED:
        return value
    raise ConfigError(
        f"method {name}: traits.{key}={value!r} must be true, false or one of the method's "
        f"hyperparameters ({', '.join(k for k in method if k not in NOT_PASSED and k != '_target_')})"
    )


def _condition(name: str, method: DictConfig, text: str) -> Condition:
    match = _CONDITION.match(text)
    if not match or match[1] not in method:
        raise ConfigError(
            f"method {name}: traits entry {text!r} must read "
            f"'<hyperparameter> <{'|'.join(OPS)}> <value>', e.g. 'momentum == 0'"
        )
    return Condition(match[1], match[2], OmegaConf.create(f"value: {match[3]}").value)  # as YAML reads it


@cache
def label(name: str) -> str | None:
    """The label ``conf/method/<name>.yaml`` declares (None: no such suite method)."""
    path = CONF_DIR / "method" / f"{name}.yaml"
    return of(OmegaConf.load(path)).label if path.is_file() else None
