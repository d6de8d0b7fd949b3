"""`equivpruner` command line: a thin layer over the Python API.

Every option is checked before a model loads (`options`, `inputs`); a bad one is
one `error:` line and exit code 2. Tests inject a policy with `CliRunner().invoke(app, args,
obj={"load_backend": fn})`; without it `llm.loader.load_policy` builds the backend.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from ..api import DEFAULT_MODEL
from ..search import SearchConfig
from ..search.gate import load_gate
from ..steps import StepProtocol, check_question
from . import options as o
from .common import OneLineErrors, describe, fail, user_errors
from .help import HelpCommand, command
from .solve import Display, Job, print_result, run_batch, why_no_answer, write_json

app = typer.Typer(
    cls=OneLineErrors,
    help="Prune semantically equivalent reasoning steps in LLM tree search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
_D = SearchConfig()
_P = StepProtocol()


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        typer.echo(f"equivpruner {version('equivpruner')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Prune semantically equivalent reasoning steps in LLM tree search."""


def _policy(spec: str, **opts):
    from ..llm import loader

    return loader.load_policy(spec, **opts)


def _backend(ctx: typer.Context, model: str, value: str, threads, n_ctx, tokenizer=None,
             timeout=None):
    """Check the model specs (and the hub) first, then load the policy once."""
    from .inputs import backend_options, check_model, server_options

    ref = check_model(model)
    name, _, arg = value.partition(":")
    if name == "prm":
        check_model(arg.strip(), "--value prm:")
    opts = {**backend_options(ref, threads, n_ctx), **server_options(ref, tokenizer, timeout)}
    load = (ctx.obj or {}).get("load_backend") or _policy
    return load(model, **opts)


def _items(question, file, gold, save_tree, html):
    """The batch from --file (None for one question); conflicting inputs fail."""
    from .inputs import OutputError, check_output, read_questions

    if file is None:
        if question is None:
            fail("give a question, or --file FILE (- for stdin)")
        try:
            check_question(question)
        except ValueError as err:
            fail(describe(err))
        for flag, path in (("--save-tree", save_tree), ("--html", html)):
            if path is not None and (path.is_dir() or not path.parent.is_dir()):
                what = "is a directory" if path.is_dir() else "has no such folder"
                fail(f"{flag} {path}: {what}")
            try:
                check_output(path, flag)
            except OutputError as err:
                fail(str(err))
        return None
    if question is not None:
        fail("give a question or --file, not both")
    for flag, given in (("--gold", gold), ("--save-tree", save_tree), ("--html", html)):
        if given is not None:
            fail(f"{flag} takes one question; with --file, give answers in the file")
    try:
        return read_questions(file)
    except user_errors() as err:
        fail(describe(err))


def _protocol(max_depth, max_step_tokens, system_prompt, step_delimiter) -> StepProtocol:
    return StepProtocol(
        system_prompt=system_prompt or _P.system_prompt,
        delimiter=step_delimiter or _P.delimiter,
        max_depth=max_depth,
        max_step_tokens=max_step_tokens,
    )


def _solve_one(job: Job, question, gold, display, as_json, save_tree, html) -> None:
    try:
        with display:
            result = job.run(question, gold, display)
    except user_errors() as err:  # the inputs passed their checks: the work failed
        fail(describe(err), 1)
    if as_json:
        write_json(job.record(result))
    elif result.steps:
        print_result(result, job.search, job.protocol)
    _save_outputs(result, save_tree, html)  # after the answer: a full disk never hides it
    if not result.steps:
        fail(f"could not start on this question: {why_no_answer(result, job.protocol)}", 1)


def _save_outputs(result, save_tree: Path | None, html: Path | None) -> None:
    from .inputs import write_error

    for flag, path in (("--save-tree", save_tree), ("--html", html)):
        if path is None:
            continue
        try:
            if flag == "--html":
                from ..viz import write_tree_html

                write_tree_html(result.tree, path)
            else:
                result.tree.save(path)
        except OSError as err:
            fail(write_error(err, path, flag), 1)


