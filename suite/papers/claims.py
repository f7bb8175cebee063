"""The papers' claims as hypotheses, and their verdicts on our runs.

Each paper module declares its claims as data (:class:`Claim`: the paper's sentence with its
citation, the artefact and metric it is tested on, the arms compared and the claimed direction)
with :func:`declare`. :func:`evaluate` gives each claim a verdict on an artefact's runs:

- the effect is the claim's arm minus the closest rival (mean over seeds, or the claim's statistic);
- with at least :data:`MIN_SEEDS` seeds per arm, its 95% percentile bootstrap interval
  (:mod:`suite.stats`, :data:`N_RESAMPLES` resamples, seed 0; paired by seed when both arms ran
  the same seeds) decides: **agrees** if it lies on the claimed side of 0 (inside ±δ for a claim
  "within δ"), **disagrees** if on the other side (wholly outside ±δ), else **inconclusive**;
- with fewer seeds there is no interval and the verdict is **inconclusive**;
- byte counts are deterministic: they need no seeds, and every run of the arm is compared with
  every run of the rival (the interval is the range of those differences).

``write_verdicts`` puts ``verdicts.md`` beside an artefact's ``table.md``; ``python -m
suite.papers`` (:func:`write_summaries`) writes ``results/verdicts.md`` (every claim) and
``results/verdicts_summary.md`` (the sentences the READMEs show) from the committed runs.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from suite import stats
from suite.papers.frames import label, load_runs, table_cells

Direction = Literal["lower", "higher", "within"]
RunsFrame = Callable[[Path], pd.DataFrame]

MIN_SEEDS = 3  # fewer seeds per arm give no interval: the verdict is inconclusive
N_RESAMPLES = 10_000
LEVEL = 0.95
SEED = 0


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, tested on one artefact's runs.

    ``metric`` is a column of the artefact's runs frame, shown as ``unit`` after multiplying by
    ``scale``; ``arm`` and the ``versus`` arms are values of the ``key`` column (rows filtered by
    ``where`` first). ``direction``: the arm's metric is ``lower`` / ``higher`` than every rival's,
    or ``within`` ±``tolerance`` of it; with no ``versus`` the arm is compared with ``reference``.
    ``exact``: a deterministic quantity (bytes)."""

    id: str
    artefact: str
    statement: str
    paper: str
    metric: str
    unit: str
    arm: str
    versus: tuple[str, ...] = ()
    direction: Direction = "lower"
    tolerance: float | None = None
    reference: float = 0.0
    exact: bool = False
    key: str = "arm"
    where: tuple[tuple[str, object], ...] = ()
    scale: float = 1.0
    statistic: stats.Statistic = "mean"

    def __post_init__(self) -> None:
        if self.direction == "within" and self.tolerance is None:
            raise ValueError(f"claim {self.id}: a 'within' claim needs a tolerance")


@dataclass(frozen=True)
class Result:
    """A claim's verdict: the effect (arm − ``rival``, or − the reference), its interval (None
    without one) and the seeds behind it."""

    claim: Claim
    verdict: stats.Verdict
    rival: str | None
    effect: float
    interval: stats.Interval | None
    seeds: str


@dataclass(frozen=True)
class Declared:
    claims: tuple[Claim, ...]
    runs: RunsFrame


CLAIMS: dict[str, Declared] = {}


def declare(artefact: str, claims: list[Claim], runs: RunsFrame = load_runs) -> None:
    """Register ``claims`` for ``artefact``; ``runs(folder)`` gives the frame they are tested on."""
    if artefact in CLAIMS:
        raise ValueError(f"claims for artefact {artefact!r} are declared twice")
    for claim in claims:
        if claim.artefact != artefact:
            raise ValueError(f"claim {claim.id} is about {claim.artefact!r}, declared for {artefact!r}")
    CLAIMS[artefact] = Declared(tuple(claims), runs)


# ---------------------------------------------------------------- evaluation


def _values(runs: pd.DataFrame, claim: Claim, arm: str) -> pd.Series:
    """The arm's metric per run, indexed by seed, missing values dropped."""
    if claim.key not in runs or claim.metric not in runs:
        return pd.Series(dtype=float)
    rows = runs[runs[claim.key] == arm]
    values = pd.to_numeric(rows[claim.metric], errors="coerce").to_numpy(dtype=float)
    seeds = rows["seed"] if "seed" in rows else range(len(rows))
    return pd.Series(values, index=list(seeds), dtype=float).dropna() * claim.scale


def _side(claim: Claim) -> int:
    return -1 if claim.direction == "lower" else 1


def _judge(claim: Claim, diff: stats.Interval) -> stats.Verdict:
    if claim.direction == "within":
        return stats.verdict_within(diff, claim.tolerance * claim.scale)
    return stats.verdict(diff, _side(claim))


