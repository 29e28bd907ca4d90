# The README's two commands:
#   make demo   restore a Fashion-MNIST test image with the shipped small prior
#               (pure-Go backend), writing out/demo/
#   make test   install what the tests need, then vet and run every Go test,
#               execute every notebook and run the Slurm check
#   make slurm-check  the documented Slurm workflow on a real single-node Slurm
#               (as root; installs slurm-wlm and munge if missing; about 2 minutes)
GO ?= go
DEMO_IMAGE ?= cadps/prior/small/testimages/9-boot.png
DEMO_TASK ?= inpaint_box:size=12
DEMO_METHOD ?= cadps

.PHONY: demo test setup gotest notebooks bench slurm-check

# Every go command below and those the tests, the notebooks and the Slurm
# check start build with -trimpath: compiled packages then do not depend on
# the folder the module is checked out in, so the scratch copy of the module
# that TestDocumentedCommands builds the documented commands in reuses the
# packages compiled here instead of compiling every package again.
export GOFLAGS := $(strip $(shell $(GO) env GOFLAGS) -trimpath)

demo:
	$(GO) mod download
	$(GO) run ./scripts/cadps restore -task $(DEMO_TASK) -method $(DEMO_METHOD) -steps 100 -seed 1 \
		-progress-every 10 -out out/demo $(DEMO_IMAGE)
	@echo "see out/demo: label.png, measurement.png, recon.png, progress.png, record.json"

setup:
	./scripts/setup.sh
	./scripts/notebooks/setup.sh

# go test starts scripts/cadps first: its tests take the longest, so they run
# beside the other packages' instead of alone at the end.
gotest:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	"$$(bash -c '. scripts/gotools.sh && gobin')/staticcheck" ./...
	$(GO) test -count=1 -timeout 60m ./scripts/cadps ./...
	$(GO) test -count=1 -tags purego ./cadps/backend/cpu  # the portable kernels, as on CPUs without AVX2

notebooks:
	./scripts/notebooks/check.sh

test: setup gotest notebooks slurm-check

slurm-check:
	./scripts/cluster/slurm-check.sh

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...
