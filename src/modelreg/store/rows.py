"""Database rows. Every class ends in `Row` so that no one confuses a table with an LLM model.

Schema changes go through Alembic (store/migrations); `RowBase.metadata` is what autogenerate compares.
Relationships are deliberately absent: queries join explicitly, so nothing lazy-loads behind our back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiKeyRow",
    "AuditEntryRow",
    "CatalogSnapshotRow",
    "ChangeCounterRow",
    "ConsoleSessionRow",
    "CustomModelRow",
    "GroupMemberRow",
    "GroupRow",
    "ModelGrantRow",
    "ModelPriceRow",
    "ModelRevisionRow",
    "ModelThroughputRow",
    "ModelViewRow",
    "OrganizationRow",
    "ProviderRow",
    "RowBase",
    "UsageMinuteRow",
    "UserRow",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite would otherwise drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RowBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class OrganizationRow(RowBase):
    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    """Unique: operators name organizations in the CLI (`--org NAME`)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserRow(RowBase):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deactivated_at: Mapped[datetime | None]
    """A deactivated user can no longer authenticate (keys, tokens, console sessions); rows stay for history."""


class ApiKeyRow(RowBase):
    """An API key is stored as a lookup prefix (indexed, not secret) plus SHA-256 of the whole key."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(256))
    lookup_prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class ConsoleSessionRow(RowBase):
    """A signed-in console session. Only SHA-256 of the cookie's token is stored; sign-out deletes the row.
    A session opened with an API key ends with that key (revoked or expired)."""

    __tablename__ = "console_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    api_key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class ProviderRow(RowBase):
    """A custom provider. `extra_kwargs` holds only non-secret keys; secrets live encrypted in `secrets_enc`."""

    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("organization_id", "provider_id", name="uq_providers_org_provider_id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    provider_id: Mapped[str] = mapped_column(String(256))
    provider_name: Mapped[str] = mapped_column(String(256))
    extra_kwargs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets_enc: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomModelRow(RowBase):
    """An organization's model definition, stored sparse: a NULL column inherits from the base model."""

    __tablename__ = "custom_models"
    __table_args__ = (
        UniqueConstraint("organization_id", "model_name", name="uq_custom_models_org_model_name"),
        Index("ix_custom_models_org_base", "organization_id", "base_model_name"),
    )
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    model_name: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str | None] = mapped_column(String(256))
    base_model_name: Mapped[str | None] = mapped_column(String(256))
    provider_pk: Mapped[int | None] = mapped_column(ForeignKey("providers.pk", ondelete="SET NULL"), index=True)
    model_type: Mapped[str | None] = mapped_column(String(32))
    input_cost: Mapped[float | None] = mapped_column(Float)
    output_cost: Mapped[float | None] = mapped_column(Float)
    cache_hit_input_cost: Mapped[float | None] = mapped_column(Float)
    cache_creation_input_cost: Mapped[float | None] = mapped_column(Float)
    pricing_tiers: Mapped[list[Any] | None] = mapped_column(JSON)
    """[{above_input_tokens, input_cost, ...}, ...] ascending; NULL inherits, [] means no tiers."""
    max_context_window: Mapped[int | None] = mapped_column(Integer)
    streaming_support: Mapped[int | None] = mapped_column(SmallInteger)
    function_call: Mapped[int | None] = mapped_column(SmallInteger)
    image_support: Mapped[int | None] = mapped_column(SmallInteger)
    supported_params_override: Mapped[dict[str, Any] | None]
    params: Mapped[dict[str, Any] | None]
    """Default request parameters (Open WebUI `params`)."""
    meta: Mapped[dict[str, Any] | None]
    """Open WebUI `meta`, minus the capabilities stored in the flag columns."""
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelGrantRow(RowBase):
    """One access grant on a custom model (see domain/access.py for what it allows)."""

    __tablename__ = "model_grants"
    model_pk: Mapped[int] = mapped_column(ForeignKey("custom_models.pk", ondelete="CASCADE"), primary_key=True)
    principal_type: Mapped[str] = mapped_column(String(8), primary_key=True)
    principal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    permission: Mapped[str] = mapped_column(String(8), primary_key=True)


