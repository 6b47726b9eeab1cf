# sgltest: make run (the features on the embedded simulator), make test (CI).
GO      ?= go
BIN     := bin/sgltest
# go test kills a test binary after 10 minutes by default; scenarios can
# legitimately take longer, so the limit is explicit.
TIMEOUT ?= 40m
# A run that is invalid only because this machine was too busy to measure
# it (see the README) is made again up to this many times; every try keeps
# its run directory. `make run INVALID_RERUNS=0` judges every first try.
INVALID_RERUNS ?= 2
# Under make test the client is built with -race and takes much of the two
# cores, so the simulators fall behind more often: more tries are allowed.
TEST_INVALID_RERUNS ?= 5
# go-nvml's header marks some NVML calls deprecated; the warnings are noise.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

# The real SGLang router, from PyPI, each in its own virtual environment
# (both packages install a console script named smg). Tests find them here.
PYTHON  ?= python3
ROUTER_VENV := .venv/sglang-router
SMG_VENV    := .venv/smg
SGLANG_ROUTER_VERSION := 0.3.2
SMG_VERSION := 1.13.0

.PHONY: all build run test vet lint lint-install unit features vocab clean venv fuzz

all: build

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/sgltest

# The main job: every feature on the embedded simulator, through the binary
# QA uses. The routing features need the real router, so the venvs come
# first. Results land in reports/<run>/.
run: build venv
	SGLTEST_INVALID_RERUNS=$(INVALID_RERUNS) $(BIN) -t "~@custom-policy" features

vet:
	$(GO) vet ./...

# golangci-lint with .golangci.yml; `make lint-install` puts the pinned
# release in $(go env GOPATH)/bin (CI does, before make lint).
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT ?= $(shell $(GO) env GOPATH)/bin/golangci-lint
lint:
	@test -x $(GOLANGCI_LINT) || { echo "golangci-lint not found at $(GOLANGCI_LINT): run make lint-install"; exit 1; }
	$(GOLANGCI_LINT) run ./...

lint-install:
	$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

# Every package's tests, then the sgltest command's and the feature scenarios
# one package at a time, all with the race detector (together, go test ./...
# does the same work). The command's tests and the scenarios measure whole
# runs in wall-clock time: sharing two cores with the other packages' tests
# made their simulators fall behind and the runs invalid. Tests that need the
# real router fail (rather than skip) under make test.
ALONE := github.com/sgltest/sgltest/cmd/sgltest github.com/sgltest/sgltest
test: vet venv
	SGLTEST_REQUIRE_ROUTER=1 SGLTEST_INVALID_RERUNS=$(TEST_INVALID_RERUNS) $(GO) test -race -timeout $(TIMEOUT) $$($(GO) list ./... | grep -vx $(foreach p,$(ALONE),-e $(p)))
	SGLTEST_REQUIRE_ROUTER=1 SGLTEST_INVALID_RERUNS=$(TEST_INVALID_RERUNS) $(GO) test -race -p 1 -timeout $(TIMEOUT) $(ALONE)

venv: $(ROUTER_VENV)/.installed $(SMG_VENV)/.installed

# Each environment is stamped with the release it holds, so bumping a
# version rebuilds it; .installed is what the tests look for.
$(ROUTER_VENV)/.installed: $(ROUTER_VENV)/.release-$(SGLANG_ROUTER_VERSION)
	touch $@

$(ROUTER_VENV)/.release-$(SGLANG_ROUTER_VERSION):
	rm -rf $(ROUTER_VENV)
	$(PYTHON) -m venv $(ROUTER_VENV)
	$(ROUTER_VENV)/bin/pip install --quiet --disable-pip-version-check sglang-router==$(SGLANG_ROUTER_VERSION)
	touch $@

$(SMG_VENV)/.installed: $(SMG_VENV)/.release-$(SMG_VERSION)
	touch $@

$(SMG_VENV)/.release-$(SMG_VERSION):
	rm -rf $(SMG_VENV)
	$(PYTHON) -m venv $(SMG_VENV)
	$(SMG_VENV)/bin/pip install --quiet --disable-pip-version-check smg==$(SMG_VERSION)
	touch $@

# Every package but the root's feature scenarios.
unit:
	$(GO) test -race $$($(GO) list ./... | grep -v '^github.com/sgltest/sgltest$$')

features:
	SGLTEST_INVALID_RERUNS=$(INVALID_RERUNS) $(GO) test -race -timeout $(TIMEOUT) -run TestFeatures -v .

# Every fuzz target in the module, one after another (go test fuzzes one
# target at a time), each for FUZZTIME. New inputs that fail are written to
# the package's testdata/fuzz and then run by every go test.
FUZZTIME ?= 10s
fuzz:
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for target in $$($(GO) test -list '^Fuzz' $$dir | grep '^Fuzz'); do \
			echo "fuzz $$dir $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$dir; \
		done; \
	done

# Regenerate steps/VOCABULARY.md from the step definitions.
vocab:
	$(GO) test ./steps -run TestVocabularyFileMatchesTheStepDefinitions -update

clean:
	rm -rf bin .venv
