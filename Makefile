# netboot.dhcp_failover: every developer and CI command goes through this file.
# `make test` is what CI runs (.ci/run); `make demo` is the guided tour on the lab.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON      ?= python3
# CORE=2.NN: a leg of the ansible-core matrix (`make CORE=2.16 sanity unit`): its own venv from
# requirements/core-2.NN.txt and its own collection copy. Unset: the main venv of
# requirements/dev.txt (ansible-core 2.19 and every tool).
CORE        ?=
ifeq ($(CORE),)
VENV        := .venv
REQUIREMENTS := requirements/dev.txt
# A private copy per caller (COLL_BASE=build/NAME) lets parallel runs not collide.
COLL_BASE   ?= build
ANSIBLE_TEST_HOME := $(HOME)
else
VENV        := build/venv-core-$(CORE)
REQUIREMENTS := requirements/core-$(CORE).txt
COLL_BASE   ?= build/core-$(CORE)
# ansible-test keeps its sanity venvs in ~/.ansible/test/venv, named by a hash of their
# requirements, and creates a missing one without a lock; ansible-core versions share some of
# them. A HOME of its own per leg lets the legs run at the same time.
ANSIBLE_TEST_HOME := $(CURDIR)/$(COLL_BASE)/home
endif
BIN         := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLL_BASE)
export CONTAINERS_CONF := $(CURDIR)/lab/containers.conf
export ANSIBLE_NOCOLOR := 1
COLL_DIR    := $(COLL_BASE)/ansible_collections/netboot/dhcp_failover

# The Debian packages of requirements/host-programs.txt (program -> package; tests/host checks
# that a fresh machine gets every program from them).
APT_PACKAGES := $(shell awk '!/^[[:space:]]*(\#|$$)/ && $$2 != "-" && !seen[$$2]++ {print $$2}' requirements/host-programs.txt)
APT_STAMP   := .venv/.apt-$(shell echo $(APT_PACKAGES) | md5sum | cut -c1-8)
VENV_STAMP  := $(VENV)/.req-$(shell md5sum $(REQUIREMENTS) 2>/dev/null | cut -c1-8)
# The matrix legs are the pinned files there are; 2.19 is the main venv's (`make sanity unit`).
MATRIX_CORES := $(sort $(patsubst requirements/core-%.txt,%,$(wildcard requirements/core-*.txt)))

.PHONY: print-apt-packages help deps collection lint ruff ansible-lint sanity unit pytest test demo \
        lab-up lab-down lock lock-core lock-packaging build clean bench matrix core-venvs packaging packaging-deps \
        ee-context chaos

help:
	@echo "make test      everything CI checks (installs what it needs)"
	@echo "make demo      build the lab, deploy a pair, show it serving"
	@echo "make lab-up    start the lab hosts;  make lab-down  remove them"
	@echo "make bench     benchmarks: results under bench/results/"
	@echo "make chaos     the seeded fault campaign (SEED=N DURATION=seconds, default 1 900)"
	@echo "make lint | sanity | unit | pytest   single steps"
	@echo "make matrix    sanity and unit on every other ansible-core (CORE=2.NN: one of them)"
	@echo "make packaging galaxy-importer, antsibull-docs, changelog, execution environment"

# --- toolchain -------------------------------------------------------------
$(APT_STAMP):
	@mkdir -p .venv
	scripts/install-host-packages $(APT_PACKAGES)
	@touch $@

# The stamp name carries the hash of the pins, so a changed file means a new stamp.
$(VENV_STAMP): | $(APT_STAMP)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	@touch $@

deps: $(APT_STAMP) $(VENV_STAMP)

print-apt-packages:
	@echo $(APT_PACKAGES)

# Re-resolve the pinned tool set from requirements/dev.in.
lock:
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet -r requirements/dev.in
	build/lock-venv/bin/pip freeze > requirements/dev.txt

# Re-resolve the packaging tools: their own venv (galaxy-importer's pins conflict with dev.txt),
# on the ansible-core of dev.txt.
lock-packaging:
	rm -rf build/lock-packaging && $(PYTHON) -m venv build/lock-packaging
	build/lock-packaging/bin/pip install --quiet -r requirements/packaging.in \
	  -c <(grep -E '^ansible-core==' requirements/dev.txt)
	build/lock-packaging/bin/pip freeze > requirements/packaging.txt

