# Parley - thin wrapper over CMake. The two commands a newcomer needs:
#   make run    build and start parleyd single-node; open http://127.0.0.1:8080/
#   make test   lint, then build and run every test (unit, black-box, browser,
#               Redis, cluster servers, fuzz)
BUILD ?= build
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080
DATA ?= ./parley-data

.PHONY: all deps build run test unit blackbox fuzz bench soak tsan lint clean format
.PHONY: cluster cluster-down infra-test bench-cluster

all: build

deps:
	@scripts/deps.sh build

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@ninja -C $(BUILD) -j $(JOBS)

run: build
	@scripts/run.sh $(BUILD) $(LISTEN) $(DATA)

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

soak: build
	@scripts/deps.sh bench
	@bench/soak.sh

bench-cluster: build
	@scripts/deps.sh cluster
	@bench/cluster.sh

tsan: deps
	@scripts/deps.sh test
	@scripts/tsan.sh

lint:
	@scripts/deps.sh test
	@scripts/lint.sh

fuzz:
	@scripts/deps.sh test
	@scripts/fuzz.sh $(or $(FUZZ_SECONDS),60)

# --- cluster: Kafka (KRaft), the other servers, nginx (scripts/infra/) ---
# make cluster       servers + the parleyd role processes behind nginx on
#                    http://127.0.0.1:8080, data and logs in $(CLUSTER_DIR);
#                    prints where each log is (CLUSTER_TOPOLOGY=single: one
#                    all-roles parleyd; scripts/cluster.sh says more)
# make cluster-down  stops it all, keeps the data
# make infra-test    the servers' scripts and the Kafka client, for real
CLUSTER_DIR ?= build/cluster

cluster: build
	@scripts/deps.sh cluster
	@BUILD=$(BUILD) CLUSTER_PORT=$(lastword $(subst :, ,$(LISTEN))) \
		scripts/cluster.sh up $(CLUSTER_DIR)

cluster-down:
	@scripts/cluster.sh down $(CLUSTER_DIR)

infra-test: build
	@scripts/deps.sh test
	@scripts/infra-test.sh $(BUILD)
# ---------------------------------------------------------------------------

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-lint

format:
	@clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c' 'fuzz/*.c')
