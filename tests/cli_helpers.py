"""The CLI on a scripted policy: run commands in-process, and prove no model was loaded."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from equivpruner.cli.app import app
from equivpruner.llm.base import BackendError
from equivpruner.llm.scripted import EOS, TRUNCATED, ScriptedBackend

runner = CliRunner()


def robe(prefix: str) -> list[str]:
    """Three steps to 3, with a respelled and an identical sibling at the first step."""
    depth = prefix.count("\n\n")
    if depth == 0:
        return ["Blue fiber: 2 bolts.", "blue fiber:  2 bolts", "Blue fiber: 2 bolts."]
    if depth == 1:
        return ["White fiber is half of that: 2 / 2 = 1.", "Half of 2 is 1 bolt of white."]
    return ["Total: 2 + 1 = \\boxed{3}" + EOS]


class RobeBackend(ScriptedBackend):
    """`robe` for every question; a question containing FAIL makes the backend fail."""

    def __init__(self, script=robe):
        super().__init__(script)

    def generate(self, prompts, params):
        if any("FAIL" in p for p in prompts):
            raise BackendError("the server went away")
        return super().generate(prompts, params)


def cli(*args: str, backend=None, input: str | None = None, env: dict | None = None):
    """Invoke the app with `backend` as the policy (a RobeBackend by default)."""
    made = backend if backend is not None else RobeBackend()
    obj = {"load_backend": lambda spec, **opts: made}
    return runner.invoke(app, list(args), obj=obj, input=input, env=env)


def one_error_line(result, code: int = 2) -> str:
    """The single `error:` line of a failed command (asserting there is only that)."""
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


def refuse_models(monkeypatch) -> None:
    """Fail the test if anything loads a policy, a detector or a value function."""
    import equivpruner.api as api
    import equivpruner.llm.loader as loader

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    for module, name in ((loader, "load_policy"), (loader, "_build"), (api, "build_detector"),
                         (api, "build_value")):  # fmt: skip
        monkeypatch.setattr(module, name, refuse)


def real_cli(*args: str, input: str | None = None, env: dict | None = None):
    """Invoke the app as a user would: no injected policy (loads go to `llm.loader`)."""
    return runner.invoke(app, list(args), input=input, env=env)


def chain_tree(n: int) -> dict:
    """A saved tree that is one chain of n nodes, the root first."""
    nodes = [
        {"id": k, "text": f"step {k}" if k else "", "parent": k - 1 if k else None,
         "children": [k + 1] if k + 1 < n else [], "depth": k}
        for k in range(n)
    ]  # fmt: skip
    return {"format": "equivpruner.tree/1", "question": "Q?", "nodes": nodes, "answer": None,
            "gold": None, "correct": None, "chosen_path": list(range(1, n)),
            "meta": {}}  # fmt: skip


def write_tree(path: Path, data) -> Path:
    """Save `data` as the JSON tree file at `path`."""
    path.write_text(json.dumps(data))
    return path


__all__ = [
    "EOS", "TRUNCATED", "RobeBackend", "ScriptedBackend", "chain_tree", "cli", "one_error_line",
    "real_cli", "refuse_models", "robe", "write_tree",
]  # fmt: skip
