# Two commands on a fresh machine: `make run` and `make test` (README).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-10)
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install run reset-demo test lint unit integration bench services browser tools demo clean

$(STAMP): pyproject.toml
	@# weasyprint (the breach reports' PDF) draws with Debian's pango
	@ldconfig -p | grep -q libpangoft2 || apt-get install -y -q libpango-1.0-0 libpangoft2-1.0-0 >/dev/null
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## make run: set up, migrate, seed the synthetic demo on first start, serve on 127.0.0.1:8000 (make run PORT=8080)
PORT ?= 8000
run: install
	$(BIN)/tiers serve --seed-demo --port $(PORT)

## make reset-demo: set the demo's database, keys and credentials aside (var/old-*); the next make run seeds anew
reset-demo:
	@if [ -d var ] && [ -n "$$(ls -A var 2>/dev/null | grep -v '^old-')" ]; then \
	  d=var/old-$$(date +%Y%m%d-%H%M%S); mkdir -p $$d; \
	  for f in var/*; do case $$(basename $$f) in old-*) ;; *) mv $$f $$d/ ;; esac; done; \
	  echo "demo set aside in $$d; make run seeds a new one"; \
	else echo "no demo to reset"; fi

## make test: set up and run every quality gate (ruff, mypy strict, import-linter, pytest on SQLite and PostgreSQL)
# Three workers on this 2-core machine: the two simulation tests (~200 s each) mostly wait on
# their accelerated clocks (about a third of a core each), and the third worker uses what they
# leave (measured: 537 s with -n 3, 623-710 s with -n 2, same tests).
test: install services browser tools lint
	TIERS_TEST_PG_URL=$(PG_URL) $(BIN)/python -m pytest -n 3 --dist loadgroup

## make unit: the unit tier alone -- rules, and use cases over in-memory fakes (no socket, no file)
unit: install
	$(BIN)/python -m pytest -q tests/unit

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# PostgreSQL is expected on 127.0.0.1:5432; start the local cluster if it is installed and down.
# NATS with JetStream on 127.0.0.1:4222 (the delivery transport's tests): Debian's nats-server,
# installed if missing (the restart drill starts its own too), started if down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || \
	  (command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start) || \
	  echo "PostgreSQL not reachable on 127.0.0.1:5432 (the PostgreSQL suite will fail in CI, skip locally)"
	@command -v nats-server >/dev/null || test -x /usr/sbin/nats-server || \
	  (apt-get update -qq && apt-get install -y -qq nats-server >/dev/null)
	@$(PYTHON) -c "import socket; socket.create_connection(('127.0.0.1', 4222), 1)" 2>/dev/null || \
	  (mkdir -p var/nats && (PATH=$$PATH:/usr/sbin nats-server -a 127.0.0.1 -p 4222 -js -sd var/nats -l var/nats/server.log & ) && sleep 1)

# The portal's browser tests drive Debian's Chromium with Playwright (never a downloaded browser).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# SoftHSM2 (the PKCS#11 key-encryption key's tests) and HAProxy (the load balancer in front of
# several API processes in the multi-process test), both from Debian.
tools:
	@(test -e /usr/lib/softhsm/libsofthsm2.so && command -v haproxy >/dev/null) || \
	  (apt-get update -qq && apt-get install -y -qq softhsm2 haproxy >/dev/null)

## make bench: rights-check and claim-flow throughput against the trivial endpoint (bench/RESULTS.md)
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/http_bench.py --compare-no-log --compare-encryption --compare-detection

## make demo: the whole story on the embedded platform -- a normal day, then attacks (a)-(e)
## among normal traffic, containment -- and the report (bench/SIMULATION.md, bench/simulation.html)
demo: install
	$(BIN)/tiers simulate --out bench/SIMULATION.md --html bench/simulation.html

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
