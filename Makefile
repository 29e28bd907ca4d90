# The two commands of the README:
#   make demo   restore a test image with the shipped small prior (pure-Go backend)
#   make test   install what the tests need and run them all
GO ?= go

.PHONY: test demo setup gotest lint bench

setup:
	./scripts/setup.sh

gotest:
	$(GO) test -count=1 -timeout 60m ./...

test: setup
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...