def _exact_difference(a: pd.Series, b: pd.Series | None, claim: Claim) -> stats.Interval:
    """Every run of the arm against every run of the rival (or the reference): mean and range."""
    others = b.to_numpy() if b is not None else [claim.reference * claim.scale]
    diffs = [float(x - y) for x in a.to_numpy() for y in others]
    mean = sum(diffs) / len(diffs)
    return stats.Interval(mean, min(diffs), max(diffs), len(a), 1.0, 0)


def _difference(a: pd.Series, b: pd.Series | None, claim: Claim) -> tuple[float, stats.Interval | None]:
    """The effect and, with enough seeds, its bootstrap interval."""
    kw = {"statistic": claim.statistic, "level": LEVEL, "n_resamples": N_RESAMPLES, "seed": SEED}
    f = stats.STATISTICS[claim.statistic]
    if b is None:
        effect = float(f(a.to_numpy())) - claim.reference * claim.scale
        if len(a) < MIN_SEEDS:
            return effect, None
        ci = stats.bootstrap_ci(a.to_numpy() - claim.reference * claim.scale, **kw)
        return effect, ci
    effect = float(f(a.to_numpy()) - f(b.to_numpy()))
    if min(len(a), len(b)) < MIN_SEEDS:
        return effect, None
    same_seeds = a.index.is_unique and b.index.is_unique and sorted(a.index) == sorted(b.index)
    if same_seeds:
        ci = stats.paired_difference(a.sort_index().to_numpy(), b.sort_index().to_numpy(), **kw)
        return ci.estimate, ci
    ci = stats.unpaired_difference(a.to_numpy(), b.to_numpy(), **kw)
    return ci.estimate, ci


def _seed_counts(a: pd.Series, rivals: dict[str, pd.Series]) -> str:
    counts = sorted({len(a), *(len(b) for b in rivals.values())})
    return " / ".join(str(n) for n in counts)


def _inconclusive(claim: Claim, why: str) -> Result:
    return Result(claim, "inconclusive", None, math.nan, None, why)


def evaluate(claim: Claim, runs: pd.DataFrame) -> Result:
    """The claim's verdict on ``runs`` (its artefact's runs frame)."""
    for column, value in claim.where:
        runs = runs[runs[column] == value] if column in runs else runs.iloc[0:0]
    a = _values(runs, claim, claim.arm)
    if a.empty:
        return _inconclusive(claim, f"no {label(claim.arm)} runs with {claim.metric}")
    rivals = {r: _values(runs, claim, r) for r in claim.versus}
    rivals = {r: v for r, v in rivals.items() if not v.empty}
    if claim.versus and not rivals:
        return _inconclusive(claim, "no rival's runs")
    pairs = {r: _compare(claim, a, b) for r, b in rivals.items()} or {None: _compare(claim, a, None)}
    rival = _closest(claim, pairs)
    effect, interval, _ = pairs[rival]
    if claim.exact:
        seeds = "exact, no seeds needed"
    else:
        n = _seed_counts(a, rivals)
        seeds = n if interval is not None else f"{n} (< {MIN_SEEDS}: no interval)"
    return Result(claim, _overall([v for _, _, v in pairs.values()]), rival, effect, interval, seeds)


def _overall(verdicts: list[stats.Verdict]) -> stats.Verdict:
    """Against several rivals: disagrees if any disagrees, agrees if all agree, else inconclusive."""
    if "disagrees" in verdicts:
        return "disagrees"
    return "agrees" if set(verdicts) == {"agrees"} else "inconclusive"


def _compare(
    claim: Claim, a: pd.Series, b: pd.Series | None
) -> tuple[float, stats.Interval | None, stats.Verdict]:
    """Effect, interval and verdict of the arm against one rival (None: the reference)."""
    if claim.exact:
        diff = _exact_difference(a, b, claim)
        return diff.estimate, diff, _judge(claim, diff)
    effect, ci = _difference(a, b, claim)
    return effect, ci, _judge(claim, ci) if ci is not None else "inconclusive"


def _closest(claim: Claim, pairs: dict) -> str | None:
    """The rival the claim is hardest against: the smallest effect on the claimed side (the
    largest |effect| for a claim "within δ")."""
    if claim.direction == "within":
        return max(pairs, key=lambda r: abs(pairs[r][0]))
    return min(pairs, key=lambda r: _side(claim) * pairs[r][0])


def evaluate_artefact(artefact: str, folder: str | Path) -> list[Result]:
    """Every claim declared for ``artefact``, judged on the runs in ``folder``."""
    declared = CLAIMS.get(artefact)
    if declared is None:
        return []
    runs = declared.runs(Path(folder))
    return [evaluate(claim, runs) for claim in declared.claims]


# ---------------------------------------------------------------- tables and sentences


def _number(x: float) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.4g}"


def _tested_on(result: Result) -> str:
    claim = result.claim
    against = label(result.rival) if result.rival is not None else f"{_number(claim.reference * claim.scale)}"
    median = ", median" if claim.statistic == "median" else ""
    what = f"{claim.metric} ({claim.unit}{median}): {label(claim.arm)} − {against}"
    if len(claim.versus) > 1:
        what += f" (closest of {len(claim.versus)})"
    if claim.direction == "within":
        what += f", claimed within ±{_number(claim.tolerance * claim.scale)}"
    else:
        what += f", claimed {'< 0' if claim.direction == 'lower' else '> 0'}"
    return what


