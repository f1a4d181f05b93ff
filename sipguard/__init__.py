"""sipguard: caller-authenticity enforcement for call-center trunks at a carrier's SIP edge."""

__version__ = "0.1.0"
