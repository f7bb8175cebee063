"""What the device and the process report: CUDA allocator peaks and the process peak RSS."""

from __future__ import annotations

import resource
import sys

import torch


def reset_peaks(device: torch.device) -> None:
    """Start the CUDA peak counters now (after the model and optimizer are built)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def cuda_peaks(device: torch.device) -> dict[str, int | None]:
    """``max_memory_reserved`` (the papers' headline figure) and ``max_memory_allocated``."""
    if device.type != "cuda":
        return {"peak_reserved_bytes": None, "peak_allocated_bytes": None}
    torch.cuda.synchronize(device)
    return {
        "peak_reserved_bytes": torch.cuda.max_memory_reserved(device),
        "peak_allocated_bytes": torch.cuda.max_memory_allocated(device),
    }


def peak_rss_bytes() -> int:
    """The process's peak resident set size (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"