def _interval_cell(result: Result) -> str:
    ci = result.interval
    if ci is None:
        return "—"
    if ci.exact:
        return "exact" if ci.low == ci.high else f"exact, runs range [{_number(ci.low)}, {_number(ci.high)}]"
    return f"[{_number(ci.low)}, {_number(ci.high)}]"


def verdict_table(results: list[Result], with_artefact: bool = False) -> pd.DataFrame:
    """One row per claim: claim, the paper's words, what it is tested on, verdict, effect, interval, seeds."""
    rows = []
    for r in results:
        row = {"artefact": r.claim.artefact} if with_artefact else {}
        row |= {
            "claim": f"{r.claim.statement} [{r.claim.id}]",
            "paper": r.claim.paper,
            "tested on": _tested_on(r),
            "verdict": r.verdict,
            "effect": _number(r.effect),
            f"{LEVEL:.0%} interval": _interval_cell(r),
            "seeds per arm": r.seeds,
        }
        rows.append(row)
    return pd.DataFrame(rows)


METHOD = (
    "Effect = the claim's arm minus its closest rival (mean over seeds, or the median where the "
    "'tested on' column says so: a time to target, where a miss is infinitely slow). With at least "
    f"{MIN_SEEDS} seeds per arm the {LEVEL:.0%} percentile bootstrap interval ({N_RESAMPLES} resamples, "
    f"seed {SEED}; "
    "paired by seed when both arms ran the same seeds) decides: agrees if it lies on the claimed side of "
    "0 (inside ±δ for a claim within δ), disagrees if on the other side (outside ±δ), inconclusive if "
    f"not; fewer than {MIN_SEEDS} seeds give no interval and an inconclusive verdict. Byte counts are "
    "exact (no seeds needed): every run of the arm against every run of the rival."
)


def _markdown(table: pd.DataFrame, caption: str) -> str:
    cells = table_cells(table).apply(lambda col: col.str.replace("|", r"\|")) if len(table) else table
    return f"{caption}\n\n{cells.to_markdown(index=False, disable_numparse=True)}\n"


def write_verdicts(artefact: str, folder: str | Path) -> Path | None:
    """``verdicts.md`` beside the artefact's table (None, nothing written, without claims)."""
    results = evaluate_artefact(artefact, folder)
    if not results:
        return None
    path = Path(folder) / "verdicts.md"
    caption = (
        f"The paper's claims tested on these runs: verdict, effect (arm − closest rival), {LEVEL:.0%} "
        f"bootstrap interval (none below {MIN_SEEDS} seeds per arm: inconclusive; byte counts are exact, "
        "no seeds needed). How: `results/verdicts.md`, `suite/papers/claims.py`."
    )
    path.write_text(_markdown(verdict_table(results), caption))
    return path


def sentences(results: list[Result]) -> str:
    """README.md's paragraph: the statements our runs agree and disagree with, and how many
    claims are inconclusive (``results/verdicts.md`` lists them)."""
    agree = [r.claim.statement for r in results if r.verdict == "agrees"]
    disagree = [r.claim.statement for r in results if r.verdict == "disagrees"]
    where = "(`results/README.md`)"
    parts = [
        f"Our runs **agree** with {len(agree)} of {len(results)} paper claims "
        f"{where}{': ' + '; '.join(agree) if agree else ''}.",
        f"They **disagree** with {len(disagree)}{': ' + '; '.join(disagree) if disagree else ''}.",
    ]
    undecided = [r for r in results if r.verdict == "inconclusive"]
    few = sum(r.interval is None for r in undecided)
    parts.append(
        f"**{len(undecided)} {'is' if len(undecided) == 1 else 'are'} inconclusive** ({few} with "
        f"< {MIN_SEEDS} seeds)."
        if undecided
        else "None is inconclusive."
    )
    text = " ".join(parts)
    return textwrap.fill(text, 100, break_on_hyphens=False, break_long_words=False) + "\n"


def all_results(root: str | Path) -> list[Result]:
    """Every declared claim judged on the runs in ``<root>/<artefact>/``."""
    root = Path(root)
    return [r for name in CLAIMS for r in evaluate_artefact(name, root / name)]


def summaries(root: str | Path) -> tuple[str, str]:
    """The text of ``<root>/verdicts.md`` (every claim) and ``<root>/verdicts_summary.md`` (the
    sentences), from the runs in ``root``."""
    results = all_results(root)
    return _markdown(verdict_table(results, with_artefact=True), METHOD), sentences(results)


def write_summaries(root: str | Path) -> tuple[Path, Path]:
    """Write :func:`summaries` to ``<root>/verdicts.md`` and ``<root>/verdicts_summary.md``."""
    root = Path(root)
    paths = root / "verdicts.md", root / "verdicts_summary.md"
    for path, text in zip(paths, summaries(root), strict=True):
        path.write_text(text)
    return paths
