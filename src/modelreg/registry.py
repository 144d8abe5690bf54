"""The composition root's product: every long-lived object a request may need, built once per app."""

from __future__ import annotations

from dataclasses import dataclass

from modelreg.auth.authenticator import Authenticator
from modelreg.auth.tokens import TokenIssuer
from modelreg.catalog.load import Catalog
from modelreg.config import Settings
from modelreg.crypto import SecretBox, derive_key
from modelreg.services.models import ModelService
from modelreg.services.providers import ProviderService
from modelreg.store.database import Database

__all__ = ["Registry", "build_registry"]


@dataclass
class Registry:
    settings: Settings
    db: Database
    catalog: Catalog
    tokens: TokenIssuer
    authenticator: Authenticator
    models: ModelService
    providers: ProviderService


def build_registry(settings: Settings, catalog: Catalog) -> Registry:
    db = Database(settings.database_url)
    tokens = TokenIssuer(
        derive_key(settings.secret_key, "jwt-signing"),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.jwt_ttl_seconds,
    )
    return Registry(
        settings=settings,
        db=db,
        catalog=catalog,
        tokens=tokens,
        authenticator=Authenticator(db, tokens),
        models=ModelService(catalog),
        providers=ProviderService(SecretBox(settings.secret_key, settings.old_secret_keys)),
    )
