"""A benchmarking suite for memory-efficient full-parameter LLM fine-tuning."""
