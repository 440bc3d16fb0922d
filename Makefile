# Every test entry point. `make test` is what CI runs; it sets up everything
# it needs (venv, Docker engine, images) and reuses what is already there.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

REPO := $(CURDIR)
BUILD := $(REPO)/build
VENV := $(BUILD)/venv
export QBEE_BUILD_DIR := $(BUILD)
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(BUILD)/collections:$(BUILD)/deps
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export ANSIBLE_LOCAL_TEMP := $(BUILD)/ansible-tmp
export ANSIBLE_HOME := $(BUILD)/ansible-home
export MOLECULE_NO_LOG := false
export PY_COLORS := 0
export ANSIBLE_FORCE_COLOR := 0

SCENARIO ?=
SCENARIOS := $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))

.PHONY: help test venv engine images lint unit sanity molecule clean

help:
	@echo "make test                  everything CI runs: lint, unit, sanity, molecule"
	@echo "make lint | unit | sanity  one gate"
	@echo "make molecule [SCENARIO=x] all Molecule scenarios, or one ($(SCENARIOS))"
	@echo "make clean                 remove build/ (stops the dockerd it started)"

test: lint unit sanity molecule

venv:
	@tests/bin/setup-venv

engine:
	@tests/bin/docker-engine

images: engine
	@tests/bin/build-images

lint: venv
	yamllint --strict .
	ansible-lint

unit: venv
	pytest -q -p no:cacheprovider tests/unit

sanity: venv
	@tests/bin/sanity

molecule: venv images
	@for s in $(if $(SCENARIO),$(SCENARIO),$(SCENARIOS)); do \
	  echo "=== molecule scenario $$s"; \
	  start=$$(date +%s); \
	  molecule test -s $$s; \
	  echo "=== scenario $$s passed in $$(( $$(date +%s) - start )) s"; \
	done

clean:
	@if [ -f $(BUILD)/dockerd.pid ] && kill -0 $$(cat $(BUILD)/dockerd.pid) 2>/dev/null; then \
	  kill $$(cat $(BUILD)/dockerd.pid); fi
	rm -rf $(BUILD)