@app.command("solve", cls=HelpCommand)
def solve_cmd(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Argument(help="The problem text.")] = None,
    model: o.Model = DEFAULT_MODEL,
    preset: o.PresetOpt = None,
    search: o.Search = o.GREEDY,
    pruner: o.Pruner = o.NO_PRUNER,
    value: o.Value = "selfeval",
    width: o.Width = _D.width,
    simulations: o.Simulations = _D.simulations,
    beam_width: o.BeamWidth = _D.beam_width,
    samples: o.Samples = _D.n_samples,
    temperature: o.Temperature = _D.temperature,
    top_p: o.TopP = _D.top_p,
    c_init: o.CInit = _D.c_init,
    c_base: o.CBase = _D.c_base,
    max_depth: o.MaxDepth = _P.max_depth,
    max_step_tokens: o.MaxStepTokens = _P.max_step_tokens,
    prune_order: o.Order = o.PRUNE_AFTER,
    keep: o.Keep = o.KEEP_FIRST,
    width_rule: o.WidthRuleOpt = o.FIXED_WIDTH,
    min_width: o.MinWidth = None,
    wave_size: o.WaveSize = _D.wave_size,
    unseen_mass: o.UnseenMass = _D.unseen_mass,
    single_group_commit: o.SingleGroupCommit = _D.single_group_commit,
    adaptive_stop: o.AdaptiveStop = _D.adaptive_stop,
    stop_confidence: o.StopConfidence = _D.stop_confidence,
    stop_detector: o.StopDetector = None,
    branch_gate: o.BranchGate = None,
    gate_threshold: o.GateThreshold = None,
    prior: o.PriorRuleOpt = o.PRIOR_EMPIRICAL,
    answer_rule: o.AnswerRuleOpt = o.ANSWER_PATH,
    vote_weights: o.VoteWeightsOpt = o.VOTE_COUNT,
    arithmetic_check: o.ArithmeticCheck = _D.arithmetic_check,
    token_budget: o.TokenBudget = None,
    threads: o.Threads = None,
    n_ctx: o.NCtx = None,
    tokenizer: o.Tokenizer = None,
    timeout: o.Timeout = None,
    system_prompt: o.SystemPrompt = None,
    step_delimiter: o.StepDelimiter = None,
    gold: Annotated[str | None, o.opt(o.IO, help="Reference answer to check against.")] = None,
    seed: Annotated[int, o.opt(o.SEARCH, help="Seed of the search's sampling.")] = 0,
    file: o.File = None,
    as_json: Annotated[bool, o.opt(o.IO, "--json", help="One JSON line.")] = False,
    merges: o.Merges = False,
    verbose: o.Verbose = False,
    progress: o.Progress = None,
    save_tree: Annotated[Path | None, o.opt(o.IO, help="Write the search tree JSON.")] = None,
    html: Annotated[Path | None, o.opt(o.IO, help="Write the tree as an HTML page.")] = None,
) -> None:
    """Solve a problem step by step, with or without tree search and pruning (--file: one
    JSON line per question of a .txt or .jsonl file)."""
    items = _items(question, file, gold, save_tree, html)
    if merges and not as_json and items is None:
        fail("--merges adds the merge records to --json output; give --json too")
    try:
        config = SearchConfig(
            algorithm=search.value, width=width, simulations=simulations,
            beam_width=beam_width, n_samples=samples, temperature=temperature, top_p=top_p,
            c_base=c_base, c_init=c_init, prune_order=prune_order.value, keep=keep.value,
            token_budget=token_budget, seed=seed, width_rule=width_rule.value,
            min_width=min(_D.min_width, width) if min_width is None else min_width,
            wave_size=wave_size, unseen_mass=unseen_mass,
            single_group_commit=single_group_commit, adaptive_stop=adaptive_stop,
            stop_confidence=stop_confidence,
            stop_detector=stop_detector.value if stop_detector else None,
            branch_gate=None if branch_gate == "none" else branch_gate,
            gate_threshold=gate_threshold, prior_rule=prior.value,
            answer_rule=answer_rule.value, vote_weights=vote_weights.value,
            arithmetic_check=arithmetic_check,
        )  # fmt: skip
        protocol = _protocol(max_depth, max_step_tokens, system_prompt, step_delimiter)
        names = (search.value, pruner.value, value)
        if preset is not None:
            *names, config, protocol = _with_preset(ctx, preset.value, config, protocol, *names)
        if min_width is not None and config.min_width > config.width:
            fail(f"--min-width {config.min_width} is more than --width {config.width}")
        if config.branch_gate:
            load_gate(config.branch_gate)  # a bad gate fails before any model loads
        job = _job(ctx, model, *names, config, protocol, threads, n_ctx, tokenizer, timeout)
    except user_errors() as err:
        fail(describe(err))
    job.merges = merges
    display = Display(progress, verbose)
    if items is not None:
        raise typer.Exit(run_batch(job, items, display))
    _solve_one(job, question, gold, display, as_json, save_tree, html)


