"""``sipguard replay``: packet captures decoded into SIP and screened at their capture time."""
