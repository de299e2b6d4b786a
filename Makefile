# The index of every everyday command. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
ENV ?= staging
export GOFLAGS ?= -buildvcs=false

.PHONY: help run test test-go lint bench soak faults fuzz image push deploy verify release

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

run: ## run ASAP locally: embedded Redis with sample placements, demo ad server, nothing to install but Go
	ASAP_ENV=local $(GO) run ./service

test: ## run every test (starts a private redis-server when none answers on 127.0.0.1:6379)
	scripts/with-redis.sh $(MAKE) --no-print-directory test-go

test-go:
	$(GO) vet ./service/... ./infra/...
	$(GO) test -race -count=1 ./service/...
	$(GO) test -count=1 ./infra/...
	CGO_ENABLED=0 $(GO) build -o /dev/null ./service
	$(GO) test -run '^$$' -bench . -benchtime 1x ./service/... >/dev/null
