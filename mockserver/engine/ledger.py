"""Credits per API key.

Each key starts with ``starting_credits`` (in the provider's own unit) the first
time it is seen.  Debits happen at submit, refunds where the provider refunds.
"""
from __future__ import annotations


class Ledger:
    def __init__(self, starting_credits: int) -> None:
        self.starting_credits = starting_credits
        self._balances: dict[tuple[str, str], int] = {}

    def balance(self, provider: str, api_key: str) -> int:
        return self._balances.get((provider, api_key), self.starting_credits)

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

    def clear(self) -> None:
        self._balances.clear()
