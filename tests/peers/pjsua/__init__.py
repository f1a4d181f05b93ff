"""An independent SIP user agent on pjsua2, for interop tests: ``python -m peers.pjsua``."""
