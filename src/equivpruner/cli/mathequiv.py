"""Commands of the MathEquiv loop: harvest pairs, label them, train the detector, evaluate.

`cli._register` adds them to the main app (`harvest`, `harvest-trees`, `label`,
`train-detector`, `eval-detector`). Tests inject a policy with `CliRunner().invoke(app,
args, obj={"load_backend": fn})`; without it `llm.load_policy` builds the backend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..llm.registry import DEFAULT_POLICY

console = Console()
err_console = Console(stderr=True)
DEFAULT_DETECTORS = "cascade,levenshtein,embedding"


def _fail(message: str | BaseException) -> None:
    """One `error:` line, exit code 2; file errors read `FILE:LINE: what is wrong`."""
    from .common import describe, fail

    fail(message if isinstance(message, str) else describe(message))


def _user_errors() -> tuple:
    from ..data.problems import DatasetError
    from ..llm.base import BackendError

    return (ValueError, BackendError, DatasetError, OSError, KeyError)


def _check_output(path: Path | None, flag: str, folder: bool = False) -> None:
    """Refuse an output that cannot be written, before anything is read, loaded or opened."""
    from .inputs import check_output

    try:
        check_output(path, flag, folder)
    except ValueError as err:
        _fail(str(err))


def _check_harvest(split, skip, limit, width, per_problem_cap, temperature, depths) -> list[int]:
    from ..mathequiv.harvest import check_split

    check_split(split)
    for name, value, least in (("--skip", skip, 0), ("--limit", limit, 1), ("--width", width, 2),
                               ("--per-problem-cap", per_problem_cap, 1)):  # fmt: skip
        if value is not None and value < least:
            raise ValueError(f"{name} must be ≥ {least}, got {value}")
    if not temperature >= 0:
        raise ValueError(f"--temperature must be ≥ 0, got {temperature}")
    found = _ints(depths, "--depths")
    if not found or min(found) < 0:
        raise ValueError(f"--depths must list depths ≥ 0, got {depths!r}")
    return found


def _check_questions(problems) -> None:
    """Every problem's question is one the policy can take (length, encoding)."""
    from ..steps import check_question

    for p in problems:
        try:
            check_question(p.question)
        except ValueError as err:
            raise ValueError(f"problem {p.id}: {err}") from None


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        _fail(f"{what} must be comma-separated integers, got {text!r}")
        return []


def _print_summary(rows, title: str) -> None:
    from ..mathequiv.pairs import summary

    info = summary(rows)
    table = Table(title=title)
    table.add_column("what")
    table.add_column("counts")
    for key, value in info.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)


def harvest(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="gsm8k, math, or a .jsonl/.json file")] = "gsm8k",
    split: Annotated[str, typer.Option(help="a training split (test splits are refused)")] = (
        "train"
    ),
    limit: Annotated[int | None, typer.Option(help="problems to use")] = 20,
    skip: Annotated[int, typer.Option(help="skip the first N problems (a later batch)")] = 0,
    width: Annotated[int, typer.Option(help="siblings sampled per expansion")] = 8,
    depths: Annotated[str, typer.Option(help="depths to record, comma-separated")] = "0,1,2,3",
    model: Annotated[str, typer.Option(help="policy model spec")] = DEFAULT_POLICY,
    out: Annotated[Path, typer.Option(help="output JSONL")] = Path("pairs.jsonl"),
    seed: Annotated[int, typer.Option()] = 0,
    temperature: Annotated[float, typer.Option(help="sampling temperature")] = 0.8,
    per_problem_cap: Annotated[int, typer.Option(help="pairs kept per problem")] = 12,
    references: Annotated[
        bool, typer.Option("--references/--no-references", help="mine reference solutions")
    ] = False,
    policy: Annotated[
        bool, typer.Option("--policy/--no-policy", help="sample siblings with the policy")
    ] = True,
) -> None:
    """Harvest unlabelled sibling pairs (and labelled reference pairs) from training problems."""
    from ..data.problems import load_problems
    from ..mathequiv.harvest import iter_harvest, mine_reference_pairs
    from ..mathequiv.pairs import write_pairs

    _check_output(out, "--out")
    load_backend = (ctx.obj or {}).get("load_backend")
    try:  # every option, the problems and the model spec: checked before --out is emptied
        found = _check_harvest(split, skip, limit, width, per_problem_cap, temperature, depths)
        if policy and load_backend is None:
            from .inputs import check_model

            check_model(model)
        total = None if limit is None else skip + limit
        problems = load_problems(dataset, split=split, limit=total)[skip:]
        _check_questions(problems)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("")
        rows = []
        if references:
            mined = mine_reference_pairs(problems, seed=seed, split=split)
            write_pairs(mined, out, append=True)
            rows += mined
        if policy:
            if load_backend is None:
                from ..llm.loader import load_policy as load_backend
            backend = load_backend(model)
            batches = iter_harvest(
                problems, backend, width, found, per_problem_cap, seed, temperature, split
            )
            for batch in batches:
                write_pairs(batch, out, append=True)
                rows += batch
    except _user_errors() as err:
        _fail(err)
    _print_summary(rows, f"{len(rows)} pairs → {out}")


