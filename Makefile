# Rewind: `make demo` runs the demo rollback on the embedded Temporal; `make test` runs the tests.
GO      ?= go
BIN     ?= bin
TIMEOUT ?= 40m

.PHONY: all build install deb demo demo-guard demo-stop test unit chaos bench record-histories golden devserver images clean

all: build

build:
	$(GO) build -o $(BIN)/rewind ./starter
	CGO_ENABLED=0 $(GO) build -o $(BIN)/worker ./worker
	$(GO) build -o $(BIN)/devserver ./devserver

# Install the two commands as operators type them: rewind (people) and rewind-worker
# (Docker hosts). Static, so a host needs nothing else of Go.
PREFIX  ?= /usr/local
install:
	@mkdir -p $(BIN)/install
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/install/rewind ./starter
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/install/rewind-worker ./worker
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN)/install/rewind $(BIN)/install/rewind-worker $(DESTDIR)$(PREFIX)/bin/

# The Debian package (nfpm; packaging/ is a module of its own): both commands, the worker's
# systemd unit, /etc/rewind/rewind.yaml as a conffile, a rewind system user in the docker
# group; nothing starts until configured. DEB_VERSION must start with a digit.
DEB_VERSION ?= 0.1.0~git$(shell git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date -u +%Y%m%d).$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
deb:
	@mkdir -p $(BIN)/deb
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/deb/rewind ./starter
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/deb/rewind-worker ./worker
	cd packaging && $(GO) run . --version '$(DEB_VERSION)' --bin $(abspath $(BIN))/deb --out $(abspath $(BIN))/rewind_$(DEB_VERSION)_amd64.deb
	@echo "built $(BIN)/rewind_$(DEB_VERSION)_amd64.deb"

# The demo: embedded Temporal + Web UI, a worker, the AlgoTrendy demo stack, and a rollback.
demo:
	./examples/demo.sh

# The guard: v2.6 deployed from a git checkout turns to 500s; Rewind rolls it back to v2.5.
demo-guard:
	./examples/demo.sh guard

demo-stop:
	./examples/demo.sh stop

# Every test: unit tests and the integration suite on the real Docker Engine. Chaos
# scenarios run eight at a time (they mostly wait for Temporal to notice a dead worker).
test:
	@mkdir -p .rewind
	REWIND_CHAOS_REPORT=$(CURDIR)/.rewind/chaos.md $(GO) test -count=1 -parallel 8 -timeout $(TIMEOUT) ./...
	@cat .rewind/chaos.md

# The chaos suite alone: the worker killed at every step and mid-transfer, Temporal
# restarted, a faulty Docker socket, bad input; prints one table (data lost must be 0).
chaos:
	@mkdir -p .rewind
	@REWIND_CHAOS_REPORT=$(CURDIR)/.rewind/chaos.md $(GO) test -count=1 -parallel 8 -timeout $(TIMEOUT) \
		-run 'TestCrashMatrix|TestRollback.*Temporal|TestEngineFaults|TestBadInputTable|TestCancelMidRestore' ./integration; \
		status=$$?; cat .rewind/chaos.md; exit $$status

# Unit tests only (no Docker, no embedded Temporal server to build).
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

# One table of what operators feel, each row measured beside the runbook's own commands on
# the same data in the same run (.rewind/bench.md; raw runs in .rewind/bench-runs.tsv):
# restores and snapshots beside tar and verification beside sha256sum -c and tar -tzf,
# each in two columns: with the host's igzip and pigz, and with them hidden from the
# worker's PATH (a bare host: Go's code); whole P1/P2 full rollbacks at 256 MiB, 1 GiB and
# 4 GiB beside the Option 2 script, Rewind's overhead, a resume after SIGKILL, 20
# rollbacks at once, peak memory. REWIND_BENCH_SIZES
# (MiB, comma-separated) changes the sizes. Benchmarks, not tests: nothing fails when slow.
BENCH_ENV = REWIND_BENCH_TABLE=$(CURDIR)/.rewind/bench.md REWIND_BENCH_RUNS=$(CURDIR)/.rewind/bench-runs.tsv
bench:
	@mkdir -p .rewind
	@rm -f .rewind/bench.md .rewind/bench-runs.tsv
	$(BENCH_ENV) $(GO) test -run '^$$' -bench Transfers -benchtime 1x -timeout 60m ./activities/volume
	$(BENCH_ENV) $(GO) test -run '^$$' -bench VerifyAndUpload -benchtime 1x -timeout 30m ./activities/backup
	$(BENCH_ENV) $(GO) test -run '^$$' -bench 'FullRollback|ResumeMidRestore|ManyFullRollbacks|BenchmarkBackup$$|BenchmarkDrill$$' -benchtime 1x -timeout 120m ./integration
	@echo; echo "Rewind bench, $$(nproc) cores, $$(date -u +%Y-%m-%dT%H:%MZ)"; cat .rewind/bench.md

# Record the histories the replay tests in workflows/ run against today's code.
record-histories:
	REWIND_RECORD_HISTORY=$(CURDIR)/workflows/testdata $(GO) test -count=1 -run 'TestFull|TestEmergencyStopThroughTheCLI|TestQuickRollbackGoesBack|TestGitRollbackStashes|TestGroupRollbackOnThreeHosts|TestABackupTakenWhileTheDemoWrites|TestDrillProves' ./integration

# Rewrite the golden files of what the CLI prints (under starter/**/testdata) and the
# options' step lists the CLI reads (workflows/api/steps.go) after a
# wanted change of its output; review the diff before committing it.
golden:
	REWIND_UPDATE_GOLDEN=1 $(GO) test -count=1 ./starter/...
	REWIND_UPDATE_GOLDEN=1 $(GO) test -count=1 -run TestAPIStepsAreTheOptionsTables ./workflows/

# Temporal and its Web UI on 127.0.0.1:7233 / :8233, data in .rewind/temporal.db.
devserver:
	$(GO) run ./devserver

images:
	$(GO) run ./examples/algotrendy/democtl build

clean:
	rm -rf $(BIN) .rewind
