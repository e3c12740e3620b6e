"""Fault rules -> decisions: latency, errors, moderation, outcomes, connection faults.

Provider-neutral and free of HTTP.  ``rules`` holds the rule model (:class:`FaultRule`,
:class:`Latency`, :class:`InjectedError`), ``ruleset`` the active rules and what they
decide per request (:class:`FaultSet`, :class:`FaultContext`, :class:`Decision`).  The
per-request directive grammar (``X-Mock-*`` headers, prompt markers, test keys) is the
HTTP layer's: ``mockserver/directives.py``; the wire effects are
``mockserver/faultwire.py``.  The README is the user guide.
"""
from .rules import (
                    CONNECTION_FAULTS,
                    FILES,
                    HTTP_ERRORS,
                    MAX_HANG_S,
                    OUTCOMES,
                    SUBMIT,
                    FaultRule,
                    InjectedError,
                    Latency,
)
from .ruleset import MAX_DIRECTIVE_STATES, Decision, Directive, FaultContext, FaultSet, RuleCounters, fault_rng

__all__ = ["CONNECTION_FAULTS", "FILES", "HTTP_ERRORS", "MAX_DIRECTIVE_STATES", "MAX_HANG_S", "OUTCOMES",
           "SUBMIT", "Decision", "Directive", "FaultContext", "FaultRule", "FaultSet",
           "InjectedError", "Latency", "RuleCounters", "fault_rng"]
