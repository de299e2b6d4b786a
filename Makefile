# The index of every everyday command. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
ENV ?= staging
export GOFLAGS ?= -buildvcs=false

.PHONY: help run test test-go lint bench soak faults fuzz image deploy promote verify release seed login preflight admin

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

lint: ## gofmt, staticcheck (pinned as a tool in service/go.mod), and each module builds alone and is tidy
	@unformatted=$$(gofmt -l service infra); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) tool staticcheck ./service/... ./infra/...
	@# Each module stands alone, outside the workspace: it builds, and go.mod/go.sum
	@# need no change (the diff, if any, is printed).
	@for m in service infra; do \
	  (cd $$m && GOWORK=off $(GO) build -o /dev/null ./... ) || { echo "lint: $$m does not build outside the workspace (GOWORK=off go build ./...)"; exit 1; }; \
	  (cd $$m && GOWORK=off $(GO) mod tidy -diff) || { echo "lint: $$m/go.mod is not tidy: run cd $$m && GOWORK=off go mod tidy"; exit 1; }; \
	done

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

faults: ## the fault suite in full: Redis outages, upstream faults, overload and its curve, SIGTERM, slowloris, junk (about 6 minutes); prints each scenario's figures, draws docs/overload.svg and writes the curve's table into docs/operations.md
	scripts/with-redis.sh $(GO) test ./service/internal/faults -run . -faults.full -v -count=1 -timeout 30m

fuzz: ## every fuzz target for FUZZTIME (default 10m) each, one after the other: targets × FUZZTIME in all
	scripts/fuzz.sh $(FUZZTIME)

# ---- Delivery (docs/deployment.md). ENV is the stack: staging or production (image
# also takes local). Each target checks its tools and credentials first
# (scripts/require.sh). Staging is built by `pulumi up` itself (the program builds
# docker/staging.Dockerfile and pushes it to the stack's ECR repository); production
# is never built: it runs the image, by digest, that `make verify ENV=staging`
# recorded in VERIFIED_IMAGE, or IMAGE= when given.
ifeq ($(origin SHA),undefined)
SHA := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
endif
PLATFORM ?= linux/amd64
# PKEY overrides the stack's smokePkey output (the placement the smoke requests ask for).
PKEY ?=
VERIFY_TIMEOUT ?= 15m
# Staging's upstream is the demo ad server the stack runs, so its GET /v2/ad must
# fill; production's smoke requests do not ask for an ad (a fill would fire a real
# win notice).
REQUIRE_FILL ?= $(if $(filter staging,$(ENV)),true,false)
# IMAGE=<registry>/<repository>@sha256:... deploys that image instead: a hand rollback.
IMAGE ?=
# OUT holds the stack outputs each verify read and the digest it verified.
OUT ?= out
VERIFIED_IMAGE ?= $(OUT)/staging-verified-image
# PROMOTE_REPOSITORY is production's own repository (the production stack's asap-production),
# in the verified image's registry; PROMOTE_TARGETS the stack's resources it needs first.
PROMOTE_REPOSITORY ?= asap-production
PROMOTE_TARGETS = --target 'urn:pulumi:production::asap::aws:ecr/repository:Repository::asap' \
	--target 'urn:pulumi:production::asap::aws:ecr/lifecyclePolicy:LifecyclePolicy::asap'
want-env = $(if $(filter $(ENV),$(1)),,$(error ENV=$(ENV): want one of: $(1)))

image: ## build the ENV image (local, staging, production) as asap:ENV-SHA on this machine; deploys never need it (pulumi up builds)
	$(call want-env,local staging production)
	@scripts/require.sh --for image docker git
	DOCKER_BUILDKIT=1 docker build $(if $(filter local,$(ENV)),,--platform $(PLATFORM)) \
		--file docker/$(ENV).Dockerfile --build-arg VERSION=$(SHA) --tag asap:$(ENV)-$(SHA) .

deploy: ## ENV=staging: `pulumi up` builds, pushes and runs this checkout; ENV=production: promote (below). IMAGE= deploys that digest instead
	$(call want-env,staging production)
