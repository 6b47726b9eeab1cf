# sgltest: make run (the features on the embedded simulator), make test (CI).
GO      ?= go
BIN     := bin/sgltest
# go test kills a test binary after 10 minutes by default; scenarios can
# legitimately take longer, so the limit is explicit.
TIMEOUT ?= 30m

.PHONY: all build run test vet unit features vocab clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/sgltest

# The main job: every feature on the embedded simulator, through the binary
# QA uses. Results land in reports/<run>/.
run: build
	$(BIN) features

vet:
	$(GO) vet ./...

# Unit tests and the feature scenarios, with the race detector.
test: vet
	$(GO) test -race -timeout $(TIMEOUT) ./...

unit:
	$(GO) test -race ./internal/... ./runner/... ./steps/... ./cmd/...

features:
	$(GO) test -race -timeout $(TIMEOUT) -run TestFeatures -v .

# Regenerate steps/VOCABULARY.md from the step definitions.
vocab:
	$(GO) test ./steps -run TestVocabularyFileMatchesTheStepDefinitions -update

clean:
	rm -rf bin
