# naq — common tasks. `make help` lists them.
GO        ?= go
PKGS      ?= ./...
BENCHTIME ?= 1s
COUNT     ?= 1

.PHONY: help test vet fmt lint bench bench-compare demo build up down tidy

help: ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

test: vet ## vet, then every test with the race detector (what CI runs)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./...

vet: ## go vet
	$(GO) vet $(PKGS)

fmt: ## gofmt the tree
	gofmt -s -w $$(git ls-files '*.go')

lint: vet ## gofmt check + vet
	@out=$$(gofmt -s -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench: ## benchmarks beside the raw nats.go baseline, in one run
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) $(PKGS)

bench-compare: ## circuit breaker vs sony/gobreaker (separate module under bench/)
	cd bench && $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) ./...

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
