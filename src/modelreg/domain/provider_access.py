"""THE permission rule for custom providers, used by every provider route (services/providers.py).

Providers are organization infrastructure: a provider's base_url and key decide where every model on
it sends its prompts, so changing one redirects other users' traffic.

read      : every member of the provider's organization (list and retrieve; the queries are scoped to the
            caller's organization). No view ever holds a secret.
manage    : create, change (PATCH/PUT, also by create-or-update) and delete: organization admins only.
reference : any member may name a provider of their organization as `custom_provider_id` of a model they
            may write (domain/access.py decides that write).

Callers outside the organization never see its providers (404, exactly like a missing one). A member's
write answers 403 before any lookup: members can list every provider of their organization, so a 403
tells them nothing a list does not.
"""

from __future__ import annotations

from modelreg.domain.access import AccessProhibited
from modelreg.domain.org_access import allowed
from modelreg.domain.principal import Principal

__all__ = ["can_manage_providers", "require_provider_manager"]


def can_manage_providers(principal: Principal | None) -> bool:
    """Create, change or delete providers of the principal's own organization (org_access.py's table:
    the console and the API decide by the same entry)."""
    return allowed(principal, "write_providers")


def require_provider_manager(principal: Principal) -> None:
    if not can_manage_providers(principal):
        raise AccessProhibited()
