"""The papers' published memory figures beside the estimator's, for ``results/estimates/``.

``python -m suite.estimate.published results/estimates`` writes ``table.md`` (one table per
artefact), ``table.csv`` and ``estimates.json`` (every estimate, in bytes). Block methods are
estimated at their worst block, the first one (a whole run's peak reaches it): BAdam with
``switch_mode=ascending``, ABSignSGD with :func:`first_block` as its selection scheme. Table 2's
rows are composed from the paper experiment files (``experiments/paper_absignsgd_table2*.yaml``:
their batch, cut-off, ``padded_length``, precision and the baselines' recipes), and again with
``train.loss_chunks`` (what the chunked loss saves; ``table.md`` only). Every method of
``conf/method`` is then estimated at the Table 2 file's setting in pure bf16 with its YAML's
defaults, a row the papers do not publish (:func:`every_method`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from suite import traits
from suite.configs import CONF_DIR
from suite.estimate import table
from suite.estimate.architecture import meta_model
from suite.estimate.run import Estimate, estimate
from suite.measure.breakdown import MemoryBreakdown

GIB = 2**30
FIRST_BLOCK = "+method.selection_scheme={_target_:suite.estimate.published.first_block,_partial_:true}"
WORST_BLOCK = {
    "absignsgd": ["~method.selection_scheme", FIRST_BLOCK],
    "badam": ["method.switch_mode=ascending"],
}
PUBLISHED = ("params", "grads", "state", "activations", "total")  # the papers' figures, in this order
SHOWN_ELSEWHERE = ("experiment=", "precision=", "lr=", "weight_decay=")  # the setting, not the method's name


def breakdown(*figures: float) -> dict[str, float]:
    return dict(zip(PUBLISHED, figures, strict=True))


def shape(batch: int, length: int, checkpointing: bool = False) -> tuple[str, ...]:
    ckpt = ("train.gradient_checkpointing=true",) if checkpointing else ()
    return (f"train.batch_size={batch}", f"data.max_length={length}", *ckpt)


def first_block(step: int, num_blocks: int) -> int:
    """An ABSignSGD selection scheme that always trains block 0 (the deepest backward)."""
    return 0


@dataclass(frozen=True)
class Row:
    label: str  # the paper's name for the row
    method: str
    overrides: tuple[str, ...]
    published: dict[str, float]  # category -> the paper's figure, in the artefact's unit
    masters: bool = False  # fp32 master weights (method.master_weights), as the paper counts them


@dataclass(frozen=True)
class Artefact:
    title: str
    source: str
    model: str
    unit: float  # bytes per unit of the published figures
    settings: dict[str, tuple[str, ...]]  # column label -> overrides
    rows: tuple[Row, ...]


# Table 2's rows at the paper files' own settings (experiments/paper_absignsgd_table2*.yaml: batch
# 16, checkpointing, the recipes' cut-off 2048, GaLore and APOLLO layer-wise at their recipes'
# pure bf16), first at the files' padded_length (a batch's expected longest sequence), then with
# every sequence at the cut-off (a run's peak once one batch reaches it). The whole-model GaLore
# and APOLLO rows are the same settings stepping after backward.
PAPER_FILE = ("experiment=paper_absignsgd_table2",)
RECIPE_PRECISION = ("precision=recipe",)
WHOLE_MODEL = ("method.lr=1e-5", "method.weight_decay=0.0")  # the layer-wise arms' lr and decay
TABLE2 = Artefact(
    title="ABSignSGD Table 2: peak reserved GPU memory, Qwen3-8B (GB)",
    source="ABSignSGD (OpenReview NQsdnYkCar) Table 2, as in github.com/yijiezcn/ABSignSGD README",
    model="qwen3_8b",
    unit=GIB,
    settings={
        "paper file: b16, padded_length, ckpt": (),
        "b16 x 2048 (cut-off), ckpt": ("estimate.length=2048",),
    },
    rows=(
        Row("ABSignSGD", "absignsgd", PAPER_FILE, {"total": 20.29}),
        Row("LoRA", "lora", PAPER_FILE, {"total": 22.54}),
        Row(
            "GaLore",
            "galore_layerwise",
            ("experiment=paper_absignsgd_table2_galore", *RECIPE_PRECISION),
            {"total": 23.47},
        ),
        Row(
            "GaLore",
            "galore",
            ("experiment=paper_absignsgd_table2_galore", *RECIPE_PRECISION, *WHOLE_MODEL),
            {"total": 23.47},
        ),
        Row("BAdam", "badam", ("experiment=paper_absignsgd_table2_badam",), {"total": 23.19}),
        Row(
            "APOLLO",
            "apollo_layerwise",
            ("experiment=paper_absignsgd_table2_apollo", *RECIPE_PRECISION),
            {"total": 22.58},
        ),
        Row(
            "APOLLO",
            "apollo",
            ("experiment=paper_absignsgd_table2_apollo", *RECIPE_PRECISION, *WHOLE_MODEL),
            {"total": 22.58},
        ),
    ),
)

TABLE4 = Artefact(
    title="SQ-MEFT Table IV: memory breakdown, LLaMA-7B, SST-2, sequence 512, batch 8, checkpointing (GB)",
    source="SQ-MEFT (Zhao, Bai, Li, Wang) Table IV",
    model="llama_7b",
    unit=GIB,
    settings={
        "b8 x 512, ckpt": ("train.batch_size=8", "data.max_length=512", "train.gradient_checkpointing=true")
    },
    rows=(
        Row("AdamW", "adamw", (), breakdown(12.6, 12.6, 75.5, 1.8, 102.5), masters=True),
        Row("SGD", "sgd", (), breakdown(12.6, 12.6, 25.1, 1.8, 52.1), masters=True),
        Row(
            "SGDM",
            "sgd",
            ("method.momentum=0.9",),
            breakdown(12.6, 12.6, 50.1, 1.8, 77.1),
            masters=True,
        ),
        Row("LOMO", "lomo", (), breakdown(12.6, 0.3, 0.0, 1.8, 14.7)),
        Row("SQ-MEFT", "sqmeft", (), breakdown(12.6, 0.3, 3.4, 1.8, 18.1)),
    ),
)

BADAM = Artefact(
    title="BAdam README: Llama-3-8B, batch 2 (x 8 accumulation) (GB)",
    source=(
        "github.com/Ledzy/BAdam README; the setting of its code (llama-alpaca/src/llmtuner: gradient "
        "checkpointing on, inputs cut at 512 source + 512 target tokens)"
    ),
    model="llama3_8b",
    unit=GIB,
    settings={"b2 x (512 + 512), ckpt": shape(2, 1024, True)},
    rows=(Row("BAdam", "badam", (), {"total": 23.5}),),
)

ARTEFACTS = (TABLE2, TABLE4, BADAM)


def compose_estimate(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=["+estimate=default", *overrides])


def estimate_row(artefact: Artefact, row: Row, setting: tuple[str, ...]) -> tuple[Estimate, str]:
    """The estimate of one published row, and a note where the row could not be set as published."""
    overrides = [f"model={artefact.model}", f"method={row.method}", *setting, *row.overrides]
    overrides += WORST_BLOCK.get(row.method, [])
    note = ""
    if row.masters:
        if "master_weights" in compose_estimate(*overrides).method:
            overrides.append("method.master_weights=true")
        else:
            note = "no fp32 masters (method.master_weights is not in this checkout)"
    return estimate(compose_estimate(*overrides)), note


def cell(est: Estimate, key: str, category: str, row: Row, unit: float) -> str:
    value = est.memory.as_dict()[key] / unit
    if category not in row.published:
        return f"{value:.2f}"
    return f"{value:.2f} ({row.published[category]:.2f})"


def render(artefact: Artefact, results: list[tuple[Row, str, Estimate, str]]) -> str:
    """One markdown table: every category of every estimate, the paper's figure in brackets, the
    difference and its ratio to the paper's figure."""
    categories = MemoryBreakdown.labels()
    columns = ["paper row", "method", "setting", "length", *categories.values(), "estimate - paper"]
    head = "| " + " | ".join(columns) + " |"
    rule = "|---" * (len(categories) + 5) + "|"
    lines = [f"### {artefact.title}", "", f"Source: {artefact.source}.", "", head, rule]
    for row, label, est, note in results:
        cells = " | ".join(cell(est, k, c, row, artefact.unit) for k, c in categories.items())
        diff = est.memory.total / artefact.unit - row.published["total"]
        stripped = (o.removeprefix("method.") for o in row.overrides)
        shown = [o for o in stripped if not o.startswith(SHOWN_ELSEWHERE)]
        method = " ".join([row.method, *shown, note]).strip()
        lines.append(
            f"| {row.label} | {method} | {label} | {est.max_length} | {cells} | "
            f"{diff:+.2f} ({diff / row.published['total']:+.1%}) |"
        )
    return "\n".join(lines)


