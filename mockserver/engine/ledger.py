"""Credits per API key.

Each key starts with its provider's starting balance (in the provider's own unit:
``Settings.starting_balance``) the first time it is seen.  Debits happen at submit,
refunds where the provider refunds (PixVerse: moderated jobs, status 7), once per job,
when a poll or a webhook first observes the outcome.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Iterable, Mapping

# Refunded job ids remembered (newest), so a job is refunded at most once.
_MAX_REFUNDED = 100_000


class Ledger:
    """Balances keyed by (provider, API key).

    ``starting_credits`` is either one number for every provider or a callable
    ``provider -> int``; ``refunds`` maps a provider to the outcomes it refunds.
    """

    def __init__(self, starting_credits: int | Callable[[str], int],
                 refunds: Mapping[str, Iterable[str]] | None = None) -> None:
        self._start = starting_credits if callable(starting_credits) else (lambda _p: starting_credits)
        self.refunds = {p: frozenset(states) for p, states in (refunds or {}).items()}
        self._balances: dict[tuple[str, str], int] = {}
        self._refunded: OrderedDict[tuple[str, str], int] = OrderedDict()

    def starting(self, provider: str) -> int:
        """The balance a new key has with ``provider``."""
        return self._start(provider)

    def balance(self, provider: str, api_key: str) -> int:
        return self._balances.get((provider, api_key), self._start(provider))

    def debit(self, provider: str, api_key: str, amount: int) -> int:
        """Take ``amount`` credits; returns the new balance (may go negative only if
        the caller did not check ``balance`` first)."""
        new = self.balance(provider, api_key) - amount
        self._balances[(provider, api_key)] = new
        return new

    def credit(self, provider: str, api_key: str, amount: int) -> int:
        new = self.balance(provider, api_key) + amount
        self._balances[(provider, api_key)] = new
        return new

    def try_debit(self, provider: str, api_key: str, amount: int) -> bool:
        """Take ``amount`` if the key has that much; False (nothing taken) otherwise."""
        if amount > 0 and self.balance(provider, api_key) < amount:
            return False
        if amount:
            self.debit(provider, api_key, amount)
        return True

    def settle(self, provider: str, job_id: str, api_key: str, cost: int, state: str) -> int:
        """A job of ``cost`` was observed in ``state``: give the cost back if the
        provider refunds that outcome and this job was not refunded before.  Returns
        the credits refunded (0 when none)."""
        refunded = self.refunds.get(provider)
        if not refunded or state not in refunded or cost <= 0:
            return 0
        key = (provider, job_id)
        if key in self._refunded:
            return 0
        self._refunded[key] = cost
        if len(self._refunded) > _MAX_REFUNDED:
            self._refunded.popitem(last=False)
        self.credit(provider, api_key, cost)
        return cost

    def was_refunded(self, provider: str, job_id: str) -> bool:
        return (provider, job_id) in self._refunded

    def clear(self) -> None:
        self._balances.clear()
        self._refunded.clear()

    def snapshot(self) -> dict[str, Any]:
        """Balances and refunded jobs as JSON-ready lists (the state file)."""
        return {"balances": [[p, k, v] for (p, k), v in self._balances.items()],
                "refunded": [[p, j, c] for (p, j), c in self._refunded.items()]}

    def restore(self, data: Mapping[str, Any]) -> None:
        self._balances = {(p, k): int(v) for p, k, v in data["balances"]}
        self._refunded = OrderedDict(((p, j), int(c)) for p, j, c in data["refunded"])
