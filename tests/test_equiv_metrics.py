"""Scoring detectors on labelled pairs, and reading pair files."""

from __future__ import annotations

import json

import pytest

from equivpruner.equiv.base import Verdict
from equivpruner.equiv.exact import ExactDetector
from equivpruner.mathequiv.evaluate import Report, load_pairs, row_label, score_pairs


class Recorder:
    """Equivalent when both steps start with the same word; records each call."""

    name = "first-word"

    def __init__(self):
        self.calls = []

    def compare(self, steps, pairs, context):
        self.calls.append((context, list(pairs)))
        return [
            Verdict(i, j, steps[i].split()[0] == steps[j].split()[0], 0.5, self.name)
            for i, j in pairs
        ]


ROWS = [
    {"question": "q1", "prefix": [], "step_a": "add 1", "step_b": "add 2", "level": 4},  # tp
    {"question": "q1", "prefix": [], "step_a": "add 1", "step_b": "sub 1", "level": 3},  # fn
    {"question": "q2", "prefix": ["s"], "step_a": "mul 3", "step_b": "mul 4", "label": 0},  # fp
    {"question": "q2", "prefix": ["s"], "step_a": "x", "step_b": "y", "level": 1},  # tn
    {"step_a": "a b", "step_b": "a c", "label": 1, "level": 0},  # tp: label wins over level
]


def test_score_pairs_counts_and_metrics():
    detector = Recorder()
    report = score_pairs(ROWS, detector)
    assert (report.tp, report.fn, report.fp, report.tn) == (2, 1, 1, 1)
    assert report.n == 5
    assert report.accuracy == pytest.approx(3 / 5)
    assert report.precision == pytest.approx(2 / 3)
    assert report.recall == pytest.approx(2 / 3)
    assert report.f1 == pytest.approx(2 / 3)
    assert report.by_level[4]["equivalent"] == 1 and report.by_level[3]["not"] == 1
    assert report.by_level[0]["equivalent"] == 1
    assert report.stages == {"first-word": 5}
    # One call per shared context (question + prefix), as one expansion would be.
    assert [(c.question, c.prefix, len(p)) for c, p in detector.calls] == [
        ("q1", (), 2),
        ("q2", ("s",), 2),
        ("", (), 1),
    ]


def test_report_format_is_markdown():
    text = score_pairs(ROWS, Recorder()).format()
    assert "| detector | n | accuracy | precision | recall | F1 | seconds |" in text
    assert "| first-word | 5 | 0.600 | 0.667 | 0.667 | 0.667 |" in text
    assert "| equivalent | 2 | 1 |" in text and "| not | 1 | 1 |" in text
    assert "| 4 | 1 | 1 | 0 |" in text
    assert "| first-word | 5 |" in text


def test_empty_report_has_no_division_by_zero():
    report = Report("none")
    assert (report.accuracy, report.precision, report.recall, report.f1) == (0, 0, 0, 0)
    assert "| none | 0 |" in report.format()


def test_row_label_rules():
    assert row_label({"level": 3}) == 1 and row_label({"level": 2}) == 0
    assert row_label({"label": True}) == 1 and row_label({"label": 0, "level": 4}) == 0
    for bad in ({"label": 2}, {"level": 5}, {"level": "3"}, {}):
        with pytest.raises(ValueError):
            row_label(bad, "row 7")


