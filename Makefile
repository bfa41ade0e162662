# partner-export: the commands an operator and a developer need. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

DEB_PACKAGES := libcurl4-openssl-dev libssl-dev libxml2-dev libsqlite3-dev zlib1g-dev openssl sqlite3 python3 \
                python3-pip python3-cryptography bsdutils nginx-light chromium postgresql-15 postgresql-client-15 libpq-dev
# Python modules the tests check our output with (code nobody here wrote), for the python3 on PATH.
PY_MODULES := prometheus_client:prometheus-client xmlschema:xmlschema cryptography:cryptography
BIN := .build/debug/partner-export
DEMO := demo
DEMO_CUSTOMERS ?= 5000

# Demo secrets, made afresh for each `make demo` and shared by partner-export and the sandbox through
# the environment. Real deployments put real secrets in the scheduler's environment (or files named by
# the contract), never in a Makefile or the YAML.
export ACME_PSEUDONYM_KEY ?= $(shell openssl rand -hex 24)
export GLOBEX_PSEUDONYM_KEY ?= $(shell openssl rand -hex 24)
export ACME_TOKEN ?= $(shell openssl rand -hex 20)
export ACME_SIGNING_SECRET ?= whsec_$(shell openssl rand -base64 24)
export GLOBEX_PASSWORD ?= $(shell openssl rand -hex 16)

.PHONY: help deps build test demo bench clean

help:
	@echo "make deps   install the Debian packages the build needs (apt-get, as root)"
	@echo "make build  build partner-export (debug)"
	@echo "make test   build and run every test"
	@echo "make demo   demo data, then the example partners delivered over HTTPS to the local partner sandbox"
	@echo "make bench  the benchmark against the sqlite3 floor (N=1000000 customers; N=10000000 for the big one)"
	@echo "make clean  remove build output and demo data"

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "deps: missing $$missing; run: sudo apt-get install -y $$missing"; exit 1; fi
	@for pair in $(PY_MODULES); do module=$${pair%%:*}; package=$${pair#*:}; \
	  python3 -c "import $$module" 2>/dev/null || { echo "deps: pip install $$package"; \
	  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore $$package; }; done

build: deps
	swift build

test: deps
	swift build --build-tests
	swift test

demo: build
	DEMO=$(DEMO) DEMO_CUSTOMERS=$(DEMO_CUSTOMERS) BIN=$(BIN) sandbox/demo.sh

N ?= 1000000
REPEAT ?= 5

bench: deps
	swift build -c release
	python3 bench/bench.py --customers $(N) --repeat $(REPEAT)
	python3 bench/postgres.py --customers $(N) --repeat $(REPEAT)

clean:
	rm -rf .build $(DEMO) bench-data
