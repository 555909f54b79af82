# convex-auth-wasm — every entry point. `make demo` and `make test` set up a fresh machine first.
SHELL := /bin/bash
export PATH := $(CURDIR)/tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: setup pkg backend demo test bench test-native test-wasm test-node fmt clean

setup:
	@bash scripts/setup.sh

# The npm package in pkg/ (web and bundler builds, release, wasm-opt -Oz), packed into target/npm/.
pkg: setup
	@bash scripts/build-pkg.sh

# The local Convex backend on 127.0.0.1:3210 (PORT overrides); prints one ready line.
# Convex Auth v1 (www/) by default; VERSION=v2 starts the Convex Auth v2 backend (www/v2/).
backend: setup
	@case "$(VERSION)" in \
	  ""|v1) cd www && exec node backend/main.mjs ;; \
	  v2) cd www/v2 && exec node backend/main.mjs ;; \
	  *) echo "VERSION must be v1 or v2, got '$(VERSION)'" >&2; exit 2 ;; \
	esac

# Builds the package, starts both backends (Convex Auth v1 and v2) and serves the demo on
# http://localhost:5173.
demo: pkg
	@bash scripts/demo.sh

# Every check and test suite; ends with one line "N passed, M failed".
test: setup
	@bash scripts/test.sh

# Benchmarks of the built package (bundle size against peer auth clients, cold start, requests per
# load, refresh coalescing, hot path, memory); prints a table, writes bench/results.{json,md}.
bench: setup
	@bash scripts/bench.sh

fmt:
	cargo fmt --all

clean:
	rm -rf target pkg test-results
