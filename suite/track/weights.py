"""A short fingerprint of a model's weights, so runs that started from different bases can be told
apart in their records (a base pretrained by the suite is deterministic on one machine, not across
machines)."""

from __future__ import annotations

import hashlib

import torch

HASH_CHARS = 12


def weights_hash(model: torch.nn.Module) -> str:
    """The first ``HASH_CHARS`` hex digits of the SHA-256 over ``model.state_dict()``, entry by
    entry in name order: the name, dtype and shape, then the tensor's bytes. Equal weights give
    equal hashes whatever device or parameter order; one changed bit gives another."""
    digest = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        tensor = state[name].detach()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.contiguous().cpu().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:HASH_CHARS]
