"""The composition root's product: every long-lived object a request may need, built once per app."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from modelreg.api.ratelimit import RateLimiter
from modelreg.auth.authenticator import Authenticator
from modelreg.auth.tokens import TokenIssuer
from modelreg.catalog.load import Catalog
from modelreg.catalog.scheduled import SyncStatus
from modelreg.config import Settings, database_timeouts
from modelreg.crypto import SecretBox, derive_key
from modelreg.gateway.ssrf import UpstreamPolicy
from modelreg.gateway.upstream import UpstreamClient
from modelreg.services.console_sessions import ConsoleSessions
from modelreg.services.listing import ModelListing
from modelreg.services.metering import Meter
from modelreg.services.models import ModelService
from modelreg.services.price_schedule import PriceSchedule
from modelreg.services.providers import ProviderService
from modelreg.services.usage_reports import UsageReports
from modelreg.store.database import Database
from modelreg.store.faults import fault_kind
from modelreg.store.memory import ModelIndex

__all__ = ["Registry", "build_registry"]


@dataclass
class Registry:
    settings: Settings
    db: Database
    tokens: TokenIssuer
    authenticator: Authenticator
    index: ModelIndex
    models: ModelService
    providers: ProviderService
    listing: ModelListing
    anonymous_limiter: RateLimiter
    upstream: UpstreamClient
    meter: Meter
    usage_reports: UsageReports
    console_sessions: ConsoleSessions
    signin_limiter: RateLimiter
    prices: PriceSchedule
    clock: Callable[[], float] = time.time
    """Unix time as the registry sees it (prices in force, calls' start times); tests inject their own."""
    catalog_version: int = 0
    catalog_sync: SyncStatus = field(default_factory=SyncStatus)
    """What the scheduled catalog sync did (catalog/scheduled.py)."""
    """Id of the installed catalog in force (catalog history); 0 while the shipped one is served."""

    @asynccontextmanager
    async def writing(self, organization_id: str) -> AsyncIterator[AsyncSession]:
        """A write transaction for one organization; after the commit this process's index applies the
        models it changed, or forgets the organization (store/memory.py, ModelIndex.committed); other
        processes notice the bumped counter within the poll interval (at once on PostgreSQL). The counter
        value is noted before the commit (ModelIndex.committing): its notification may arrive first.
        A database fault keeps the snapshot: reads go on from memory while the database is away, and if
        the commit did land, the change watcher sees the bumped counter once the database answers."""
        info: dict[str, Any] = {}
        try:
            async with self.db.write() as session:
                info = session.info
                yield session
                self.index.committing(organization_id, info)
        except BaseException as error:
            self.index.abandoned(organization_id, info)
            if fault_kind(error) is None:
                self.index.invalidate(organization_id)
            raise
        self.index.committed(organization_id, info)


def build_registry(settings: Settings, catalog: Catalog, clock: Callable[[], float] = time.time) -> Registry:
    db = Database(settings.database_url, database_timeouts(settings))
    tokens = TokenIssuer(
        derive_key(settings.secret_key, "jwt-signing"),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.jwt_ttl_seconds,
    )
    index = ModelIndex(db, catalog, max_models_per_org=settings.memory_index_max_models)
    box = SecretBox(settings.secret_key, settings.old_secret_keys)
    upstreams = UpstreamPolicy.from_setting(settings.upstream_allow)
    authenticator = Authenticator(db, tokens, settings.key_cache_seconds)
    return Registry(
        settings=settings,
        db=db,
        tokens=tokens,
        authenticator=authenticator,
        index=index,
        models=ModelService(index, db, clock),
        providers=ProviderService(box, index, upstreams),
        listing=ModelListing(index, db),
        anonymous_limiter=RateLimiter(*settings.rate_limit()),
        upstream=UpstreamClient(upstreams),
        meter=Meter(db, index, window_seconds=settings.throughput_window_hours * 3600),
        usage_reports=UsageReports(db),
        console_sessions=ConsoleSessions(db, authenticator, settings.session_ttl_seconds),
        signin_limiter=RateLimiter(*settings.signin_limit()),
        prices=PriceSchedule(db, index, clock),
        clock=clock,
    )
