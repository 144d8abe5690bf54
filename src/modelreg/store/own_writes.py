"""Which values of an organization's change counter (store/counters.py) this process has accounted for.

A process's in-memory snapshot of an organization (store/memory.py) is kept through its own writes and
dropped on anyone else's. Every value the counter takes is one bump of one transaction; a value is
accounted for once this process applied that transaction to its snapshot, or dropped the snapshot after it.
Notifications (PostgreSQL) and the poll then tell another process's write (a value not accounted for) from
this process's own, including the values of transactions it is committing right now (a commit's
notification often arrives before the commit's own answer).

This process's transactions can also finish out of counter order (PostgreSQL runs them concurrently, and
the task of the first to commit may resume after the second's): a transaction whose predecessors are all
this process's own, still committing, is applied ahead of them, and a model both wrote keeps the version
of the one with the higher value. That one is the later writer of its view row: a write bumps the counter
after writing its view rows, and the counter's row lock serializes writers from their bump to their commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Ledger", "bumped_values"]


def bumped_values(bumps: Mapping[str, tuple[int, int]], counter: str) -> list[int]:
    """The values a transaction's bumps (counters.BUMPS) gave `counter`: consecutive, as the counter's row
    stays locked until the transaction ends."""
    if counter not in bumps:
        return []
    count, value = bumps[counter]
    return list(range(value - count + 1, value + 1))


@dataclass
class _Org:
    known: int | None = None
    """Every value up to this one is accounted for (None: none is, nothing was seen yet)."""
    committing: dict[int, int] = field(default_factory=dict)
    """Values of this process's transactions that are committing now -> how many hold it (in practice 1)."""
    ahead: dict[int, dict[str, int]] = field(default_factory=dict)
    """Values above `known` applied before an earlier transaction of this process (still committing) was:
    value -> the stamps {model name: value} of what that transaction wrote."""


class Ledger:
    def __init__(self) -> None:
        self._orgs: dict[str, _Org] = {}

    def _of(self, organization_id: str) -> _Org:
        org = self._orgs.get(organization_id)
        if org is None:
            org = self._orgs[organization_id] = _Org()
        return org

    def is_change(self, organization_id: str, value: int) -> bool:
        """Is `value` another process's write (or one whose outcome this process does not know)? Counters
        only grow: a value up to `known` is a read that overlapped this process's later commits (the change
        watcher reads on a thread while writes go on); treating it as a change dropped a 2,000-model
        snapshot about once a poll under steady writes."""
        org = self._of(organization_id)
        if value in org.committing or value in org.ahead:
            return False
        return org.known is None or value > org.known

    def committing(self, organization_id: str, values: Iterable[int]) -> None:
        held = self._of(organization_id).committing
        for value in values:
            held[value] = held.get(value, 0) + 1

    def release(self, organization_id: str, values: Iterable[int]) -> None:
        """The values `committing` noted are no longer in flight (committed, failed or unknown)."""
        held = self._of(organization_id).committing
        for value in values:
            if held.get(value, 0) > 1:
                held[value] -= 1
            else:
                held.pop(value, None)

    def in_order(self, organization_id: str, first: int) -> bool:
        """Is a transaction whose bumps took the counter from `first` the next one to account for?"""
        return self._of(organization_id).known == first

    def can_go_ahead(self, organization_id: str, first: int) -> bool:
        """Are all values between `known` and `first` this process's own, applied ahead or committing?"""
        org = self._of(organization_id)
        if org.known is None or org.known >= first:
            return False
        return all(v in org.ahead or v in org.committing for v in range(org.known + 1, first + 1))

    def has_ahead(self, organization_id: str) -> bool:
        return bool(self._of(organization_id).ahead)

    def written_after(self, organization_id: str, value: int) -> set[str]:
        """The models that transactions with a value above `value`, applied ahead, wrote."""
        ahead = self._of(organization_id).ahead.values()
        return {name for stamps in ahead for name, at in stamps.items() if at > value}

    def went_ahead(self, organization_id: str, first: int, value: int, names: Iterable[str]) -> None:
        stamps = dict.fromkeys(names, value)
        ahead = self._of(organization_id).ahead
        for at in range(first + 1, value + 1):
            ahead[at] = stamps

    def applied(self, organization_id: str, value: int) -> None:
        """The next transaction in order was applied: `known` moves to it, and past those applied ahead."""
        org = self._of(organization_id)
        while value + 1 in org.ahead:
            value += 1
            del org.ahead[value]
        org.known = value

    def dropped(self, organization_id: str, value: int) -> None:
        """The snapshot was dropped after `value`: everything up to it (and what went ahead) is accounted for."""
        org = self._of(organization_id)
        org.known = max(value, value if org.known is None else org.known, *org.ahead)
        org.ahead.clear()

    def known(self, organization_id: str) -> int | None:
        return self._of(organization_id).known
