"""The pure policy layer: rules model and loading, numbers, consents, state and ``evaluate``.

It imports nothing from sipguard but ``sipguard.errors``; see each module for its invariants.
"""

from sipguard.policy.consents import ConsentIndex, load_consents
from sipguard.policy.evaluate import evaluate
from sipguard.policy.facts import CallFacts, Direction, Reason, Verdict
from sipguard.policy.load import load_rules
from sipguard.policy.model import Rules
from sipguard.policy.numbers import NumberEntry, NumberIndex, normalise
from sipguard.policy.ruleset import Ruleset, Target
from sipguard.policy.state import MemoryState, State, Suspension

__all__ = [
    "CallFacts",
    "ConsentIndex",
    "Direction",
    "MemoryState",
    "NumberEntry",
    "NumberIndex",
    "Reason",
    "Rules",
    "Ruleset",
    "State",
    "Suspension",
    "Target",
    "Verdict",
    "evaluate",
    "load_consents",
    "load_rules",
    "normalise",
]
