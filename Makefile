# The targets people expect. `make run` and `make test` need only Go.
GO      ?= go
BIN     := bin/saga
PKGS    := ./...
# The tests also run the regression test of the patched kfake
# (third_party/kfake/PATCHES.md), a package of the build list through go.mod's replace.
TESTPKGS := $(PKGS) github.com/twmb/franz-go/pkg/kfake

.PHONY: run build test test-race test-kafka lint golangci-lint contract bench bench-curve clean conformance

# golangci-lint, pinned; make lint installs it into ./bin when missing.
GOLANGCI_VERSION ?= v2.6.2
GOLANGCI         := bin/golangci-lint-$(GOLANGCI_VERSION)

## run: build the CLI into ./bin and run the whole system on the embedded broker
run: build
	$(BIN) up

## build: build the saga binary into ./bin, stamped with its commit even where GOFLAGS says -buildvcs=false
build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/saga

## test: the whole suite, on an embedded broker (KAFKA_BROKERS=host:port runs it against that Kafka)
test:
	$(GO) test -count=1 $(TESTPKGS)

## conformance: the conformance kit against the four built-in services on the embedded broker, in process and through `saga participant check`, against a participant it must fail, and against the Python hotel (examples/hotel, when SAGA_PYTHON has its requirements)
conformance:
	$(GO) test -count=1 -run 'TestBuiltinServicesPass|TestMisbehavingParticipantFails' ./conformance/
	$(GO) test -count=1 -run 'TestParticipantCheck' ./cmd/saga/
	$(GO) test -count=1 -run 'TestHotelPassesTheConformanceKit|TestHotelBesideSagaUp' ./examples/hotel/

## test-race: the suite under the race detector
test-race:
	$(GO) test -race -count=1 $(TESTPKGS)

## test-kafka: start a local Apache Kafka, run the suite against it, stop it
test-kafka:
	bash scripts/kafka.sh up
	KAFKA_BROKERS=127.0.0.1:9092 $(GO) test -count=1 $(TESTPKGS); status=$$?; bash scripts/kafka.sh down; exit $$status

## lint: golangci-lint (.golangci.yml), vet, formatting, a tidy module, the layering allowlists (scripts/purity.sh), and third_party/kfake being upstream plus its patches
lint: $(GOLANGCI)
	$(GOLANGCI) run --allow-parallel-runners ./...
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	@$(GO) mod tidy -diff || { echo "lint: go.mod or go.sum is not tidy (run go mod tidy)"; exit 1; }
	@GO=$(GO) bash scripts/purity.sh
	@bash scripts/kfake-patch.sh --check

$(GOLANGCI):
	@mkdir -p bin
	GOBIN=$(CURDIR)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
	mv bin/golangci-lint $(GOLANGCI)

## contract: the HTTP API against its OpenAPI document with schemathesis (on PATH, or SCHEMATHESIS=...)
contract:
	bash scripts/schemathesis.sh --max-time $${CONTRACT_SECONDS:-120}

## bench: every figure of BENCHMARKS.md on this machine: Go benchmarks, then saga bench, recovery and memory on the embedded broker and on an Apache Kafka it starts (scripts/bench.sh; reports and charts in bench-results/)
bench:
	bash scripts/bench.sh

## bench-curve: only the latency curve (p50/p95/p99 against offered load, `saga bench curve`), on the embedded broker and on an Apache Kafka it starts; tables printed, charts in bench-results/
bench-curve:
	BENCH_ONLY=curve bash scripts/bench.sh

clean:
	rm -rf bin .saga

include scripts/kafka.mk

# Chaos test (chaos/, build tag chaos): every part of the system a process
# of its own, a thousand bookings, a random process SIGKILLed every few
# seconds, the broker restarted once; at the end every saga has ended and the
# logs agree. `make chaos` runs it on the embedded broker, then, when java
# and mvn are there, on an Apache Kafka of its own (scripts/kafka.sh on
# ports and a state dir apart from `make kafka-up`, so another cluster on
# 9092 is left alone; the test restarts it with `scripts/kafka.sh restart`).
CHAOS_TEST        = $(GO) test -tags chaos -run TestChaos -count=1 -timeout 30m -v ./chaos/
CHAOS_KAFKA_PORT ?= 9392
CHAOS_KAFKA_ENV   = KAFKA_STATE=$${TMPDIR:-/tmp}/sagaflow-kafka-chaos KAFKA_PORT=$(CHAOS_KAFKA_PORT) KAFKA_CONTROLLER_PORT=$$(($(CHAOS_KAFKA_PORT) + 20000))

.PHONY: chaos chaos-short chaos-cluster

## chaos: the chaos test on the embedded broker, then on Apache Kafka (with java and mvn)
chaos:
	@env -u KAFKA_BROKERS $(CHAOS_TEST); embedded=$$?; kafka=skipped; \
	if command -v java >/dev/null && command -v mvn >/dev/null; then \
		$(CHAOS_KAFKA_ENV) bash scripts/kafka.sh up || exit 1; \
		$(CHAOS_KAFKA_ENV) KAFKA_BROKERS=127.0.0.1:$(CHAOS_KAFKA_PORT) $(CHAOS_TEST); kafka=$$?; \
		$(CHAOS_KAFKA_ENV) bash scripts/kafka.sh down; \
	else \
		echo "chaos: java or mvn not found: skipping the run on Apache Kafka"; \
	fi; \
	echo "chaos: embedded broker exit $$embedded, Apache Kafka exit $$kafka"; \
	[ $$embedded = 0 ] && { [ $$kafka = 0 ] || [ $$kafka = skipped ]; }

## chaos-short: the chaos test with 200 bookings, for CI: on KAFKA_BROKERS when set (a scripts/kafka.sh cluster), else on the embedded broker
chaos-short:
	CHAOS_BOOKINGS=$${CHAOS_BOOKINGS:-200} $(CHAOS_TEST)

## chaos-cluster: the chaos test on a three-node Apache Kafka (scripts/kafka.sh --nodes 3, ports of its own) whose brokers are SIGKILLed (the active controller too) and SIGSTOPped in turn while parts are killed; prints each fault's stall. CHAOS_BOOKINGS and CHAOS_RATE make it shorter
CHAOS_CLUSTER_PORT ?= 9892
CHAOS_CLUSTER_ENV   = KAFKA_STATE=$${TMPDIR:-/tmp}/sagaflow-kafka-cluster KAFKA_PORT=$(CHAOS_CLUSTER_PORT) KAFKA_CONTROLLER_PORT=$$(($(CHAOS_CLUSTER_PORT) + 20000))
chaos-cluster:
	@$(CHAOS_CLUSTER_ENV) bash scripts/kafka.sh up --nodes 3 || exit 1; \
	$(CHAOS_CLUSTER_ENV) CHAOS_CLUSTER=1 KAFKA_BROKERS=127.0.0.1:$(CHAOS_CLUSTER_PORT),127.0.0.1:$$(($(CHAOS_CLUSTER_PORT) + 1)),127.0.0.1:$$(($(CHAOS_CLUSTER_PORT) + 2)) $(CHAOS_TEST); status=$$?; \
	$(CHAOS_CLUSTER_ENV) bash scripts/kafka.sh down; exit $$status
