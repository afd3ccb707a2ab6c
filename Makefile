# The user's verbs. Each one calls a script in hack/, which says what it does as it goes.
.PHONY: up down test test-unit lint deps chaos bench bench-memory bench-corpus cluster-up cluster-test cluster-down images

up:        ## start the whole local stack and leave it running
	bash hack/up.sh

down:      ## stop the local stack and remove its state
	bash hack/down.sh

test:      ## run the whole test suite (unit + e2e against real services)
	bash hack/test.sh

test-unit: ## run only the fast unit tests
	bash hack/test.sh -m unit

lint:      ## ruff, mypy and import-linter
	bash hack/lint.sh

deps:      ## install Debian packages, the virtualenv and the control-plane binaries
	bash hack/install-deps.sh

chaos:     ## kill -9 each process of a fresh private stack while 1000 tasks run (CHAOS_TASKS=N)
	bash hack/chaos.sh

bench:     ## throughput, latency, writes per task and memory on a fresh private stack (BENCH_QUICK=1)
	bash hack/bench.sh

bench-memory: ## the operator's RSS while 50 000 tasks are processed (BENCH_MEMORY_TASKS=N; long)
	bash hack/bench.sh --memory

bench-corpus: ## one 100 000-record corpus job against the bare model loop (BENCH_CORPUS_TEXTS=N)
	bash hack/bench.sh --corpus

cluster-up:   ## a real one-node cluster (kubelet, containerd, CoreDNS) with the chart installed
	bash hack/cluster-up.sh

cluster-test: ## the chart on that node: pods Ready, helm test, examples, pod kills, upgrade, uninstall
	bash hack/cluster-test.sh

cluster-down: ## stop the node and its control plane and clean up after them
	bash hack/cluster-down.sh

images:       ## build the images with buildah (no Docker, no registry) into the cache
	bash hack/build-images.sh
