# partner-export: the commands an operator and a developer need. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

DEB_PACKAGES := libcurl4-openssl-dev libxml2-dev libsqlite3-dev openssl sqlite3
BIN := .build/debug/partner-export
DEMO := demo
DEMO_CUSTOMERS ?= 5000

# Demo-only keys for the example partners. Real deployments put real secrets in the environment
# (or files) of the scheduler, never in a Makefile or the YAML.
export ACME_PSEUDONYM_KEY ?= demo-only-acme-pseudonym-key
export GLOBEX_PSEUDONYM_KEY ?= demo-only-globex-pseudonym-key

.PHONY: help deps build test demo clean

help:
	@echo "make deps   install the Debian packages the build needs (apt-get, as root)"
	@echo "make build  build partner-export (debug)"
	@echo "make test   build and run every test"
	@echo "make demo   demo data, validate, preview and a dry run of the example partners"
	@echo "make clean  remove build output and demo data"

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "deps: missing $$missing; run: sudo apt-get install -y $$missing"; exit 1; fi

build: deps
	swift build

test: deps
	swift build --build-tests
	swift test

demo: build
	@mkdir -p $(DEMO)
	$(BIN) demo-data --customers $(DEMO_CUSTOMERS) --seed 1 --db $(DEMO)/customers.sqlite --force
	$(BIN) validate
	$(BIN) preview acme-offers --db $(DEMO)/customers.sqlite --limit 2
	$(BIN) run --all --dry-run --db $(DEMO)/customers.sqlite --state $(DEMO)/state/ledger.sqlite

clean:
	rm -rf .build $(DEMO)
