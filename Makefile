# Everyday targets.  `scripts/test` is the full run that CI does (Debian packages included);
# these assume the virtual environment that `scripts/setup` creates.
V ?= .venv/bin

.PHONY: setup lint type contracts test test-fast bench

setup:
	scripts/setup

lint:
	$(V)/ruff check sipguard tests bench

type:
	$(V)/mypy sipguard

contracts:
	$(V)/lint-imports

test: lint type contracts
	$(V)/pytest

test-fast:
	$(V)/pytest -m "not e2e" --ignore=tests/e2e

bench:
	$(V)/python bench/bench_policy.py
	$(V)/python bench/bench_sip.py
	$(V)/python bench/bench_journal.py
	$(V)/python bench/bench_serve.py
	$(V)/python bench/bench_kamailio.py