# the solve options that fill a preset's fields, where the two names differ
OPTION_OF_FIELD = {"prior_rule": "prior", "n_samples": "samples"}


def _with_preset(ctx: typer.Context, name: str, config, protocol, search, pruner, value):
    """The search, pruner, value, config and protocol of preset `name`, except what the
    command line gave."""
    from ..presets import preset as find_preset

    chosen = find_preset(name)
    # by the source's name: typer ships its own copy of click's ParameterSource
    given = {
        p for p in ctx.params
        if getattr(ctx.get_parameter_source(p), "name", "DEFAULT") != "DEFAULT"
    }  # fmt: skip
    keep = {f for f in chosen.settings if OPTION_OF_FIELD.get(f, f) in given}
    search = search if "search" in given else chosen.search
    config = replace(chosen.search_config(config, keep), algorithm=search)
    if "min_width" not in given and config.min_width > config.width:  # a --width under it
        config = replace(config, min_width=config.width)
    limits = {k: v for k, v in chosen.limits.items() if k not in given}
    pruner = pruner if "pruner" in given else chosen.pruner
    value = value if "value" in given else chosen.value
    return search, pruner, value, config, replace(protocol, **limits)


def _job(ctx, model, search, pruner, value, config, protocol, threads, n_ctx, tokenizer=None,
         timeout=None) -> Job:
    """The policy, detector and value function, each built once (a batch shares them)."""
    from ..api import build_detector, build_value

    backend = _backend(ctx, model, value, threads, n_ctx, tokenizer, timeout)
    detector = build_detector(pruner, backend)
    if search not in ("greedy", "sampled", "chains"):  # these need no value model
        value = build_value(value, backend, protocol)
    return Job(backend, search, detector, value, config, protocol)


@app.command("view", cls=HelpCommand)
def view_cmd(
    tree_file: Annotated[Path, typer.Argument(help="A tree saved with --save-tree.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="HTML file to write.")] = Path(
        "tree.html"
    ),
) -> None:
    """Render a saved search tree as a self-contained HTML page."""
    from ..viz import write_tree_html
    from ..viz.check import read_tree
    from .inputs import check_output, write_error

    try:
        check_output(out, "--out")
        tree = read_tree(tree_file)
    except ValueError as err:
        fail(str(err))
    try:
        write_tree_html(tree, out)
    except OSError as err:
        fail(write_error(err, out, "--out"), 1)
    from .solve import console

    console.print(f"wrote {out}", highlight=False)


def _register() -> None:
    """Commands that live beside the code they drive."""
    from .bench import bench
    from .equiv import equiv
    from .mathequiv import eval_detector, harvest, harvest_trees, label, train_detector

    command(app, "equiv")(equiv)
    command(app, "bench")(bench)
    command(app, "harvest")(harvest)
    command(app, "harvest-trees")(harvest_trees)
    command(app, "label")(label)
    command(app, "train-detector")(train_detector)
    command(app, "eval-detector")(eval_detector)


_register()


def main() -> None:  # pragma: no cover - console entry
    app()
