# The targets people expect. `make run` and `make test` need only Go.
GO      ?= go
BIN     := bin/saga
PKGS    := ./...

.PHONY: run build test test-race test-kafka lint bench clean

## run: build the CLI into ./bin and run the whole system on the embedded broker
run: build
	$(BIN) up

## build: build the saga binary into ./bin
build:
	$(GO) build -o $(BIN) ./cmd/saga

## test: the whole suite, on an embedded broker (KAFKA_BROKERS=host:port runs it against that Kafka)
test:
	$(GO) test -count=1 $(PKGS)

## test-race: the suite under the race detector
test-race:
	$(GO) test -race -count=1 $(PKGS)

## test-kafka: start a local Apache Kafka, run the suite against it, stop it
test-kafka:
	bash scripts/kafka.sh up
	KAFKA_BROKERS=127.0.0.1:9092 $(GO) test -count=1 $(PKGS); status=$$?; bash scripts/kafka.sh down; exit $$status

## lint: vet, formatting, and the purity of the saga state machine
lint:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	@! $(GO) list -deps ./orchestrator/saga ./events | grep -E 'sarama|watermill-kafka|franz-go|zerolog|database/sql' || { echo "lint: the pure core imports I/O packages"; exit 1; }

## bench: Go benchmarks of the hot pure code, with allocations
bench:
	$(GO) test -run='^$$' -bench=. -benchmem $(PKGS)

clean:
	rm -rf bin .saga

include scripts/kafka.mk
