# Every test entry point. `make test` is what CI runs; it sets up everything
# it needs (venv, Docker engine, images) and reuses what is already there.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

REPO := $(CURDIR)
BUILD := $(REPO)/build
# The ansible-core release everything runs on: one of constraints/ansible-core-*.txt.
CORE ?= 2.21
export CORE
VENV := $(BUILD)/core-$(CORE)/venv
export QBEE_BUILD_DIR := $(BUILD)
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(BUILD)/collections:$(BUILD)/core-$(CORE)/deps
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export ANSIBLE_LOCAL_TEMP := $(BUILD)/ansible-tmp
export ANSIBLE_HOME := $(BUILD)/ansible-home
export MOLECULE_NO_LOG := false
export PY_COLORS := 0
export ANSIBLE_FORCE_COLOR := 0

SCENARIO ?=
# Every scenario but ee, which needs the execution environment (`make ee`).
SCENARIOS := $(filter-out ee,$(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))))
# The other maintained cores `make compat` runs the main gates on.
COMPAT_CORES ?= 2.19 2.20
COMPAT_SCENARIOS ?= harness default

.PHONY: help demo test venv engine images lint unit sanity molecule artifact compat ee bench bench-inventory role-docs clean

help:
	@echo "make demo                  convert a local fleet of three containers, then audit it"
	@echo "make test                  everything CI runs: lint, unit, sanity, molecule, artifact (ansible-core 2.21), compat, ee"
	@echo "make compat                lint, unit, sanity, $(COMPAT_SCENARIOS) on ansible-core $(COMPAT_CORES)"
	@echo "make ee                    build the execution environment, run site and verify in it (ansible-runner)"
	@echo "CORE=2.19|2.20|2.21        the ansible-core any target runs on (default 2.21)"
	@echo "make lint | unit | sanity  one gate"
	@echo "make molecule [SCENARIO=x] all Molecule scenarios, or one ($(SCENARIOS))"
	@echo "make artifact              build the tarball, install it, run site and verify from it"
	@echo "make bench [BENCH_ARGS=..] the fleet benchmark; rewrites docs/performance.md"
	@echo "make bench-inventory       controller CPU of the inventory plugin for 10,000 fake devices"
	@echo "make clean                 remove build/ (stops the dockerd it started)"

test: lint unit sanity molecule artifact compat ee

venv:
	@tests/bin/setup-venv

engine:
	@tests/bin/docker-engine

images: engine
	@tests/bin/build-images

demo: venv images
	ansible-playbook -i localhost, demo/demo.yml

role-docs: venv
	tests/bin/role-docs

lint: venv
	yamllint --strict .
	ansible-lint

unit: venv
	pytest -q -p no:cacheprovider tests/unit

sanity: venv
	@tests/bin/sanity

molecule: venv images
	@tests/bin/host-packages ssh ssh-keygen
	@for s in $(if $(SCENARIO),$(SCENARIO),$(SCENARIOS)); do \
	  echo "=== molecule scenario $$s"; \
	  start=$$(date +%s); \
	  molecule test -s $$s; \
	  echo "=== scenario $$s passed in $$(( $$(date +%s) - start )) s"; \
	done

BENCH_ARGS ?= --sizes 1 8 24 --repeat 3 --forks 24
bench: venv images
	python bench/run.py $(BENCH_ARGS)

bench-inventory: venv
	python bench/inventory.py

artifact: venv images
	@tests/bin/artifact-check

compat:
	@for c in $(COMPAT_CORES); do \
	  echo "=== ansible-core $$c"; start=$$(date +%s); \
	  $(MAKE) --no-print-directory CORE=$$c lint unit sanity molecule SCENARIO="$(COMPAT_SCENARIOS)"; \
	  echo "=== ansible-core $$c passed in $$(( $$(date +%s) - start )) s"; \
	done

ee: venv images
	@tests/bin/ee
	@start=$$(date +%s); molecule test -s ee; echo "=== scenario ee passed in $$(( $$(date +%s) - start )) s"

clean:
	@if [ -f $(BUILD)/dockerd.pid ] && kill -0 $$(cat $(BUILD)/dockerd.pid) 2>/dev/null; then \
	  kill $$(cat $(BUILD)/dockerd.pid); fi
	rm -rf $(BUILD)