def harvest_trees(
    paths: Annotated[list[Path], typer.Argument(help="tree JSON files or dirs of them")],
    out: Annotated[Path, typer.Option(help="output JSONL")] = Path("tree-pairs.jsonl"),
    split: Annotated[str, typer.Option(help="the split the trees' problems come from")] = "test",
    per_problem_cap: Annotated[int | None, typer.Option(help="pairs kept per problem")] = None,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Sibling pairs from saved search trees (`bench` runs, `solve --save-tree`).

    Rows carry `--split` (default test: such pairs are for evaluation; training refuses them).
    """
    from ..mathequiv.pairs import cap_per_problem, write_pairs
    from ..mathequiv.tree_pairs import pairs_from_tree_files
    from .common import describe

    _check_output(out, "--out")
    files = sorted({f for p in paths for f in (p.rglob("*.json") if p.is_dir() else [p])}, key=str)
    try:
        if not files:
            raise ValueError(f"no tree files in {', '.join(map(str, paths))}")
        rows = cap_per_problem(pairs_from_tree_files(files, split), per_problem_cap, seed)
        write_pairs(rows, out)
    except (*_user_errors(), TypeError) as err:
        _fail(f"could not read the trees: {describe(err)}")
    _print_summary(rows, f"{len(rows)} pairs from {len(files)} trees → {out}")


def label(
    pairs_file: Annotated[Path, typer.Argument(help="pairs JSONL")],
    judge: Annotated[
        str, typer.Option(help="symbolic, exact, llm:<model spec>; a comma list → agreement")
    ] = "symbolic",
    out: Annotated[Path, typer.Option(help="output JSONL")] = Path("labelled.jsonl"),
    positive: Annotated[str, typer.Option(help="levels that mean equivalent")] = "3,4",
    min_agree: Annotated[int | None, typer.Option(help="sources that must agree")] = None,
    use_existing: Annotated[
        bool, typer.Option("--use-existing/--ignore-existing", help="count labels on rows")
    ] = True,
    keep_unlabelled: Annotated[bool, typer.Option(help="keep rejected rows, unlabelled")] = (False),
) -> None:
    """Label pairs with judges (MathEquiv levels) and write them with provenance."""
    from ..mathequiv.label import label_pairs, parse_judges
    from ..mathequiv.pairs import read_pairs, write_pairs

    _check_output(out, "--out")
    try:
        rows = read_pairs(pairs_file)
        judges = parse_judges(judge)
        labelled = label_pairs(
            rows, judges, _ints(positive, "--positive"), min_agree, use_existing, keep_unlabelled
        )
        write_pairs(labelled, out)
    except _user_errors() as err:
        _fail(err)
    _print_summary(labelled, f"{len(labelled)} of {len(rows)} pairs labelled → {out}")


def train_detector(
    pairs_file: Annotated[list[Path], typer.Argument(help="labelled pairs JSONL file(s)")],
    base: Annotated[str, typer.Option(help="base encoder spec or dir")] = "embedded:minilm",
    out: Annotated[Path, typer.Option(help="output dir (adapter + training.json)")] = Path(
        "detector"
    ),
    epochs: Annotated[int, typer.Option()] = 3,
    batch_size: Annotated[int, typer.Option()] = 16,
    lr: Annotated[float, typer.Option()] = 5e-4,
    max_length: Annotated[int, typer.Option()] = 256,
    seed: Annotated[int, typer.Option()] = 0,
    time_limit: Annotated[float, typer.Option(help="minutes")] = 40.0,
    max_steps: Annotated[int | None, typer.Option()] = None,
    val_fraction: Annotated[float, typer.Option()] = 0.1,
    lora: Annotated[bool, typer.Option("--lora/--full", help="LoRA adapter or full")] = True,
    merge: Annotated[bool, typer.Option(help="also save a merged full model")] = False,
    use_context: Annotated[bool, typer.Option(help="prepend the question")] = False,
    exclude: Annotated[
        list[Path] | None, typer.Option(help="evaluation pairs that must not be trained on")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    kind: Annotated[
        str, typer.Option(help="cross-encoder (fine-tune --base) or features (LightGBM)")
    ] = "cross-encoder",
) -> None:
    """Train a detector: fine-tune the cross-encoder (LoRA on MiniLM by default) or, with
    `--kind features`, the fast features model."""
    from ..mathequiv.pairs import read_pairs
    from ..mathequiv.train import train_cross_encoder

    if kind not in ("cross-encoder", "features"):
        _fail(f"unknown --kind {kind!r}; valid: cross-encoder, features")
    _check_output(out, "--out", folder=True)
    try:
        rows = [row for path in pairs_file for row in read_pairs(path)]
        held = [row for path in exclude or () for row in read_pairs(path)]
        if kind == "features":
            return _train_features(rows, held, out, seed)
        result = train_cross_encoder(
            rows, base, out, exclude=held, progress=progress, epochs=epochs,
            batch_size=batch_size, lr=lr, max_length=max_length, seed=seed,
            time_limit_minutes=time_limit, max_steps=max_steps, val_fraction=val_fraction,
            lora=lora, merge=merge, use_context=use_context,
        )  # fmt: skip
    except _user_errors() as err:
        _fail(err)
    m = result.metrics
    best = m.get("best_val") or {}
    per_step = m.get("seconds_per_step")
    console.print(
        f"saved {out} · {m['steps']} steps ({m['stopped']}) · "
        f"{per_step or 0:.2f} s/step · val F1 {best.get('f1', float('nan')):.3f} "
        f"acc {best.get('accuracy', float('nan')):.3f}"
    )


def _train_features(rows, held, out: Path, seed: int) -> None:
    from ..mathequiv.train_features import train_feature_model

    meta = train_feature_model(rows, out, exclude=held, seed=seed)
    m = meta["out_of_fold"]
    console.print(
        f"saved {out} · {meta['data']['rows']} pairs · {meta['rounds']} rounds · threshold "
        f"{meta['threshold']:.3f} · out-of-fold on {meta['data']['calibration_rows']} pairs: "
        f"P {m['precision']:.3f} R {m['recall']:.3f} F1 {m['f1']:.3f}"
    )


def _detector(spec: str, checkpoint: Path | None):
    """A detector from a name (registry), `trained` / a directory (a trained features model
    or cross-encoder); `cascade` and `cross-encoder` end with `checkpoint` when given."""
    from ..equiv.registry import from_dir, make_detector

    spec = spec.strip()
    if spec in ("trained", "cross-encoder") or Path(spec).is_dir():
        path = checkpoint if spec in ("trained", "cross-encoder") else Path(spec)
        if path is None:
            raise ValueError(f"detector {spec!r} needs --checkpoint DIR (a trained detector)")
        detector = from_dir(path)
        detector.name = "trained" if spec == "trained" else detector.name
        return detector
    if spec == "cascade" and checkpoint is not None:
        return make_detector("cascade", final=from_dir(checkpoint))
    return make_detector(spec)


def _comparison(reports) -> Table:
    table = Table(title="detectors on the same pairs")
    for col in ("detector", "n", "accuracy", "precision", "recall", "F1", "seconds"):
        table.add_column(col, justify="left" if col == "detector" else "right")
    for r in reports:
        table.add_row(
            r.detector, str(r.n), f"{r.accuracy:.3f}", f"{r.precision:.3f}",
            f"{r.recall:.3f}", f"{r.f1:.3f}", f"{r.seconds:.2f}",
        )  # fmt: skip
    return table


def _by_level(reports) -> Table:
    table = Table(title="share predicted equivalent, by labelled level")
    table.add_column("level")
    table.add_column("n", justify="right")
    for r in reports:
        table.add_column(r.detector, justify="right")
    levels = sorted({lv for r in reports for lv in r.by_level})
    for level in levels:
        n = sum(reports[0].by_level.get(level, {}).values())
        cells = []
        for r in reports:
            c = r.by_level.get(level, {})
            cells.append(f"{c.get('equivalent', 0) / max(1, sum(c.values())):.2f}")
        table.add_row(str(level), str(n), *cells)
    return table


def _stage_table(report) -> Table:
    table = Table(title=f"{report.detector}: deciding stages (precision of what each decided)")
    for col in ("stage", "pairs", "merges", "merge P", "rejects", "reject P"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for row in report.stage_precision():
        mp, rp = row["merge_precision"], row["reject_precision"]
        table.add_row(
            row["stage"], str(row["pairs"]), str(row["merges"]),
            "—" if mp is None else f"{mp:.3f}", str(row["rejects"]),
            "—" if rp is None else f"{rp:.3f}",
        )  # fmt: skip
    return table


def _band(detector) -> dict | None:
    """The abstaining band of a detector's final stage (a features model), if it has one."""
    final = getattr(detector, "final", detector)
    if not hasattr(final, "reject_below"):
        return None
    point = getattr(final, "operating_point", None)
    groups = getattr(getattr(final, "band", None), "groups", {})
    return {
        "operating_point": point,
        "reject_below": final.reject_below,
        "merge_at": final.threshold,
        "groups": {g: {"reject_below": r, "merge_at": m} for g, (r, m) in groups.items()},
    }


def eval_detector(
    pairs_file: Annotated[Path, typer.Argument(help="labelled pairs JSONL")],
    detectors: Annotated[str, typer.Option(help="comma list of detector names")] = (
        DEFAULT_DETECTORS
    ),
    checkpoint: Annotated[Path | None, typer.Option(help="trained detector dir")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write metrics")] = None,
) -> None:
    """Score detectors side by side: accuracy, precision, recall, F1, confusion, by level,
    and each deciding stage's precision on its merges and rejects."""
    from ..mathequiv.evaluate import load_pairs, score_pairs

    _check_output(json_out, "--json")
    try:
        rows = load_pairs(pairs_file)
        rows = [r for r in rows if r.get("label") is not None or r.get("level") is not None]
        if not rows:
            raise ValueError(f"{pairs_file}: holds no labelled pairs")
        made = [_detector(s, checkpoint) for s in detectors.split(",")]
        reports = [score_pairs(rows, d) for d in made]
    except _user_errors() as err:
        _fail(err)
    console.print(_comparison(reports))
    for r, d in zip(reports, made, strict=True):
        console.print(
            f"[bold]{r.detector}[/] confusion: TP {r.tp} · FN {r.fn} · FP {r.fp} · TN {r.tn}"
        )
        band = _band(d)
        if band is not None:
            console.print(f"  band ({band['operating_point']}): merge at p ≥ merge_at, abstain "
                          "(undecided, not merged) for reject_below ≤ p < merge_at")  # fmt: skip
            for g, b in [("overall", band), *band["groups"].items()]:
                console.print(f"    {g}: reject_below {b['reject_below']:.3f} · merge_at "
                              f"{b['merge_at']:.3f}")  # fmt: skip
        console.print(_stage_table(r))
    if any(r.by_level for r in reports):
        console.print(_by_level(reports))
    if json_out is not None:
        data = [
            {**r.summary(), "by_level": r.by_level, "stages": r.stages,
             "by_stage": r.stage_precision(), "band": _band(d)}
            for r, d in zip(reports, made, strict=True)
        ]  # fmt: skip
        try:
            json_out.write_text(json.dumps(data, indent=1, default=dict))
        except OSError as err:
            from .common import fail
            from .inputs import write_error

            fail(write_error(err, json_out, "--json"), 1)