def readme_formula(setting: tuple[str, ...]) -> str:
    """ABSignSGD README's ``2M + M/(8N)`` GB vs ``18M`` (M billion parameters, N blocks, no
    activations) beside the estimated params + grads + state of ABSignSGD and of AdamW with fp32
    masters, Qwen3-8B."""
    absign, _ = estimate_row(TABLE2, Row("ABSignSGD", "absignsgd", (), {}), setting)
    adamw, note = estimate_row(TABLE2, Row("AdamW", "adamw", (), {}, masters=True), setting)
    blocks = meta_model(
        OmegaConf.to_container(compose_estimate("model=qwen3_8b").model)
    ).config.num_hidden_layers
    m = absign.n_params / 1e9
    lines = [
        "### ABSignSGD README: `2M + M/(8N)` vs `18M` GB, Qwen3-8B (M = 8.19, N = 36), activations excluded",
        "",
        "Source: github.com/yijiezcn/ABSignSGD README. GB = 1e9 B here, as M counts 1e9 parameters.",
        "",
        "| method | README formula GB | estimated params + grads + state GB | of which state GB |",
        "|---|---|---|---|",
    ]
    for label, est, formula in (
        ("ABSignSGD", absign, f"2M + M/(8N) = {2 * m + m / (8 * blocks):.2f}"),
        (f"AdamW, fp32 masters {note}".strip(), adamw, f"18M = {18 * m:.2f}"),
    ):
        spent = est.memory.params + est.memory.grads + est.memory.state
        lines.append(f"| {label} | {formula} | {spent / 1e9:.2f} | {est.memory.state / 1e9:.2f} |")
    return "\n".join(lines)


