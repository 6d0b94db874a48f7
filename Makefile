# Shortcuts for common tasks. Nothing here is required: the README's commands work
# without make.

PG_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable

.PHONY: help run test test-pg vet bench ci

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-9s %s\n", $$1, $$2}'

run: ## start the server on the embedded SQLite file with the demo tenant
	go run ./cmd/watan serve

test: ## run every test on SQLite
	go test -race ./...

test-pg: ## run every test on SQLite and PostgreSQL ($(PG_URL))
	WATAN_TEST_DATABASE_URL='$(PG_URL)' go test -race ./...

vet: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	go vet ./...

bench: ## the store, API and end-to-end benchmarks on both engines
	WATAN_TEST_DATABASE_URL='$(PG_URL)' go test -run x -bench . -benchtime 3s ./internal/store/ ./internal/httpapi/
	WATAN_TEST_DATABASE_URL='$(PG_URL)' go test -run x -bench EndToEnd -benchtime 2000x ./internal/engine/

ci: ## what CI runs
	bash .ci/run
