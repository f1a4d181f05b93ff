"""The authenticated admin HTTP API: health, metrics, calls, suspensions, reload, stats."""