def test_load_pairs_reads_jsonl_and_reports_bad_lines(tmp_path):
    good = tmp_path / "pairs.jsonl"
    good.write_text(json.dumps(ROWS[0]) + "\n\n" + json.dumps(ROWS[1]) + "\n")
    assert [r["level"] for r in load_pairs(good)] == [4, 3]

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: invalid JSON"):
        load_pairs(bad)
    bad.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: expected a JSON object"):
        load_pairs(bad)
    bad.write_text(json.dumps({"step_a": "x", "label": 1}) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: missing text field 'step_b'"):
        load_pairs(bad)


def test_dev_file_loads_and_scores(shared_dir):
    path = shared_dir / "equiv" / "dev.jsonl"
    if not path.is_file():
        pytest.skip("no dev.jsonl")
    rows = load_pairs(path)
    report = score_pairs(rows, ExactDetector())
    assert report.n == len(rows) and report.fp == 0


class TwoStages:
    """Stage "first" merges pairs whose steps start alike (right or wrong); "second" decides the
    rest: equivalent when both steps end alike."""

    name = "two-stage"

    def compare(self, steps, pairs, context):
        out = []
        for i, j in pairs:
            a, b = steps[i].split(), steps[j].split()
            if a[0] == b[0]:
                out.append(Verdict(i, j, True, 1.0, "first"))
            else:
                out.append(Verdict(i, j, a[-1] == b[-1], 0.5, "second"))
        return out


STAGE_ROWS = [
    {"step_a": "add 1", "step_b": "add 2", "label": 1},  # first: right merge
    {"step_a": "mul 3", "step_b": "mul 4", "label": 0},  # first: false merge
    {"step_a": "x z", "step_b": "y z", "label": 1},  # second: right merge
    {"step_a": "x z", "step_b": "y w", "label": 1},  # second: wrong reject
    {"step_a": "p q", "step_b": "r s", "label": 0},  # second: right reject
    {"step_a": "p t", "step_b": "r u", "label": 0},  # second: right reject
]


def test_per_stage_precision_on_merges_and_rejects():
    report = score_pairs(STAGE_ROWS, TwoStages())
    rows = {r["stage"]: r for r in report.stage_precision()}
    assert rows["first"]["pairs"] == 2 and rows["first"]["merges"] == 2
    assert rows["first"]["merge_precision"] == pytest.approx(0.5)
    assert rows["first"]["reject_precision"] is None  # it rejected nothing
    assert (rows["second"]["merges"], rows["second"]["rejects"]) == (1, 3)
    assert rows["second"]["merge_precision"] == 1.0
    assert rows["second"]["reject_precision"] == pytest.approx(2 / 3)
    text = report.format()
    header = "| deciding stage | pairs | merges | merge precision | rejects | reject precision |"
    assert header in text
    assert "| first | 2 | 2 | 0.500 | 0 | — |" in text
    assert "| second | 4 | 1 | 1.000 | 3 | 0.667 |" in text


def test_eval_detector_reports_stages_and_the_band(tmp_path):
    from typer.testing import CliRunner

    from equivpruner.cli.app import app

    rows = [
        {"question": "q", "step_a": "3 × 4 = 12", "step_b": "4 × 3 = 12", "label": 1},
        {"question": "q", "step_a": "48/2 = 24", "step_b": "48/2 = 25", "label": 0},
        {"question": "q", "step_a": "Same step.", "step_b": "Same step.", "label": 1},
        {"question": "q", "step_a": "Let's go.", "step_b": "Read it twice.", "label": 0},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "m.json"
    res = CliRunner().invoke(
        app, ["eval-detector", str(path), "--detectors", "cascade,cascade-strict",
              "--json", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "deciding stages" in res.output and "merge P" in res.output
    assert "band (prune)" in res.output and "band (stop)" in res.output
    data = {d["detector"]: d for d in json.loads(out.read_text())}
    stages = {r["stage"]: r for r in data["cascade"]["by_stage"]}
    assert stages["symbolic"]["merges"] == 1 and stages["symbolic"]["rejects"] == 1
    assert stages["symbolic"]["merge_precision"] == 1.0
    assert stages["exact"]["merges"] == 1
    prune, stop = data["cascade"]["band"], data["cascade-strict"]["band"]
    assert prune["operating_point"] == "prune" and stop["operating_point"] == "stop"
    assert stop["merge_at"] >= prune["merge_at"] and prune["reject_below"] <= prune["merge_at"]
    for group, band in prune["groups"].items():  # the shipped model: one band per kind
        assert band["merge_at"] <= stop["groups"][group]["merge_at"]
    assert "later-words" in prune["groups"] and "opening: reject_below" in res.output