# Re-resolve one matrix leg: make lock-core CORE=2.16 (the newest 2.16.x, and the test tools of
# requirements/core.in at the versions requirements/dev.txt pins where that ansible-core allows).
# molecule and ansible-compat are left free: their 26.10 releases declare `ansible-core!=2.17.*`,
# so the 2.17 leg gets the newest release that supports it.
lock-core:
	@[ -n "$(CORE)" ] || { echo "make lock-core CORE=2.NN"; exit 2; }
	rm -rf build/lock-core && $(PYTHON) -m venv build/lock-core
	build/lock-core/bin/pip install --quiet "ansible-core==$(CORE).*" -r requirements/core.in \
	  -c <(grep -viE '^(ansible-core|resolvelib|molecule|ansible-compat)==' requirements/dev.txt)
	{ echo "# ansible-core $(CORE) matrix leg (make matrix); make lock-core CORE=$(CORE) writes this file."; \
	  build/lock-core/bin/pip freeze; } > requirements/core-$(CORE).txt

# ansible-test and FQCN lookups need the collection under ansible_collections/.
collection: deps
	@mkdir -p $(COLL_DIR)
	@rsync -a --delete --delete-excluded --exclude-from=scripts/collection-excludes ./ $(COLL_DIR)/
	@# ansible-test lists files with git: give the copy its own index, or it would
	@# find this checkout's .git, where build/ is ignored, and test nothing.
	@cd $(COLL_DIR) && { [ -d .git ] || git init -q; } && git add -A

# --- checks ----------------------------------------------------------------
ruff: deps
	ruff check .

ansible-lint: collection
	ansible-lint --profile production

