"""The asyncio shell of ``sipguard serve``: UDP and TCP sockets, timers, journal gate, reload."""
