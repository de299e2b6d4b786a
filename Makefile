# The index of every everyday command. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
ENV ?= staging
export GOFLAGS ?= -buildvcs=false

.PHONY: help run test test-go lint bench soak faults fuzz image push deploy verify release seed

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

run: ## run ASAP locally: embedded Redis with sample placements, demo ad server, nothing to install but Go
	GO=$(GO) scripts/run-local.sh

test: ## run every test: a line per package as it finishes, the failures' output, then the counts and the time (starts a private redis-server when none answers on 127.0.0.1:6379)
	scripts/with-redis.sh $(MAKE) --no-print-directory test-go

# gotestsum (a tool of service/go.mod) reads `go test -json`: one line per package
# as it finishes, the output of every failed test, the counts at the end; it exits
# non-zero when anything failed. The service's tests run under the race detector,
# infra's without (Pulumi's mocks under it take minutes and share no state).
GOTESTSUM = $(GO) tool gotestsum --format pkgname --format-hide-empty-pkg --hide-summary skipped
test-go:
	@start=$$(date +%s); counts=$$(mktemp); trap 'rm -f "$$counts"' EXIT; \
	echo "go vet"; $(GO) vet ./service/... ./infra/...; \
	echo "go test (race detector on ./service/...)"; \
	$(GOTESTSUM) --post-run-command "sh -c 'echo \$$TESTS_TOTAL \$$TESTS_FAILED \$$TESTS_SKIPPED >$$counts'" --raw-command -- \
	  sh -c '$(GO) test -json -race -count=1 ./service/...; s=$$?; $(GO) test -json -count=1 ./infra/... || s=1; exit $$s'; \
	read -r total failed skipped <"$$counts"; \
	echo "static build"; CGO_ENABLED=0 $(GO) build -o /dev/null ./service; \
	log=$$(mktemp); \
	if $(GO) test -run '^$$' -bench . -benchtime 1x ./service/... >"$$log" 2>&1; then rm -f "$$log"; \
	else cat "$$log"; rm -f "$$log"; exit 1; fi; \
	echo "micro-benchmarks: each ran once (make bench measures)"; \
	$(MAKE) --no-print-directory lint; \
	elapsed=$$(( $$(date +%s) - start )); \
	echo "make test: $$((total - failed - skipped)) tests passed, $$failed failed, $$skipped skipped; $$((elapsed / 60))m$$((elapsed % 60))s in all"

lint: ## gofmt and staticcheck (pinned as a tool in service/go.mod) over both modules
	@unformatted=$$(gofmt -l service infra); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) tool staticcheck ./service/... ./infra/...

# ---- Performance (README, "Performance"). Not part of `make test`: they take minutes
# and want the machine to themselves.
BENCH_FLAGS ?=
SOAK_FLAGS ?=

bench: ## side-by-side benchmark on 127.0.0.1 (ASAP, bare Echo, ReverseProxy, nginx if installed, upstream); writes bench/results.md
	scripts/with-redis.sh $(GO) run ./service/cmd/bench $(BENCH_FLAGS)

soak: ## ASAP at 1,000 req/s for 10 minutes; fails unless resident memory stays flat (within 10%)
	scripts/with-redis.sh $(GO) run ./service/cmd/bench -soak $(SOAK_FLAGS)

# ---- Reliability (README, "Operations: what ASAP does under faults"). The short form of
# the fault suite runs in `make test`; these are the full forms.
FUZZTIME ?= 10m

faults: ## the fault suite in full: Redis outages, upstream faults, overload, SIGTERM, slowloris, junk (about 3 minutes); prints each scenario's figures
	scripts/with-redis.sh $(GO) test ./service/internal/faults -run . -faults.full -v -count=1 -timeout 30m

fuzz: ## every fuzz target for FUZZTIME (default 10m) each, one after the other: targets × FUZZTIME in all
	scripts/fuzz.sh $(FUZZTIME)

# ---- Delivery (README, "Deployment"). ENV is the stack: staging or production (image
# also takes local). Each target checks its tools and credentials first (scripts/require.sh).
# SHA is read once, so every step of a release deploys the same commit.
ifeq ($(origin SHA),undefined)
SHA := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
endif
PLATFORM ?= linux/amd64
PKEY ?= demo-feed
VERIFY_TIMEOUT ?= 15m
want-env = $(if $(filter $(ENV),$(1)),,$(error ENV=$(ENV): want one of: $(1)))

image: ## build the ENV image (local, staging, production) as asap:ENV-SHA; needs docker
	$(call want-env,local staging production)
	@scripts/require.sh --for image docker git
	DOCKER_BUILDKIT=1 docker build $(if $(filter local,$(ENV)),,--platform $(PLATFORM)) \
		--file docker/$(ENV).Dockerfile --build-arg VERSION=$(SHA) --tag asap:$(ENV)-$(SHA) .

push: ## push asap:ENV-SHA to the stack's ECR repository as :SHA; needs docker, aws + credentials
	$(call want-env,staging production)
	@scripts/require.sh --for push docker aws git
	scripts/ecr.sh push $(ENV) $(SHA)

deploy: ## set the stack's asap:imageTag to SHA and `pulumi up --stack ENV --yes`; needs pulumi, aws + credentials
	$(call want-env,staging production)
	@scripts/require.sh --for deploy pulumi aws
	scripts/ecr.sh check $(ENV) $(SHA)
	pulumi config set --stack $(ENV) asap:imageTag $(SHA)
	pulumi up --stack $(ENV) --yes

verify: ## wait for the ENV rollout (a rollback fails) and smoke-test it through the load balancer; needs go, pulumi, aws
	$(call want-env,staging production)
	@scripts/require.sh --for verify go pulumi aws
	@mkdir -p out
	pulumi stack output --stack $(ENV) --json > out/$(ENV)-outputs.json
	$(GO) run ./infra/cmd/rollout -outputs out/$(ENV)-outputs.json -pkey $(PKEY) -timeout $(VERIFY_TIMEOUT)

seed: ## load the sample placements into the ENV stack's Redis (a one-off `asap load` task); needs pulumi, aws
	$(call want-env,staging production)
	@scripts/require.sh --for seed pulumi aws
	scripts/seed.sh $(ENV)

release: ## test; image, push, deploy, verify staging; then production, only if staging verified
	@scripts/require.sh --for release docker aws pulumi go git
	$(MAKE) --no-print-directory test
	$(MAKE) --no-print-directory image ENV=staging SHA=$(SHA)
	$(MAKE) --no-print-directory push ENV=staging SHA=$(SHA)
	$(MAKE) --no-print-directory deploy ENV=staging SHA=$(SHA)
	$(MAKE) --no-print-directory verify ENV=staging SHA=$(SHA)
	$(MAKE) --no-print-directory image ENV=production SHA=$(SHA)
	$(MAKE) --no-print-directory push ENV=production SHA=$(SHA)
	$(MAKE) --no-print-directory deploy ENV=production SHA=$(SHA)
	$(MAKE) --no-print-directory verify ENV=production SHA=$(SHA)
