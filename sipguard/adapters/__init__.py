"""I/O adapters: the only place for sockets, asyncio, files and external engines."""
