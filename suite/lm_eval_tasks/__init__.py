"""lm-eval task configs of the suite (``--include_path suite/lm_eval_tasks``); see suite.downstream."""
