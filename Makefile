# The user's verbs. Each one calls a script in hack/, which says what it does as it goes.
.PHONY: up down test test-unit lint deps

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