ifeq ($(ENV),production)
	@scripts/require.sh --for deploy pulumi aws go
	@# The verified digest is copied into production's own repository (no Docker:
	@# infra/cmd/promote), which the stack creates first (a targeted update, a no-op
	@# once it exists); production then runs it from there, by the same digest.
	source=$$(IMAGE='$(IMAGE)' scripts/ecr.sh promoted $(VERIFIED_IMAGE)) && \
	target=$$($(GO) run ./infra/cmd/promote -plan -image "$$source" -repository $(PROMOTE_REPOSITORY)) && \
	pulumi config set --stack production asap:image "$$target" && \
	pulumi up --stack production --yes $(PROMOTE_TARGETS) && \
	aws ecr get-login-password --region "$$(echo "$$source" | cut -d. -f4)" | \
		$(GO) run ./infra/cmd/promote -image "$$source" -repository $(PROMOTE_REPOSITORY) -password-stdin
	pulumi up --stack production --yes
else
	@scripts/require.sh --for deploy docker pulumi aws
ifneq ($(IMAGE),)
	IMAGE='$(IMAGE)' scripts/ecr.sh check
	pulumi config set --stack staging asap:image '$(IMAGE)'
else
	@# A digest pinned by an earlier hand rollback would hide this checkout.
	if pulumi config get --stack staging asap:image >/dev/null 2>&1; then pulumi config rm --stack staging asap:image; fi
endif
	pulumi up --stack staging --yes
endif

promote: ## production runs the digest staging verified (make verify ENV=staging recorded it), copied into its own repository: never a rebuild; = make deploy ENV=production
	$(MAKE) --no-print-directory deploy ENV=production

verify: ## wait for the ENV rollout (a rollback fails, naming the alarm) and smoke-test it through the load balancer; needs go, pulumi, aws
	$(call want-env,staging production)
	@scripts/require.sh --for verify go pulumi aws
	@mkdir -p $(OUT)
	@rm -f $(OUT)/$(ENV)-verified-image
	pulumi stack output --stack $(ENV) --json > $(OUT)/$(ENV)-outputs.json
	$(GO) run ./infra/cmd/rollout -outputs $(OUT)/$(ENV)-outputs.json $(if $(PKEY),-pkey $(PKEY)) \
		$(if $(filter true,$(REQUIRE_FILL)),-require-fill) -timeout $(VERIFY_TIMEOUT) -verified-image $(OUT)/$(ENV)-verified-image

login: ## log in to the stacks' one state backend, PULUMI_BACKEND_URL (s3://BUCKET/asap; its stack secrets need PULUMI_CONFIG_PASSPHRASE)
	@test -n "$${PULUMI_BACKEND_URL:-}" || { echo "make login: set PULUMI_BACKEND_URL to the stacks' state backend (s3://BUCKET/asap, docs/deployment.md)" >&2; exit 1; }
	@case "$$PULUMI_BACKEND_URL" in https://*) ;; *) test -n "$${PULUMI_CONFIG_PASSPHRASE:-}$${PULUMI_CONFIG_PASSPHRASE_FILE:-}" || \
		{ echo "make login: $$PULUMI_BACKEND_URL keeps the stacks' secrets under a passphrase: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)" >&2; exit 1; } ;; esac
	pulumi login "$$PULUMI_BACKEND_URL"

preflight: ## check that the committed Pulumi.ENV.yaml deploys as it is (a clean checkout, as the pipeline's): the program under Pulumi's mocks, no AWS
	$(call want-env,staging production)
	$(GO) test ./infra -run '^TestCommittedStackFiles$$' -count=1 -args -committed-stacks $(ENV)

seed: ## load the sample placements into the ENV stack's Redis (a one-off `asap load` task); needs pulumi, aws
	$(call want-env,staging production)
	@scripts/require.sh --for seed pulumi aws
	scripts/seed.sh $(ENV)

# ADMIN_PORT is the local port `make admin` forwards to a task's admin port (9090).
ADMIN_PORT ?= 9090

admin: ## the ENV stack's admin port (admin API, ad-ops page /admin/ui/) on 127.0.0.1:ADMIN_PORT, through an SSM session into one task; needs pulumi, aws, session-manager-plugin
	$(call want-env,staging production)
	@scripts/require.sh --for admin pulumi aws
	scripts/admin.sh $(ENV) $(ADMIN_PORT)

release: ## test; check production's committed stack file; deploy and verify staging; then promote the verified digest to production and verify it
	@scripts/require.sh --for release docker aws pulumi go git
	$(MAKE) --no-print-directory test
	$(MAKE) --no-print-directory preflight ENV=production
	$(MAKE) --no-print-directory deploy ENV=staging IMAGE=
	$(MAKE) --no-print-directory verify ENV=staging
	$(MAKE) --no-print-directory promote IMAGE=
	$(MAKE) --no-print-directory verify ENV=production