class GroupRow(RowBase):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_groups_org_name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupMemberRow(RowBase):
    __tablename__ = "group_members"
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)


class ChangeCounterRow(RowBase):
    """Monotonic counters bumped by every write; servers poll them to invalidate in-memory caches."""

    __tablename__ = "change_counters"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class ModelViewRow(RowBase):
    """A custom model with inheritance applied: what readers see.

    Kept current by every write that can change it (the model, its base chain, its provider, a catalog
    sync), in the same transaction, so reads never resolve: lists filter and sort over these columns in
    SQL, and the in-memory index loads them as they are.
    """

    __tablename__ = "model_views"
    __table_args__ = (UniqueConstraint("organization_id", "model_name", name="uq_model_views_org_model_name"),)
    pk: Mapped[int] = mapped_column(ForeignKey("custom_models.pk", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(40))
    owner_user_id: Mapped[str | None] = mapped_column(String(40))
    model_name: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str | None] = mapped_column(String(256))
    base_model_name: Mapped[str | None] = mapped_column(String(256))
    model_type: Mapped[str | None] = mapped_column(String(32))
    provider_pk: Mapped[int | None] = mapped_column(Integer, index=True)
    provider_id: Mapped[str | None] = mapped_column(String(256))
    provider_name: Mapped[str | None] = mapped_column(String(256))
    provider: Mapped[dict[str, Any] | None]
    """The public provider descriptor (never secrets)."""
    input_cost: Mapped[float | None] = mapped_column(Float)
    output_cost: Mapped[float | None] = mapped_column(Float)
    cache_hit_input_cost: Mapped[float | None] = mapped_column(Float)
    cache_creation_input_cost: Mapped[float | None] = mapped_column(Float)
    pricing_tiers: Mapped[list[Any] | None] = mapped_column(JSON)
    max_context_window: Mapped[int | None] = mapped_column(Integer)
    max_output_tokens: Mapped[int | None] = mapped_column(Integer)
    streaming_support: Mapped[int | None] = mapped_column(SmallInteger)
    function_call: Mapped[int | None] = mapped_column(SmallInteger)
    image_support: Mapped[int | None] = mapped_column(SmallInteger)
    is_called_by_custom_name: Mapped[bool]
    has_discount: Mapped[bool]
    routable: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16))
    native_name: Mapped[str | None] = mapped_column(String(256))
    supported_params: Mapped[dict[str, Any]]
    supported_params_override: Mapped[dict[str, Any] | None]
    params: Mapped[dict[str, Any] | None]
    meta: Mapped[dict[str, Any] | None]
    grants: Mapped[list[Any] | None] = mapped_column(JSON)
    """The model's grants as [[principal_type, principal_id, permission], ...] (model_grants is authoritative)."""
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CatalogSnapshotRow(RowBase):
    """A built-in catalog installed by `modelreg catalog sync`; servers serve the newest one (or the
    snapshot shipped in the package when there is none)."""

    __tablename__ = "catalog_snapshots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sources: Mapped[dict[str, Any]]
    model_count: Mapped[int] = mapped_column(Integer)
    content_gz: Mapped[bytes] = mapped_column(LargeBinary)
    """The snapshot JSON (format modelreg-catalog/3; rows installed earlier hold formats 1 or 2), gzip-compressed."""
    origin: Mapped[str | None] = mapped_column(String(500))
    """Where it came from: a file path, a URL without credentials or query, or `rollback to #N`."""
    added: Mapped[int | None] = mapped_column(Integer)
    changed: Mapped[int | None] = mapped_column(Integer)
    removed: Mapped[int | None] = mapped_column(Integer)
    """The diff against the catalog it replaced (null for rows installed before history was kept)."""


