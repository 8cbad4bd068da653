# The two commands a newcomer needs are `make run` and `make test`; both install what is missing
# first (scripts/setup.sh). The other targets are their parts.

SHELL := /bin/bash
# Tools installed by setup: cargo's bin dir and the npm-installed wasm-opt.
export PATH := $(CURDIR)/tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: run test dev bench setup setup-test build lint unit e2e

## Install what is missing, build the release site and serve it at http://127.0.0.1:3000.
run: setup
	node scripts/screening-assets.mjs
	cargo leptos serve --release --precompress --split

## Install what is missing, then every check: format, lints, Rust tests, browser tests.
test: setup-test lint unit e2e

## Run the benchmark set (about 9 minutes) and print a table like docs/BENCHMARKS.md.
bench:
	scripts/bench.sh

## Rebuild and reload on every change while developing.
dev: setup
	node scripts/screening-assets.mjs
	cargo leptos watch --split

setup:
	scripts/setup.sh

setup-test:
	scripts/setup.sh --test

# --split is required: the moderators' page is a lazily loaded wasm chunk (#[lazy]), and
# without the split the wasm imports a placeholder nothing provides, so no page hydrates.
# --precompress writes the brotli-11 copies the server sends (docs/BENCHMARKS.md, "Bundle").
# The screening's files go into public/ first, so the build copies and precompresses them.
build:
	node scripts/screening-assets.mjs
	cargo leptos build --release --precompress --split

lint:
	cargo fmt --check
	cargo clippy --all-targets --features ssr -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings

# The crowd tests open thousands of sockets: as many open files as the machine allows.
unit:
	ulimit -n "$$(ulimit -Hn)" && cargo test --features ssr

e2e: build
	cd end2end && npx playwright test
