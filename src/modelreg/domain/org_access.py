"""THE permission rule for everything in an organization that is not a model (models: access.py).

| action            | admin of the org            | member of the org              | anyone else |
|-------------------|-----------------------------|--------------------------------|-------------|
| read_providers    | yes                         | yes                            | no          |
| write_providers   | yes (create, edit, delete,  | no                             | no          |
|                   | test connection)            |                                |             |
| read_directory    | yes                         | yes (emails and group names,   | no          |
|                   |                             | to share models by grants)     |             |
| manage_users      | yes (create, role, deactivate) | no                          | no          |
| manage_groups     | yes (create, members)       | no                             | no          |
| read_usage        | yes                         | no                             | no          |
| read_audit_log    | yes (GET /api/audit-log/)   | no                             | no          |
| read_metrics      | yes (GET /metrics: the      | no                             | no          |
|                   | process's, all orgs summed) |                                |             |
| manage_key        | every key of the org's users| their own keys only            | no          |

"Anyone else" includes anonymous visitors and every user of another organization: another
organization's users, groups and keys answer exactly like missing ones (NotFound), never 403.
The HTTP API (api/account_routes.py, api/admin.py) and the console (ui/) call these functions and
nothing else to decide; tests/test_org_access.py checks every route against every role.
"""

from __future__ import annotations

from typing import Literal

from modelreg.domain.access import AccessProhibited
from modelreg.domain.errors import NotFound
from modelreg.domain.principal import Principal

__all__ = ["OrgAction", "allowed", "may_manage_key", "require", "require_key_owner"]

OrgAction = Literal[
    "read_providers",
    "write_providers",
    "read_directory",
    "manage_users",
    "manage_groups",
    "read_usage",
    "read_audit_log",
    "read_metrics",
]

_ADMIN_ONLY: frozenset[OrgAction] = frozenset(
    {"write_providers", "manage_users", "manage_groups", "read_usage", "read_audit_log", "read_metrics"}
)


def allowed(principal: Principal | None, action: OrgAction) -> bool:
    """May `principal` do `action` in its own organization?"""
    if principal is None:
        return False
    return principal.is_admin or action not in _ADMIN_ONLY


def require(principal: Principal | None, action: OrgAction) -> Principal:
    if principal is None or not allowed(principal, action):
        raise AccessProhibited()
    return principal


def may_manage_key(principal: Principal, owner_user_id: str, owner_organization_id: str) -> bool:
    if principal.organization_id != owner_organization_id:
        return False
    return principal.is_admin or principal.user_id == owner_user_id


def require_key_owner(principal: Principal, owner_user_id: str, owner_organization_id: str) -> None:
    """A key the caller may not manage answers like a missing one (its existence is not revealed)."""
    if not may_manage_key(principal, owner_user_id, owner_organization_id):
        raise NotFound()
