# Parley - thin wrapper over CMake. The two commands a newcomer needs:
#   make run    build and start parleyd single-node on http://127.0.0.1:8080
#   make test   lint, then build and run every test (unit + black-box + fuzz)
BUILD ?= build
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080
DATA ?= ./parley-data

.PHONY: all deps build run test unit blackbox fuzz bench tsan lint clean format

all: build

deps:
	@scripts/deps.sh build

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@ninja -C $(BUILD) -j $(JOBS)

run: build
	@echo ""
	@echo "Parley is starting on http://$(LISTEN) (data in $(DATA)). Next, in another terminal:"
	@echo "  $(BUILD)/parley register alice --password alice-secret"
	@echo "  $(BUILD)/parley login alice --password alice-secret"
	@echo "  $(BUILD)/parley listen              # live messages"
	@echo "  (see README.md for a full two-terminal chat). Stop with Ctrl-C."
	@echo ""
	@$(BUILD)/parleyd --listen $(LISTEN) --data-dir $(DATA)

test:
	@scripts/deps.sh test
	@scripts/test.sh

unit: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

blackbox: build
	@PARLEY_BUILD_DIR=$(abspath $(BUILD)) tests/blackbox/run.sh

bench: build
	@scripts/deps.sh bench
	@bench/run.sh

tsan: deps
	@scripts/deps.sh test
	@scripts/tsan.sh

lint:
	@scripts/deps.sh test
	@scripts/lint.sh

fuzz:
	@scripts/deps.sh test
	@scripts/fuzz.sh $(or $(FUZZ_SECONDS),60)

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-lint

format:
	@clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'fuzz/*.c')
