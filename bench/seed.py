"""The benchmark database: 100 organizations x 1,000 custom models, seeded directly with SQLAlchemy.

Rows go straight into custom_models and model_views (resolved in Python with the domain's own
resolve_chain and view_values), so seeding takes seconds instead of the hours 100,000 API calls
would. Organizations, users and API keys come from modelreg.services.identity. The result is cached
under ./var/bench keyed by SEED_VERSION and the schema's migration head; every run works on a copy.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sqlite3
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import Table, func, insert, select

from modelreg.catalog.load import Catalog
from modelreg.domain.inheritance import resolve_chain
from modelreg.domain.llm_model import CustomModel
from modelreg.domain.provider import Provider
from modelreg.services import identity
from modelreg.store.database import Database
from modelreg.store.migrate import alembic_config, upgrade_to_head
from modelreg.store.rows import CustomModelRow, ModelViewRow, ProviderRow, RowBase
from modelreg.store.views import stale_organizations, view_values

__all__ = ["SEED_VERSION", "Probe", "Seeded", "copy_for_run", "ensure_seeded"]

SEED_VERSION = 1
"""Bump when the generated data changes: the cached database is rebuilt."""
ORGANIZATIONS = 100
MODELS_PER_ORG = 1_000
PROVIDERS_PER_ORG = 5
RANDOM_SEED = 20261201
BENCH_SECRET = "modelreg-bench-secret-not-for-production-0123456789"  # noqa: S105 (benchmark only)
"""MODELREG_SECRET_KEY of the benchmark servers (no secrets are stored: providers carry no API key)."""

# Built-ins the seeded models inherit from (the ones missing from the catalog snapshot are skipped).
PREFERRED_BASES = (
    "openai/gpt-4o",
    "openai/gpt-4o-mini",
    "openai/gpt-4.1",
    "mistral/mistral-large-latest",
    "deepseek/deepseek-chat",
    "openai/text-embedding-3-small",
)
EXTRA_BASES = 40
"""Random active built-ins added to the preferred ones, so the bases vary."""
MODEL_TYPES = ("chat",) * 14 + ("embedding",) * 3 + ("rerank", "speech", "transcription")
NAME_PREFIXES = ("support", "search", "agent", "batch", "eval", "summarize", "router", "extract")


@dataclass(frozen=True)
class Probe:
    """A seeded model and the wire values a correct resolution must produce."""

    model_name: str
    expected: dict[str, Any]


@dataclass(frozen=True)
class Seeded:
    db_path: Path
    organization_id: str
    """The measured organization (the first one); it has MODELS_PER_ORG custom models like every other."""
    api_key: str
    model_names: list[str]
    probes: list[Probe]
    total_models: int


def cache_path(cache_dir: Path) -> Path:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    return cache_dir / f"seed-v{SEED_VERSION}-{'-'.join(sorted(heads))}.db"


def ensure_seeded(cache_dir: Path, catalog: Catalog) -> Seeded:
    """The cached database, built first when missing (or from an older SEED_VERSION / schema)."""
    db_path = cache_path(cache_dir)
    manifest_path = db_path.with_suffix(".json")
    if db_path.exists() and manifest_path.exists():
        return _read_manifest(db_path, manifest_path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for outdated in (*cache_dir.glob("seed-v*.db"), *cache_dir.glob("seed-v*.json")):
        outdated.unlink()  # databases of older versions or schemas: never used again
    building = db_path.with_suffix(".building")
    for stale in (building, *(building.with_name(building.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    print(f"seeding {ORGANIZATIONS} organizations x {MODELS_PER_ORG} custom models into {db_path} ...", flush=True)
    started = datetime.now(UTC)
    url = f"sqlite+aiosqlite:///{building}"
    upgrade_to_head(url)  # Alembic runs its own event loop: outside ours
    seeded = asyncio.run(_build(building, url, catalog))
    _checkpoint(building)
    building.rename(db_path)
    seeded = replace(seeded, db_path=db_path)
    manifest_path.write_text(json.dumps(_manifest(seeded), indent=1))
    print(f"seeded in {(datetime.now(UTC) - started).total_seconds():.1f} s", flush=True)
    return seeded


def copy_for_run(seeded: Seeded, run_dir: Path) -> Path:
    """A private copy of the cached database: the servers write to it (last-used times, WAL)."""
    target = run_dir / "bench.db"
    shutil.copyfile(seeded.db_path, target)
    return target


def _manifest(seeded: Seeded) -> dict[str, Any]:
    return {
        "version": SEED_VERSION,
        "organization_id": seeded.organization_id,
        "api_key": seeded.api_key,
        "model_names": seeded.model_names,
        "probes": [asdict(p) for p in seeded.probes],
        "total_models": seeded.total_models,
    }


def _read_manifest(db_path: Path, manifest_path: Path) -> Seeded:
    data = json.loads(manifest_path.read_text())
    return Seeded(
        db_path=db_path,
        organization_id=data["organization_id"],
        api_key=data["api_key"],
        model_names=list(data["model_names"]),
        probes=[Probe(p["model_name"], p["expected"]) for p in data["probes"]],
        total_models=int(data["total_models"]),
    )


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the main file, so that copying the one file copies everything."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()


# ---- generation ------------------------------------------------------------------------------


def _base_pool(catalog: Catalog, rng: random.Random) -> list[str]:
    preferred = [name for name in PREFERRED_BASES if name in catalog.models]
    others = sorted(
        m.name
        for m in catalog.models.values()
        if m.status == "active" and m.input_cost is not None and m.name not in preferred
    )
    return preferred + rng.sample(others, min(EXTRA_BASES, len(others)))


def _providers(organization_id: str, first_pk: int, now: datetime) -> list[Provider]:
    providers = [
        Provider(
            pk=first_pk + j,
            organization_id=organization_id,
            provider_id=f"prov-{j}",
            provider_name=f"Bench provider {j}",
            extra_kwargs={"base_url": f"https://llm-{j}.bench.invalid/v1", "timeout": 30 + j},
            created_at=now,
            updated_at=now,
        )
        for j in range(PROVIDERS_PER_ORG - 1)
    ]
    # One provider shares a built-in provider's id: that organization's built-ins become available_to_user.
    providers.append(
        Provider(
            pk=first_pk + PROVIDERS_PER_ORG - 1,
            organization_id=organization_id,
            provider_id="openai",
            provider_name="Our OpenAI account",
            extra_kwargs={"base_url": "https://api.openai.com/v1"},
            created_at=now,
            updated_at=now,
        )
    )
    return providers


def _maybe(rng: random.Random, probability: float, value: Any) -> Any:
    return value if rng.random() < probability else None


def _cost(rng: random.Random, low: float = 0.01, high: float = 20.0) -> float:
    return round(rng.uniform(low, high), 4)


def _name(rng: random.Random, index: int) -> str:
    stem = f"{rng.choice(NAME_PREFIXES)}-{index:04d}"
    return f"team-{index % 7}/{stem}" if rng.random() < 0.1 else stem


def _fixed_models(common: dict[str, Any], providers: list[Provider], pk: int, bases: list[str]) -> list[CustomModel]:
    """The first three models of every organization are the probes (verified through the API)."""
    return [
        CustomModel(pk=pk, name="probe-gpt-4o", base_model_name=bases[0], provider=None, input_cost=1.2345, **common),
        CustomModel(
            pk=pk + 1, name="probe-chain", base_model_name="probe-gpt-4o", provider=None, output_cost=7.5, **common
        ),
        CustomModel(
            pk=pk + 2,
            name="probe-standalone",
            base_model_name=None,
            provider=providers[1],
            model_type="embedding",
            input_cost=0.05,
            output_cost=0.0,
            max_context_window=8192,
            streaming_support=0,
            function_call=0,
            image_support=0,
            **common,
        ),
    ]


def _random_model(
    rng: random.Random,
    pk: int,
    index: int,
    common: dict[str, Any],
    providers: list[Provider],
    bases: list[str],
    earlier: list[str],
    now: datetime,
) -> CustomModel:
    created = now - timedelta(days=rng.uniform(0, 365))
    values: dict[str, Any] = {
        **common,
        "pk": pk,
        "name": _name(rng, index),
        "revision": rng.randint(1, 5),
        "created_at": created,
        "updated_at": created + timedelta(hours=rng.uniform(0, 1000)),
        "supported_params_override": _maybe(rng, 0.1, {"temperature": False, "logprobs": True}),
    }
    kind = rng.random()
    if kind < 0.5:  # inherits from a built-in, overriding a few fields, sometimes routed via a custom provider
        values.update(
            base_model_name=rng.choice(bases),
            provider=_maybe(rng, 0.3, rng.choice(providers)),
            input_cost=_maybe(rng, 0.5, _cost(rng)),
            output_cost=_maybe(rng, 0.3, _cost(rng)),
            display_name=_maybe(rng, 0.5, f"Team model {index}"),
            max_context_window=_maybe(rng, 0.2, rng.choice((8192, 32768, 200000))),
        )
    elif kind < 0.7 and earlier:  # inherits from another custom model of the organization (chains)
        values.update(
            base_model_name=rng.choice(earlier[-200:]),
            provider=None,
            input_cost=_maybe(rng, 0.4, _cost(rng)),
            display_name=_maybe(rng, 0.3, f"Derived {index}"),
        )
    else:  # no base: everything set, called by its custom name through a custom provider
        values.update(
            base_model_name=None,
            provider=rng.choice(providers),
            display_name=f"Custom {index}",
            model_type=rng.choice(MODEL_TYPES),
            input_cost=_cost(rng),
            output_cost=_cost(rng),
            cache_hit_input_cost=_maybe(rng, 0.3, _cost(rng, 0.001, 1.0)),
            max_context_window=rng.choice((4096, 8192, 32768, 128000, 1000000)),
            streaming_support=rng.randint(0, 1),
            function_call=rng.randint(0, 1),
            image_support=rng.randint(0, 1),
        )
    return CustomModel(**values)


def _model_row(model: CustomModel) -> dict[str, Any]:
    return {
        "pk": model.pk,
        "organization_id": model.organization_id,
        "user_id": model.owner_user_id,
        "model_name": model.name,
        "display_name": model.display_name,
        "base_model_name": model.base_model_name,
        "provider_pk": model.provider.pk if model.provider else None,
        "model_type": model.model_type,
        "input_cost": model.input_cost,
        "output_cost": model.output_cost,
        "cache_hit_input_cost": model.cache_hit_input_cost,
        "cache_creation_input_cost": model.cache_creation_input_cost,
        "max_context_window": model.max_context_window,
        "streaming_support": model.streaming_support,
        "function_call": model.function_call,
        "image_support": model.image_support,
        "supported_params_override": model.supported_params_override,
        "revision": model.revision,
        "created_at": model.created_at,
        "updated_at": model.updated_at,
    }


def _provider_row(provider: Provider) -> dict[str, Any]:
    return {
        "pk": provider.pk,
        "organization_id": provider.organization_id,
        "provider_id": provider.provider_id,
        "provider_name": provider.provider_name,
        "extra_kwargs": provider.extra_kwargs,
        "secrets_enc": None,
        "revision": provider.revision,
        "created_at": provider.created_at,
        "updated_at": provider.updated_at,
    }


def _org_models(
    rng: random.Random,
    organization_id: str,
    user_id: str,
    providers: list[Provider],
    bases: list[str],
    first_pk: int,
    now: datetime,
) -> list[CustomModel]:
    common = {"organization_id": organization_id, "owner_user_id": user_id}
    models = _fixed_models({**common, "created_at": now, "updated_at": now}, providers, first_pk, bases)
    names = [m.name for m in models]
    for index in range(len(models), MODELS_PER_ORG):
        model = _random_model(rng, first_pk + index, index, common, providers, bases, names, now)
        models.append(model)
        names.append(model.name)
    return models


def _probes(catalog: Catalog, bases: list[str]) -> list[Probe]:
    """Expected wire values, written from the catalog and the fixed models (not from the resolver)."""
    root = catalog.models[bases[0]]
    assert root.provider is not None
    return [
        Probe(
            "probe-gpt-4o",
            {
                "base_model_name": root.name,
                "input_cost": 1.2345,
                "output_cost": root.output_cost,
                "max_context_window": root.max_context_window,
                "model_type": root.model_type,
                "provider_id": root.provider.provider_id,
                "is_called_by_custom_name": False,
            },
        ),
        Probe(
            "probe-chain",
            {
                "base_model_name": "probe-gpt-4o",
                "input_cost": 1.2345,
                "output_cost": 7.5,
                "max_context_window": root.max_context_window,
                "provider_id": root.provider.provider_id,
            },
        ),
        Probe(
            "probe-standalone",
            {
                "base_model_name": None,
                "model_type": "embedding",
                "input_cost": 0.05,
                "max_context_window": 8192,
                "provider_id": "prov-1",
                "is_called_by_custom_name": True,
            },
        ),
    ]


def _table(row: type[RowBase]) -> Table:
    """The Core table of a row class: inserting into it is one executemany, not one statement per row."""
    return RowBase.metadata.tables[row.__tablename__]


async def _build(path: Path, url: str, catalog: Catalog) -> Seeded:
    rng = random.Random(RANDOM_SEED)
    bases = _base_pool(catalog, rng)
    now = datetime.now(UTC).replace(microsecond=0)
    db = Database(url)
    first: tuple[str, str, list[str]] | None = None
    try:
        async with db.write() as session:
            for org_index in range(ORGANIZATIONS):
                created = await identity.create_organization(
                    session, f"bench-org-{org_index:03d}", f"admin@bench-{org_index:03d}.example"
                )
                organization_id = created.organization_id
                providers = _providers(organization_id, org_index * PROVIDERS_PER_ORG + 1, now)
                first_pk = org_index * MODELS_PER_ORG + 1
                models = _org_models(rng, organization_id, created.user_id, providers, bases, first_pk, now)
                by_name = {m.name: m for m in models}
                views = [
                    view_values(resolve_chain(m, by_name.get, catalog.lookup_or_none, strict=True)) for m in models
                ]
                await session.execute(insert(_table(ProviderRow)), [_provider_row(p) for p in providers])
                await session.execute(insert(_table(CustomModelRow)), [_model_row(m) for m in models])
                await session.execute(insert(_table(ModelViewRow)), views)
                if first is None:
                    first = (organization_id, created.api_key, [m.name for m in models])
        async with db.read() as session:
            total = int(await session.scalar(select(func.count()).select_from(ModelViewRow)) or 0)
            stale = await stale_organizations(session)
    finally:
        await db.dispose()
    expected = ORGANIZATIONS * MODELS_PER_ORG
    if total != expected or stale:
        raise RuntimeError(f"seeding produced {total} model views (expected {expected}), {len(stale)} stale orgs")
    assert first is not None
    return Seeded(path, first[0], first[1], first[2], _probes(catalog, bases), total)