class UsageMinuteRow(RowBase):
    """Calls of one model, through one provider, in one organization, in one UTC minute: sums only
    (averages are derived when read). Written in batches by the meter (services/metering.py), which adds
    to an existing row, so several processes can flush the same minute."""

    __tablename__ = "usage_minutes"
    __table_args__ = (Index("ix_usage_minutes_minute", "minute"),)
    organization_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """Unix time of the minute's start (seconds, a multiple of 60): day and hour buckets are integer math."""
    is_public: Mapped[bool] = mapped_column(primary_key=True)
    """Counts in the platform-wide status anonymous callers see: gateway calls of built-in models only
    (calls reported through /api/request-logs/ cannot be verified, so they never do)."""
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    upstream_failures: Mapped[int] = mapped_column(BigInteger, default=0)
    gateway_failures: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_sum: Mapped[float] = mapped_column(Float, default=0.0)
    latency_count: Mapped[int] = mapped_column(BigInteger, default=0)
    ttft_sum: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_count: Mapped[int] = mapped_column(BigInteger, default=0)
    tps_sum: Mapped[float] = mapped_column(Float, default=0.0)
    tps_count: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_hit_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_creation_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    unpriced: Mapped[int] = mapped_column(BigInteger, default=0)


class ModelThroughputRow(RowBase):
    """Each model's figures over the rolling window, per organization: recomputed from usage_minutes
    after every flush, so that SQL-served lists can filter and sort by throughput like memory-served ones."""

    __tablename__ = "model_throughput"
    organization_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    average_tps: Mapped[float | None] = mapped_column(Float)
    average_ttft: Mapped[float | None] = mapped_column(Float)
    average_latency: Mapped[float | None] = mapped_column(Float)
    number_of_requests: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[float] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)


class ModelRevisionRow(RowBase):
    """One change to a custom model: its stored (sparse) fields before and after, who, when, through what.
    `revision` is the model's revision after the change (its ETag's number); kept after the model is deleted."""

    __tablename__ = "model_revisions"
    __table_args__ = (Index("ix_model_revisions_org_model", "organization_id", "model_pk", "revision"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(String(40))
    model_pk: Mapped[int] = mapped_column(Integer)
    model_name: Mapped[str] = mapped_column(String(256))
    revision: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[str | None] = mapped_column(String(40))
    via: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]


class AuditEntryRow(RowBase):
    """One write, recorded in the write's own transaction (services/audit.py). organization_id NULL = a
    platform-wide write (a catalog sync), shown to every organization's admins."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_org_at", "organization_id", "at"),
        Index("ix_audit_log_at", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[str | None] = mapped_column(String(40))
    via: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(256))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]


class ModelPriceRow(RowBase):
    """One entry of a custom model's price history (services/price_schedule.py): its own (sparse) prices from
    `effective_from` on. Edits are recorded as they happen; scheduled entries (`origin` schedule) are written
    into the model's stored fields when they come into force (`applied`)."""

    __tablename__ = "model_prices"
    __table_args__ = (
        Index("ix_model_prices_model", "model_pk", "effective_from"),
        Index("ix_model_prices_pending", "applied", "effective_from"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(String(40))
    model_pk: Mapped[int] = mapped_column(ForeignKey("custom_models.pk", ondelete="CASCADE"))
    model_name: Mapped[str] = mapped_column(String(256))
    effective_from: Mapped[datetime]
    input_cost: Mapped[float | None] = mapped_column(Float)
    output_cost: Mapped[float | None] = mapped_column(Float)
    cache_hit_input_cost: Mapped[float | None] = mapped_column(Float)
    cache_creation_input_cost: Mapped[float | None] = mapped_column(Float)
    pricing_tiers: Mapped[list[Any] | None] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(32))
    """create, update, restore (an edit), baseline (the prices before the first recorded change), schedule."""
    applied: Mapped[bool] = mapped_column(default=True)
    actor_user_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
