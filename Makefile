# Tillbox. The two commands: "make run" (demo store on http://localhost:8080) and
# "make test" (everything CI checks). Both set the machine up on first use.

.DEFAULT_GOAL := help
.PHONY: help run test lint bench demo-cloud clean-demo

DATA ?= var/demo
PORT ?= 8080
STORE ?= s01
# Extra pytest arguments for "make test", e.g. make test PYTEST_ARGS="-k sales -x".
PYTEST_ARGS ?=

help: ## List the targets
	@echo "Usage: make <target> [DATA=$(DATA)] [PORT=$(PORT)] [STORE=$(STORE)] [PYTEST_ARGS=...]"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z-]+:.*## / { printf "  %-11s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

run: ## Set up, create the demo store on first run, serve it on PORT
	scripts/bootstrap.sh
	@if [ ! -f "$(DATA)/tillbox.sqlite3" ]; then \
		echo "==> creating demo store $(STORE) in $(DATA)"; \
		.venv/bin/tillbox appliance init --store "$(STORE)" --demo --data "$(DATA)"; \
	fi
	.venv/bin/tillbox appliance serve --data "$(DATA)" --port "$(PORT)"

test: ## Set up, start PostgreSQL and Mosquitto if needed, lint, type-check, run pytest
	scripts/bootstrap.sh
	scripts/ensure-services.sh
	scripts/check.sh $(PYTEST_ARGS)

demo-cloud: ## Set up, then the cloud plus two demo stores with events flowing (Ctrl-C stops)
	scripts/bootstrap.sh
	scripts/ensure-services.sh
	.venv/bin/tillbox cloud demo --data var/cloud-demo

lint: ## Set up, then ruff, ruff format --check, mypy and shellcheck only
	scripts/bootstrap.sh
	scripts/check.sh --lint-only

bench: ## Set up, then run the catalog, selling and register-app benchmarks
	scripts/bootstrap.sh
	.venv/bin/python bench/catalog_bench.py
	.venv/bin/python bench/selling_bench.py
	.venv/bin/python bench/pwa_bench.py

# DATA is removed recursively, so only a path inside var/ is accepted.
clean-demo: ## Delete the demo store (DATA, default var/demo)
	@case "$(DATA)" in \
		*..*) echo "clean-demo: refusing DATA=$(DATA) (contains ..)" >&2; exit 1 ;; \
		var/?*) echo "==> removing $(DATA)"; rm -rf -- "$(DATA)" ;; \
		*) echo "clean-demo: refusing DATA=$(DATA) (not inside var/)" >&2; exit 1 ;; \
	esac