# ansible-test bootstraps pip in its venvs from a script on a host we cannot reach;
# scripts/get-pip-offline.py does the same job with ensurepip (copied by rename: another
# ansible-test may be reading it).
sanity: collection
	@pipver=$$(python -c 'from ansible_test._internal.python_requirements import get_venv_packages as g; \
	  from ansible_test._internal.host_configs import NativePythonConfig as P; print(g(P(version="3.11"))["pip"])' 2>/dev/null || echo 24.2); \
	  cache=$(ANSIBLE_TEST_HOME)/.ansible/test/cache; mkdir -p $$cache && \
	  cp scripts/get-pip-offline.py $$cache/.get-pip.$$$$ && mv $$cache/.get-pip.$$$$ $$cache/get_pip_$${pipver//./_}.py
	cd $(COLL_DIR) && HOME=$(ANSIBLE_TEST_HOME) PIP_CACHE_DIR=$(HOME)/.cache/pip \
	  ansible-test sanity --venv --python 3.11 --color no

lint: ruff ansible-lint

# Unit, packaging, real-dhcpd system tests and molecule scenarios in ONE pytest run,
# so the last line is the summary of everything. Lanes (xdist groups, tests/conftest.py and
# tests/molecule/test_scenarios.py): the namespace lab, and three molecule lanes; each runs its
# tests one at a time, and the unit and packaging tests fill the gaps. One worker per lane: the
# lanes mostly wait on daemons, timers and guests, not on the 2 cores.
PYTEST_WORKERS ?= 4

pytest: collection lab-image packaging-deps core-venvs
	pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=25 tests

unit: collection
	pytest tests/unit

# --- ansible-core matrix --------------------------------------------------------
# Sanity and unit on every ansible-core of requirements/core-2.NN.txt (2.19, the main venv's, is
# `make sanity` and the unit part of `make pytest`). Each leg has its own venv, collection copy
# and ansible-test HOME, so MATRIX_JOBS legs run at once; each logs to build/matrix/2.NN.log.
MATRIX_JOBS ?= 2

# The matrix venvs, also for the molecule `default` runs on each ansible-core (inside `make pytest`).
core-venvs: deps
	@for v in $(MATRIX_CORES); do $(MAKE) --no-print-directory CORE=$$v deps; done

matrix: deps
	@rm -rf build/matrix && mkdir -p build/matrix
	@$(MAKE) --no-print-directory -j$(MATRIX_JOBS) $(addprefix matrix-leg-,$(MATRIX_CORES))
	@rc=0; for v in $(MATRIX_CORES); do \
	  read -r status seconds < build/matrix/$$v.result; \
	  if [ "$$status" != 0 ]; then tail -n 80 build/matrix/$$v.log; rc=1; fi; \
	  echo "ansible-core $$v: $$(grep '^leg:' build/matrix/$$v.log | cut -c6- | paste -sd, -)" \
	       "-> $$([ "$$status" = 0 ] && echo passed || echo FAILED) in $$seconds s"; \
	done; exit $$rc

matrix-leg-%:
	@start=$$(date +%s); status=0; \
	for step in deps sanity unit; do \
	  s=$$(date +%s); $(MAKE) --no-print-directory -j1 CORE=$* $$step >> build/matrix/$*.log 2>&1 || status=1; \
	  echo "leg: $$step $$(( $$(date +%s) - s )) s" >> build/matrix/$*.log; \
	  [ $$status = 0 ] || break; \
	done; \
	echo "$$status $$(( $$(date +%s) - start ))" > build/matrix/$*.result

# The matrix is CPU work and most of the pytest run waits on daemons, timers and guests, so the
# two overlap: the matrix log is printed after pytest, and pytest's summary line again last.
test: deps core-venvs
	@rc=0; start=$$(date +%s); mkdir -p build; \
	$(MAKE) --no-print-directory ruff || rc=1; \
	$(MAKE) --no-print-directory ansible-lint || rc=1; \
	$(MAKE) --no-print-directory sanity || rc=1; \
	$(MAKE) --no-print-directory matrix > build/matrix-run.log 2>&1 & matrix=$$!; \
	$(MAKE) --no-print-directory pytest 2>&1 | tee build/pytest-run.log || rc=1; \
	wait $$matrix || rc=1; \
	echo "--- ansible-core matrix (ran beside pytest) ---"; cat build/matrix-run.log; \
	echo "make test: $$(( ($$(date +%s) - start) / 60 )) min $$(( ($$(date +%s) - start) % 60 )) s"; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED (see the steps above)"; fi; \
	{ grep -E '^=+ .* in [0-9.]+s' build/pytest-run.log || tail -n 1 build/pytest-run.log; } | tail -n 1; exit $$rc

build: collection
	cd $(COLL_DIR) && ansible-galaxy collection build --force --output-path $(CURDIR)

# --- packaging: galaxy-importer, antsibull-docs, antsibull-changelog, ansible-builder ---------
# tests/packaging runs them (inside `make pytest`); their own venv, see requirements/packaging.in.
PACKAGING_VENV  := build/venv-packaging
PACKAGING_STAMP := $(PACKAGING_VENV)/.req-$(shell md5sum requirements/packaging.txt | cut -c1-8)
$(PACKAGING_STAMP): | $(APT_STAMP)
	rm -rf $(PACKAGING_VENV) && $(PYTHON) -m venv $(PACKAGING_VENV)
	$(PACKAGING_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/packaging.txt
	@touch $@

packaging-deps: $(PACKAGING_STAMP)

packaging: deps packaging-deps
	pytest tests/packaging

# The execution environment's build context (execution-environment.yml) in build/ee; building
# the image from it needs quay.io: `podman build -t netboot-ee build/ee` where it is reachable.
ee-context: build packaging-deps
	@mkdir -p build/ee-collection
	cp netboot-dhcp_failover-$$(awk '$$1 == "version:" {print $$2}' galaxy.yml).tar.gz \
	  build/ee-collection/netboot-dhcp_failover.tar.gz
	$(PACKAGING_VENV)/bin/ansible-builder create -f execution-environment.yml -c build/ee

# --- benchmarks (measure and print; never part of `make test`) ----------------
BENCH_STAMP := $(VENV)/.bench-$(shell md5sum requirements/bench.txt | cut -c1-8)
$(BENCH_STAMP): | $(VENV_STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/bench.txt
	@touch $@

bench: collection lab-image $(BENCH_STAMP)
	python bench/run.py

# The fault campaign of tests/system/test_chaos_campaign.py, longer and with any seed.
SEED     ?= 1
DURATION ?= 900
chaos: collection
	SEED=$(SEED) DURATION=$(DURATION) python bench/chaos.py

# --- lab -------------------------------------------------------------------
lab-image: deps
	lab/build-image
	lab/build-image trixie

# lab/lab up builds (or finds) the image itself.
lab-up: deps
	lab/lab up

lab-down:
	lab/lab down

demo: lab-up collection
	lab/demo

clean: lab-down
	rm -rf build
