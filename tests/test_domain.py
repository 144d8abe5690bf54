"""Unit tests of the pure pieces: names, secret splitting, overrides, inheritance, catalog lookup, encryption."""

from __future__ import annotations

import pytest

from modelreg.catalog.load import Catalog
from modelreg.crypto import SecretBox
from modelreg.domain.errors import AmbiguousModelName, BaseModelNotFound, InheritanceCycle, InvalidInput
from modelreg.domain.inheritance import resolve_chain
from modelreg.domain.llm_model import CustomModel, LLMModel
from modelreg.domain.names import validate_model_name
from modelreg.domain.params import apply_override
from modelreg.domain.provider import split_secrets


@pytest.mark.parametrize(
    "name",
    [
        "",
        " x",
        "x ",
        "a\x00b",
        "a\nb",
        "a\u202eb",
        "list",
        "summary",
        "public",
        "a/status",
        "a//b",
        "/a",
        "a/",
        "a/../b",
        "x" * 257,
    ],
)
def test_invalid_model_names(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_model_name(name)


@pytest.mark.parametrize(
    "name", ["a", "team/model/v2", "café-模型", "a b", "x" * 256, "status-page", "my.model:latest"]
)
def test_valid_model_names(name: str) -> None:
    assert validate_model_name(name) == name


def test_split_secrets_moves_every_secret_like_key() -> None:
    public, secret = split_secrets(
        {
            "base_url": "https://x",
            "timeout": 30,
            "api_key": "k1",
            "AWS_SECRET_ACCESS_KEY": "k2",
            "password": "k3",
            "headers": {"Authorization": "Bearer k4", "X-Trace": "on"},
            "session_token": "k5",
        }
    )
    assert public == {"base_url": "https://x", "timeout": 30, "headers": {"X-Trace": "on"}}
    assert secret == {
        "api_key": "k1",
        "AWS_SECRET_ACCESS_KEY": "k2",
        "password": "k3",
        "headers": {"Authorization": "Bearer k4"},
        "session_token": "k5",
    }


def test_apply_override() -> None:
    base = {"temperature": True, "seed": True}
    assert apply_override(base, None) == base
    assert apply_override(base, {"seed": None, "top_k": {"type": "int"}}) == {
        "temperature": True,
        "top_k": {"type": "int"},
    }
    assert base == {"temperature": True, "seed": True}  # the base is not mutated


def _custom(name: str, base: str | None, **fields: object) -> CustomModel:
    return CustomModel(
        pk=1, organization_id="o", owner_user_id=None, name=name, base_model_name=base, provider=None, **fields
    )  # type: ignore[arg-type]


def test_resolve_chain_inherits_and_overrides() -> None:
    root = LLMModel(name="p/root", affiliation="builtin", input_cost=1.0, output_cost=2.0, supported_params={"a": True})
    mid = _custom("mid", "p/root", input_cost=5.0)
    leaf = _custom("leaf", "mid", supported_params_override={"a": None, "b": True})
    resolved = resolve_chain(leaf, {"mid": mid}.get, {"p/root": root}.get)
    assert (resolved.input_cost, resolved.output_cost) == (5.0, 2.0)
    assert resolved.supported_params == {"b": True}
    assert resolved.model_type == "chat"


def test_resolve_chain_errors() -> None:
    a, b = _custom("a", "b"), _custom("b", "a")
    with pytest.raises(InheritanceCycle):
        resolve_chain(a, {"b": b, "a": a}.get, lambda _: None)
    with pytest.raises(BaseModelNotFound):
        resolve_chain(_custom("x", "missing"), lambda _: None, lambda _: None)
    lenient = resolve_chain(_custom("x", "missing", input_cost=1.0), lambda _: None, lambda _: None, strict=False)
    assert lenient.input_cost == 1.0


def test_catalog_lookup_rules(catalog: Catalog) -> None:
    assert catalog.lookup("openai/gpt-4o") is catalog.lookup("gpt-4o")
    ambiguous = next(
        name for name, models in catalog._native.items() if len(models) > 1 and catalog.exact(name) is None
    )
    with pytest.raises(AmbiguousModelName) as info:
        catalog.lookup(ambiguous)
    assert len(info.value.candidates) > 1
    assert catalog.lookup("surely-not-a-model") is None


def test_catalog_shape(catalog: Catalog) -> None:
    assert len(catalog) > 1000
    assert {"litellm", "genai_prices"} <= set(catalog.sources)
    types = {m.model_type for m in catalog.models.values()}
    assert {"chat", "embedding", "speech", "transcription"} <= types
    gpt = catalog.models["openai/gpt-4o"]
    assert gpt.input_cost == 2.5 and gpt.output_cost == 10.0 and gpt.streaming_support == 1


def test_secret_box_rotation() -> None:
    old = SecretBox("old-secret")
    token = old.seal({"api_key": "sk-plaintext-secret"})
    assert token is not None and "plaintext" not in token
    new = SecretBox("new-secret", ("old-secret",))
    assert new.open(token) == {"api_key": "sk-plaintext-secret"}
    rotated = new.rotate(token)
    assert SecretBox("new-secret").open(rotated) == {"api_key": "sk-plaintext-secret"}
    with pytest.raises(RuntimeError):
        SecretBox("new-secret").open(token)
