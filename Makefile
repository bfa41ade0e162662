# partner-export: the commands an operator and a developer need. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

DEB_PACKAGES := libcurl4-openssl-dev libssl-dev libxml2-dev libsqlite3-dev zlib1g-dev openssl sqlite3 python3 \
                python3-pip python3-cryptography bsdutils nginx-light chromium postgresql-15 postgresql-client-15 libpq-dev \
                lintian zsh fish man-db file
# Python modules the tests check our output with (code nobody here wrote), for the python3 on PATH.
PY_MODULES := prometheus_client:prometheus-client xmlschema:xmlschema cryptography:cryptography svix:svix fideslang:fideslang
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
export INITECH_PSEUDONYM_KEY ?= $(shell openssl rand -hex 24)
export INITECH_CLIENT_SECRET ?= $(shell openssl rand -hex 20)

# Installing: a stripped release binary with the Swift runtime linked statically (it runs on a server
# without a Swift toolchain), man pages, shell completions, the systemd units and the cron wrapper.
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := $(shell cat VERSION)
COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -modified)
RELEASE_DIR := .build-static
RELEASE_BUILD := swift build -c release --static-swift-stdlib --scratch-path $(RELEASE_DIR) -Xcc -DPE_COMMIT=$(COMMIT)
RELEASE_BIN := $(RELEASE_DIR)/release/partner-export
GENERATED := $(RELEASE_DIR)/generated
SHARE := $(DESTDIR)$(PREFIX)/share

# Fuzzing (README, "Two commands"): every target for FUZZ_SECONDS each; `make test` runs them briefly.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := cron note merkle token answer time
FUZZ_DIR := .build-fuzz

.PHONY: help deps build test demo bench clean release install uninstall deb fuzz

help:
	@echo "make deps   install the Debian packages the build needs (apt-get, as root)"
	@echo "make build  build partner-export (debug)"
	@echo "make test   build and run every test"
	@echo "make demo   demo data, then the example partners delivered over HTTPS to the local partner sandbox"
	@echo "make bench  the benchmark against the sqlite3 floor (N=1000000 customers; N=10000000 for the big one)"
	@echo "make install  the release binary (Swift runtime linked in), man pages, completions, units under PREFIX=$(PREFIX) (DESTDIR= honoured)"
	@echo "make uninstall  remove what make install put there (never the ledger, keys or configuration)"
	@echo "make deb    a Debian package, partner-export_$(VERSION)_amd64.deb (see README: Install on a server)"
	@echo "make fuzz   the fuzz targets (cron, note, merkle, token, answer, time) under libFuzzer, FUZZ_SECONDS=$(FUZZ_SECONDS) each"
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
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10
	Tests/Install/test-install.sh

demo: build
	DEMO=$(DEMO) DEMO_CUSTOMERS=$(DEMO_CUSTOMERS) BIN=$(BIN) sandbox/demo.sh

N ?= 1000000
REPEAT ?= 5

bench: deps
	swift build -c release
	python3 bench/bench.py --customers $(N) --repeat $(REPEAT)
	python3 bench/postgres.py --customers $(N) --repeat $(REPEAT)

# The binary, then what is generated from it: one man page per command and the completion scripts.
release: deps
	$(RELEASE_BUILD) --product partner-export
	$(RELEASE_BUILD) --product generate-manual
	rm -rf $(GENERATED) && mkdir -p $(GENERATED)/man $(GENERATED)/completions
	$(RELEASE_DIR)/release/generate-manual $(RELEASE_BIN) --multi-page --output-directory $(GENERATED)/man \
	  --authors "the partner-export developers" --section 1 >/dev/null
	$(RELEASE_BIN) --generate-completion-script bash > $(GENERATED)/completions/partner-export.bash
	$(RELEASE_BIN) --generate-completion-script zsh > $(GENERATED)/completions/_partner-export
	$(RELEASE_BIN) --generate-completion-script fish > $(GENERATED)/completions/partner-export.fish

install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)/man/man1 $(SHARE)/bash-completion/completions \
	  $(SHARE)/zsh/site-functions $(SHARE)/fish/vendor_completions.d $(SHARE)/partner-export
	install -m 0755 -s $(RELEASE_BIN) $(DESTDIR)$(PREFIX)/bin/partner-export
	install -m 0644 $(GENERATED)/man/*.1 $(SHARE)/man/man1/
	install -m 0644 $(GENERATED)/completions/partner-export.bash $(SHARE)/bash-completion/completions/partner-export
	install -m 0644 $(GENERATED)/completions/_partner-export $(SHARE)/zsh/site-functions/_partner-export
	install -m 0644 $(GENERATED)/completions/partner-export.fish $(SHARE)/fish/vendor_completions.d/partner-export.fish
	for f in partner-export.service partner-export.timer partner-export-cron.sh crontab.example; do \
	  sed 's|/usr/local/bin/partner-export|$(PREFIX)/bin/partner-export|g' ops/$$f > $(SHARE)/partner-export/$$f; done
	chmod 0755 $(SHARE)/partner-export/partner-export-cron.sh
	install -m 0644 ops/partner-export.env ops/postgresql-schema.sql $(SHARE)/partner-export/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/partner-export $(SHARE)/man/man1/partner-export.1 $(SHARE)/man/man1/partner-export.*.1 \
	  $(SHARE)/bash-completion/completions/partner-export $(SHARE)/zsh/site-functions/_partner-export \
	  $(SHARE)/fish/vendor_completions.d/partner-export.fish
	rm -rf $(SHARE)/partner-export

# One binary for every target (FUZZ_TARGET picks); each run starts from a copy of the kept corpus, so
# what the fuzzer finds stays in $(FUZZ_DIR); a crash or broken invariant stops here with its input.
fuzz:
	@mkdir -p $(FUZZ_DIR)
	swiftc -sanitize=fuzzer,address -parse-as-library -O -D FUZZ_SINGLE_MODULE -module-name Fuzz \
	  Sources/ExportCore/*.swift Sources/FuzzEntries/*.swift Fuzz/main.swift -I Sources/CCrypto -o $(FUZZ_DIR)/fuzz 2>&1 \
	  | grep -v -e 'warning:' -e '^ *|' -e '^ *[0-9]* |' -e '^\s*$$' || true
	@test -x $(FUZZ_DIR)/fuzz
	@for t in $(FUZZ_TARGETS); do \
	  rm -rf $(FUZZ_DIR)/corpus-$$t && mkdir -p $(FUZZ_DIR)/corpus-$$t && cp Fuzz/corpus/$$t/* $(FUZZ_DIR)/corpus-$$t/ && \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s" && \
	  FUZZ_TARGET=$$t $(FUZZ_DIR)/fuzz $(FUZZ_DIR)/corpus-$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=1 \
	    -artifact_prefix=$(FUZZ_DIR)/finding-$$t- -print_final_stats=1 > $(FUZZ_DIR)/$$t.log 2>&1 \
	  || { tail -30 $(FUZZ_DIR)/$$t.log; echo "fuzz: $$t found something: $(FUZZ_DIR)/finding-$$t-*; keep it under Tests/Fuzz/$$t/ and fix it"; exit 1; }; \
	  grep -E 'DONE' $(FUZZ_DIR)/$$t.log | tail -1; \
	done

deb: release
	ops/debian/build-deb.sh $(VERSION) $(RELEASE_DIR)

clean:
	rm -rf .build $(RELEASE_DIR) $(FUZZ_DIR) $(DEMO) bench-data *.deb
