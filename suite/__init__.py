"""A benchmarking suite for memory-efficient full-parameter LLM fine-tuning."""

import logging

# transformers imports torchao and bitsandbytes while it loads; on a CPU-only machine they log
# that their CUDA kernels are absent, and torch logs pytree deprecations for torchao's enums.
# bitsandbytes also asks the hub for a CPU kernel, and the kernels package logs that it skips the
# publisher check offline. None of it concerns the user; errors still show.
for _name in ("torchao", "bitsandbytes", "kernels", "torch.utils._pytree"):
    logging.getLogger(_name).setLevel(logging.ERROR)
