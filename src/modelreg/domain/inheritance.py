"""Base-model inheritance, resolved at read time.

resolve(model, base) fills every attribute the custom model left None from its (already resolved)
base, so callers resolve a chain bottom-up: the built-in or base-less root first, then each child.
The provider is inherited too ("the base's provider is used"). is_called_by_custom_name is derived:
true exactly when the model has no base and a custom provider (the upstream receives the custom name).
"""

from __future__ import annotations

from collections.abc import Callable

from modelreg.domain.errors import BaseModelNotFound, InheritanceCycle
from modelreg.domain.llm_model import INHERITABLE_FIELDS, CustomModel, LLMModel
from modelreg.domain.params import apply_override

__all__ = ["MAX_CHAIN_DEPTH", "resolve", "resolve_chain"]

MAX_CHAIN_DEPTH = 32


def resolve(model: CustomModel, base: LLMModel | None) -> LLMModel:
    values = {field: getattr(model, field) for field in INHERITABLE_FIELDS}
    if base is not None:
        for field in INHERITABLE_FIELDS:
            if values[field] is None:
                values[field] = getattr(base, field)
    if values["model_type"] is None:
        values["model_type"] = "chat"
    if values["pricing_tiers"] is None:
        values["pricing_tiers"] = ()
    provider = model.provider if model.provider is not None else (base.provider if base else None)
    return LLMModel(
        name=model.name,
        base_model_name=model.base_model_name,
        affiliation="custom",
        organization_id=model.organization_id,
        owner_user_id=model.owner_user_id,
        supported_params=apply_override(base.supported_params if base else {}, model.supported_params_override),
        supported_params_override=model.supported_params_override,
        params=dict(model.params),
        meta=dict(model.meta),
        grants=model.grants,
        is_active=model.is_active,
        is_called_by_custom_name=model.base_model_name is None and model.provider is not None,
        status=base.status if base else "active",
        provider=provider,
        native_name=base.native_name if base and model.base_model_name else model.name,
        max_output_tokens=base.max_output_tokens if base else None,
        created_at=model.created_at,
        updated_at=model.updated_at,
        revision=model.revision,
        pk=model.pk,
        **values,
    )


def resolve_chain(
    model: CustomModel,
    find_custom: Callable[[str], CustomModel | None],
    find_builtin: Callable[[str], LLMModel | None],
    *,
    strict: bool = True,
) -> LLMModel:
    """Resolve `model` through its base chain.

    strict (writes): raise InheritanceCycle or BaseModelNotFound. Not strict (reads): a broken link
    ends the chain there, so a stored model always stays readable and deletable.
    Custom names win over built-in ones, matching how names are looked up everywhere else.
    """
    chain: list[CustomModel] = [model]
    seen = {model.name}
    root: LLMModel | None = None
    current = model
    while current.base_model_name is not None:
        name = current.base_model_name
        if name in seen or len(chain) > MAX_CHAIN_DEPTH:
            if not strict:
                break
            raise InheritanceCycle([m.name for m in chain] + [name if name in seen else "..."])
        parent = find_custom(name)
        if parent is None:
            root = find_builtin(name)
            if root is None and strict:
                raise BaseModelNotFound()
            break
        seen.add(name)
        chain.append(parent)
        current = parent
    resolved = root
    for link in reversed(chain):
        resolved = resolve(link, resolved)
    assert resolved is not None
    return resolved
