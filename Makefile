# naq — common tasks. `make help` lists them.
GO        ?= go
PKGS      ?= ./...
BENCHTIME ?= 1s
COUNT     ?= 5
BENCH     ?= .
BENCHOUT  ?= bin/bench.txt
# Flags of internal/cmd/benchratio for make bench (-parts, -md, -unit cpu-ns/op).
BENCHRATIO ?=
# The benchmarks of instrument/bench_truth_test.go (the ratio table's paths).
TRUTH     ?= ^Benchmark(Publish|Process|Request|JSPublish|JSConsume|JSFetch|KV)$$

.PHONY: help test vet fmt lint tidy-check bench bench-diff bench-smoke bench-compare demo build up down tidy fuzz surface

help: ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

test: lint tidy-check ## gofmt, vet and go.mod checks, then every test with the race detector (what CI runs)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(MAKE) bench-smoke
	$(MAKE) fuzz

# Every Fuzz* target in the tree, one `go test -fuzz` per target (go test
# fuzzes one target per package per run). A failure with a written failing
# input, or any other error, fails; a bare "context deadline exceeded" with no
# failing input is Go 1.26's -fuzztime shutdown race (go.dev/issue/75804,
# fixed in Go 1.27), which loaded CI machines hit: it is reported, not fatal.
FUZZTIME ?= 3s
fuzz: ## run each fuzz target for FUZZTIME (default 3s); seed corpora also run in `test`
	@for dir in $$(git ls-files -co --exclude-standard '*_test.go' | xargs -r grep -l '^func Fuzz' | xargs -r -n1 dirname | sort -u); do \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$dir/*_test.go); do \
	    echo "fuzz ./$$dir $$name ($(FUZZTIME))"; \
	    if out=$$($(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$dir 2>&1); then \
	      echo "$$out" | tail -n 1; continue; \
	    fi; \
	    echo "$$out"; \
	    if echo "$$out" | grep -q 'Failing input written' || ! echo "$$out" | grep -qx '    context deadline exceeded'; then exit 1; fi; \
	    echo "fuzz: $$name: bare 'context deadline exceeded', no failing input: Go's -fuzztime race, not a finding"; \
	  done; \
	done

vet: ## go vet
	$(GO) vet $(PKGS)

fmt: ## gofmt the tree
	gofmt -s -w $$(git ls-files '*.go')

lint: vet ## gofmt check + vet
	@out=$$(gofmt -s -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tidy-check: ## fail when go.mod or go.sum is not what go mod tidy makes
	$(GO) mod tidy -diff

bench: ## benchmarks beside raw nats.go and the dependency floors, COUNT (5) runs, then the naq/raw and naq/floor ratios
	@mkdir -p $(dir $(BENCHOUT))
	bash -o pipefail -c "$(GO) test -run '^\$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) -count $(COUNT) $(PKGS) | tee $(BENCHOUT)"
	$(GO) run ./internal/cmd/benchratio $(BENCHRATIO) < $(BENCHOUT)

bench-diff: ## BASE=<git ref>: its benchmarks and the working tree's, interleaved in one run, compared by benchstat
	@test -n "$(BASE)" || { echo "usage: make bench-diff BASE=<git ref> [COUNT=5] [BENCH=regexp]"; exit 2; }
	GO="$(GO)" BASE="$(BASE)" COUNT="$(COUNT)" BENCH='$(BENCH)' BENCHTIME="$(BENCHTIME)" bash tools/bench-diff.sh

bench-smoke: ## each benchmark of the ratio table once (-benchtime 1x), checked against benchratio's table
	@mkdir -p bin
	$(GO) test -run '^$$' -bench '$(TRUTH)' -benchtime 1x -benchmem ./instrument > bin/bench-smoke.txt || { cat bin/bench-smoke.txt; exit 1; }
	$(GO) run ./internal/cmd/benchratio -strict < bin/bench-smoke.txt > /dev/null

bench-compare: ## circuit breaker vs sony/gobreaker (separate module under bench/)
	cd bench && $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) ./...

surface: ## exported identifiers, methods and fields per library package (DIR=<checkout> counts another tree)
	$(GO) run ./internal/cmd/apisurface -md $(DIR)

build: ## build the naq CLI into ./bin
	$(GO) build -o bin/naq ./cmd/naq

demo: ## run the demo on an embedded NATS server
	$(GO) run ./cmd/naq demo

up: ## start the compose stack (needs Docker)
	docker compose up -d --build

down: ## stop the compose stack
	docker compose down -v

tidy:
	$(GO) mod tidy
