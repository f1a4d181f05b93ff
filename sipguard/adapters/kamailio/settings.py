"""The plugin's settings: Kamailio cfg values ``sipguard.NAME``, else environment variables.

Invariants:
- A cfg value is read through ``$sel(cfg_get.sipguard.NAME)`` only once routing has begun
  (Kamailio cannot answer it before), and at most once per :data:`TTL` seconds per name:
  ``kamcmd cfg.set sipguard NAME VALUE`` is seen within that time, and a call pays no
  lookup.  An empty or unset value falls back to the environment variable.
- Time comes from the injected monotonic ``clock``.
"""

from __future__ import annotations

from collections.abc import Callable

from sipguard.adapters.kamailio.ksr import Ksr

TTL = 1.0


def yes(value: str | None) -> bool:
    """True for the usual spellings of a switched-on setting (1, yes, true, on)."""
    return value is not None and value.strip().lower() in ("1", "yes", "true", "on")


class Settings:
    """One worker's view of the plugin's settings."""

    def __init__(self, ksr: Ksr, env: dict[str, str], clock: Callable[[], float]) -> None:
        self._ksr = ksr
        self.env = env
        self._clock = clock
        self.routing = False  # set by the first route: cfg values can be read from then on
        self._memo: dict[str, str | None] = {}
        self._until = 0.0

    def param(self, name: str) -> str | None:
        """The cfg value ``sipguard.NAME`` (None before routing, or when empty)."""
        if not self.routing:
            return None
        now = self._clock()
        if now >= self._until:
            self._memo, self._until = {}, now + TTL
        if name not in self._memo:
            value = self._ksr.pv.get(f"$sel(cfg_get.sipguard.{name})")
            self._memo[name] = value if isinstance(value, str) and value else None
        return self._memo[name]

    def get(self, name: str, env: str) -> str | None:
        """The cfg value, else the environment variable ``env``."""
        return self.param(name) or self.env.get(env)
