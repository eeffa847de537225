# Two commands on a fresh machine (see README.md):
#   make demo   installs what is missing, builds, runs the main job end to end
#   make test   installs what is missing, builds, runs every test
SWIFT ?= swift
BIN := .build/debug

.PHONY: setup build test demo bench man format clean udev-check uhid-lane fuzz browser-check protocols-check screenshots

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build --build-tests

# The PostgreSQL suites run against a throw-away cluster started and removed around the tests;
# the HTTP API is checked against its openapi.json by schemathesis; the pages are driven in
# headless chromium; /validate/check, RADIUS, PAM and TLS with Debian's clients; every fuzzer
# replays its committed corpus, then fuzzes for 10 s; then the real-kernel lane: a VM where the
# simulated token is a /dev/hidraw device (UHID), then a USB device attached over USB/IP.
test: build udev-check
	@bash systemd/check.sh $(BIN)/otptoken
	@bash scripts/postgres.sh run $(SWIFT) test --skip-build
	@bash scripts/openapi-check.sh $(BIN)/otptoken
	@bash scripts/browser-check.sh $(BIN)/otptoken
	@bash scripts/protocols-check.sh $(BIN)/otptoken
	@for f in wire virtual-hid codes enrollment-csv pskc browser-input radius usbip; do $(BIN)/otptoken-fuzz $$f Fuzz/Corpus/$$f || exit 1; done
	@FUZZ_SECONDS=10 bash scripts/fuzz.sh
	@bash scripts/uhid-lane.sh $(BIN)/otptoken

# Every fuzzer for FUZZ_SECONDS (default 60) under libFuzzer and AddressSanitizer (docs/fuzzing.md).
fuzz: setup
	@bash scripts/fuzz.sh

# Only the pages in headless chromium (scripts/browser-check.sh).
browser-check: build
	@bash scripts/browser-check.sh $(BIN)/otptoken

# Only /validate/check, RADIUS, PAM and TLS with Debian's clients (scripts/protocols-check.sh).
protocols-check: build
	@bash scripts/protocols-check.sh $(BIN)/otptoken

# The README's screenshots, taken by the browser check (docs/screenshots).
screenshots: build
	@mkdir -p docs/screenshots
	@bash scripts/browser-check.sh $(BIN)/otptoken docs/screenshots

# Only the real-kernel lane (installs qemu, a kernel, virtme-ng, usbip and Yubico's tools when
# missing; about 3 minutes).
uhid-lane: build
	@bash scripts/uhid-lane.sh $(BIN)/otptoken

udev-check:
	@bash udev/check.sh
	@bash udev/selftest.sh

demo: setup
	$(SWIFT) build --product otptoken
	@bash scripts/demo.sh $(BIN)/otptoken

# A benchmark, not a test: release build, figures printed as JSON (see docs/performance.md). Built
# as a server is deployed, with the Swift runtime and Foundation linked in statically, in a build
# folder of its own (the flag changes every compile, so sharing .build would rebuild it each time;
# the first run builds everything once, about 15 minutes on 2 cores).
BENCH_BUILD ?= .build/static
bench: setup
	$(SWIFT) build -c release --product otptoken-dev --static-swift-stdlib --scratch-path $(BENCH_BUILD)
	$(BENCH_BUILD)/release/otptoken-dev bench --tokens 100000 --seconds 5 --json

# Man pages from the command tree, one per command, with the exit statuses (scripts/man.sh).
man: setup
	@bash scripts/man.sh

format:
	$(SWIFT) format --in-place --recursive Package.swift Sources Tests firmware-sim

clean:
	rm -rf .build