CHUNKS = 8  # train.loss_chunks of the chunked-loss table


def render_chunked(artefact: Artefact, results: list[tuple[Row, str, Estimate, str]]) -> str:
    """What ``train.loss_chunks`` saves on each row: the same estimate with the loss over
    :data:`CHUNKS` chunks of the sequence (``suite.chunked_loss``), activations and totals."""
    lines = [
        f"### {artefact.title}: with train.loss_chunks={CHUNKS}",
        "",
        "| paper row | method | setting | length | activations | chunked | total | chunked | saved |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row, label, est, _ in results:
        setting = (*artefact.settings[label], f"train.loss_chunks={CHUNKS}")
        chunked, _ = estimate_row(artefact, row, setting)
        plain_act, act = est.memory.activations / artefact.unit, chunked.memory.activations / artefact.unit
        plain, total = est.memory.total / artefact.unit, chunked.memory.total / artefact.unit
        lines.append(
            f"| {row.label} | {row.method} | {label} | {est.max_length} | {plain_act:.2f} | {act:.2f} | "
            f"{plain:.2f} | {total:.2f} | {plain - total:.2f} ({(plain - total) / plain:.1%}) |"
        )
    return "\n".join(lines)


PURE_BF16 = {"lr": "1e-5", "wd": "0.0", "dtype": "bfloat16", "autocast": "null"}  # the file's paper_* keys


def every_method_row(name: str) -> Row:
    """``name`` at the Table 2 file's batch, length and checkpointing, pure bf16 like ABSignSGD's
    row, with its YAML's defaults (the file's lr and decay keys given or dropped as it has them)."""
    keys = OmegaConf.load(CONF_DIR / "method" / f"{name}.yaml")
    dropped = () if "weight_decay" in keys else ("~method.weight_decay",)
    paper = (f"++paper_{key}.{name}={value}" for key, value in PURE_BF16.items())
    return Row(name, name, (*PAPER_FILE, *paper, *dropped), {})


def every_method() -> str:
    """Every method's estimated categories at :func:`every_method_row`'s setting (GiB)."""
    categories = MemoryBreakdown.labels()
    lines = [
        "### Every method at the Table 2 file's setting, pure bf16, Qwen3-8B (no published figure)",
        "",
        "Batch 16, the file's padded_length, gradient checkpointing, bf16 weights without autocast, "
        "each method's YAML defaults (low-rank methods at rank 32).",
        "",
        "| method | label | length | " + " | ".join(categories.values()) + " |",
        "|---" * (len(categories) + 3) + "|",
    ]
    host = []  # CPU offload: host memory, in none of the device categories
    for path in sorted((CONF_DIR / "method").glob("*.yaml")):
        row = every_method_row(path.stem)
        est, _ = estimate_row(TABLE2, row, ())
        cells = " | ".join(f"{est.memory.as_dict()[k] / GIB:.2f}" for k in categories)
        lines.append(f"| {row.method} | {traits.label(row.method)} | {est.max_length} | {cells} |")
        if est.host_state is not None:
            host.append(
                f"{row.method} keeps {est.host_state / GIB:.2f} GiB more in host memory "
                "(`mem_host_state_bytes`)."
            )
    return "\n".join([*lines, *(["", *host] if host else [])])


def build(folder: Path) -> list[Estimate]:
    """Every artefact's estimates: ``table.md`` (per artefact), ``table.csv``, ``estimates.json``."""
    sections, every = [], []
    for artefact in ARTEFACTS:
        results = []
        for row in artefact.rows:
            for label, setting in artefact.settings.items():
                est, note = estimate_row(artefact, row, setting)
                results.append((row, label, est, note))
                every.append(est)
        sections.append(render(artefact, results))
        if artefact is TABLE2:
            sections.append(render_chunked(artefact, results))
            sections.append(readme_formula(shape(1, 256)))
            sections.append(every_method())
    table.write(every, folder)
    (folder / "table.md").write_text(
        "Estimated bytes in GiB (2^30 B), the paper's figure in brackets (its GB read as GiB); "
        "`suite-estimate`, kernels of CUDA, block methods at their first block.\n\n"
        + "\n\n".join(sections)
        + "\n"
    )
    return every


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "results/estimates"))
