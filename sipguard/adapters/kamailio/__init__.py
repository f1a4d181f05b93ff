"""The Kamailio plugin: a KEMI module for app_python3, its config writer and per-worker state."""
