# tikv-client: C core, mock cluster, C tests.
#   make            libraries, mock server, test binaries (build tree: build-c/)
#   make check      unit + integration tests (Check) against the mock cluster
#   make check SANITIZE=1   the same built with ASan + UBSan (build tree: build-asan/)
#   make install PREFIX=/usr/local   headers, libtikv.so/.a, the mock, pkg-config files
#   make clean      the build trees (build/ is node-gyp's: the addon); distclean: also gen/
# Sources generated from the tree (protobuf-c here; SWIG's wrapper and the JS
# tables by scripts/generate.js) go to gen/ and lib/: shipped in the npm
# tarball, never committed. Header dependencies come from the compiler (-MMD).
SANITIZE ?= 0
FUZZ ?= 0
ifeq ($(FUZZ),1)
# the fuzz targets' tree (make fuzz): clang, coverage for libFuzzer, ASan + UBSan
B := build-fuzz
CC := clang
SANFLAGS := -fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# (clang warns of the deprecated fields protobuf-c's INIT macros set)
OPT := -O1 -Wno-deprecated-declarations
else ifeq ($(SANITIZE),1)
B := build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
# leaks inside OpenSSL's handshake state when a server drops a TLS handshake
# (gRPC owns that state, we never see it); our own leaks stay reported
export LSAN_OPTIONS ?= suppressions=$(CURDIR)/test/c/lsan.supp:print_suppressions=0
else
B := build-c
SANFLAGS :=
OPT := -O2
endif
GEN := gen

CC ?= cc
PKGS := grpc libprotobuf-c
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))
# only the C tests need Check (not an npm install)
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS = $(shell pkg-config --libs check)

CFLAGS := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Wno-unused-parameter \
  -Wno-missing-field-initializers -fPIC -fvisibility=hidden -pthread $(SANFLAGS) \
  -MMD -MP -Iinclude -Icsrc -I$(GEN)/proto $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := -pthread $(SANFLAGS)
LIBS := $(PKG_LIBS) -lm

PROTOS := $(wildcard proto/*.proto)
PROTO_C := $(patsubst proto/%.proto,$(GEN)/proto/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)
PROTO_O := $(patsubst $(GEN)/proto/%.c,$(B)/obj/gen/%.o,$(PROTO_C))

CORE_SRC := $(wildcard csrc/core/*.c csrc/rpc/*.c csrc/pd/*.c csrc/region/*.c csrc/client/*.c csrc/raw/*.c csrc/txn/*.c)
CORE_O := $(patsubst csrc/%.c,$(B)/obj/%.o,$(CORE_SRC))
MOCK_SRC := $(filter-out csrc/mock/main.c,$(wildcard csrc/mock/*.c))
MOCK_O := $(patsubst csrc/%.c,$(B)/obj/%.o,$(MOCK_SRC))

TEST_SRC := $(wildcard test/c/check_*.c)
TEST_BIN := $(patsubst test/c/%.c,$(B)/test/%,$(TEST_SRC))
TEST_UTIL_O := $(patsubst test/c/%.c,$(B)/obj/test/%.o,$(wildcard test/c/util_*.c))

# The version is the header's; the soname carries the ABI version: the major
# version, or 0.MINOR while the major is 0 (every 0.x minor may break the ABI).
VERSION_PART = $(shell awk '$$2 == "TIKV_VERSION_$(1)" { print $$3 }' include/tikv/common.h)
VERSION := $(call VERSION_PART,MAJOR).$(call VERSION_PART,MINOR).$(call VERSION_PART,PATCH)
SOVERSION := $(if $(filter 0,$(call VERSION_PART,MAJOR)),0.$(call VERSION_PART,MINOR),$(call VERSION_PART,MAJOR))
SONAME := libtikv.so.$(SOVERSION)

LIB_A := $(B)/libtikv.a
LIB_SO := $(B)/libtikv.so.$(VERSION)
LIB_SO_LINKS := $(B)/$(SONAME) $(B)/libtikv.so
MOCK_A := $(B)/libtikvmock.a
MOCK_BIN := $(B)/tikv-mock-server

.PHONY: all check clean proto lib mock tests
# generated sources are kept, never treated as intermediates
.SECONDARY:
all: lib mock tests
lib: $(LIB_A) $(LIB_SO) $(LIB_SO_LINKS)
mock: $(MOCK_A) $(MOCK_BIN)
tests: $(TEST_BIN)
proto: $(PROTO_C)

$(GEN)/proto/%.pb-c.c $(GEN)/proto/%.pb-c.h: proto/%.proto $(PROTOS)
	@mkdir -p $(GEN)/proto
	protoc-c --c_out=$(GEN)/proto -Iproto $<

# Every object waits for the generated headers (order only); after its first
# build, its .d file (-MMD) lists the headers it really includes.
$(B)/obj/gen/%.o: $(GEN)/proto/%.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -w -c $< -o $@

$(B)/obj/%.o: csrc/%.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/obj/test/%.o: test/c/%.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -c $< -o $@

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

$(LIB_A): $(CORE_O) $(PROTO_O)
	@rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(CORE_O) $(PROTO_O)
	$(CC) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDFLAGS) $(LIBS)

$(LIB_SO_LINKS): $(LIB_SO)
	ln -sf $(notdir $<) $@

$(MOCK_A): $(MOCK_O)
	@rm -f $@
	ar rcs $@ $^

$(MOCK_BIN): $(B)/obj/mock/main.o $(MOCK_A) $(LIB_A)
	$(CC) -o $@ $^ $(LDFLAGS) $(LIBS)

$(B)/test/%: $(B)/obj/test/%.o $(TEST_UTIL_O) $(MOCK_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS) $(CHECK_LIBS) $(LIBS)

# Each suite runs on its own; a failing suite fails the target after all ran.
check: all
	@failed=; for t in $(TEST_BIN); do echo "== $$t"; $$t || failed="$$failed $$(basename $$t)"; done; \
	if [ -n "$$failed" ]; then echo "C tests FAILED:$$failed"; exit 1; fi; echo "C tests passed"

clean:
	rm -rf build-c build-asan build-fuzz build

# also the generated sources (scripts/generate.js makes them again; that
# needs SWIG and protoc-c, which a package tarball otherwise spares)
.PHONY: distclean
distclean: clean
	rm -rf $(GEN) lib/codes.js lib/codes.d.ts lib/mock-faults.js lib/mock-faults.d.ts

# ---- install: the C library for C programs (pkg-config tikv / tikv-mock) ----
# tikv: libtikv.so (public symbols only); tikv-mock: the mock cluster, linked
# statically with the core it is built on. DESTDIR is honoured for packaging.
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
PCDIR ?= $(LIBDIR)/pkgconfig
.PHONY: install
install: lib mock
	install -d $(DESTDIR)$(INCLUDEDIR)/tikv $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PCDIR)
	install -m 644 include/tikv/*.h $(DESTDIR)$(INCLUDEDIR)/tikv/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIB_SO)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtikv.so
	install -m 644 $(LIB_A) $(MOCK_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(MOCK_BIN) $(DESTDIR)$(BINDIR)/
	for pc in tikv tikv-mock; do \
	  sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' \
	    pkgconfig/$$pc.pc.in > $(DESTDIR)$(PCDIR)/$$pc.pc || exit 1; \
	done

# ---- the whole product: README's two commands ----
#   make demo   Debian packages (if missing), npm install (C core + addon), the demo
#   make test   everything CI runs
.PHONY: deps node demo test conformance
deps:
	bash scripts/deps.sh

node: deps
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

demo: node
	node examples/demo.js

conformance: mock
	bash scripts/conformance.sh --require

test: node
	$(MAKE) check
	@echo "== C tests under ASan + UBSan"
	$(MAKE) check SANITIZE=1
	@echo "== Node tests"
	npm run test:js
	@echo "== TypeScript typings"
	npm run test:types
	@echo "== client-go conformance of the mock cluster (required when CI is set)"
	bash scripts/conformance.sh

# ---- benchmark driver (C side of bench/) ----
BENCH_BIN := $(B)/tikv-bench
.PHONY: bench-c
bench-c: $(BENCH_BIN)
$(B)/obj/bench/driver.o: bench/driver.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BENCH_BIN): $(B)/obj/bench/driver.o $(LIB_A)
	$(CC) -o $@ $^ $(LDFLAGS) $(LIBS)

# ---- fuzzing the reply checks (optional: needs clang with libFuzzer) ----
#   make fuzz [FUZZ_SECONDS=10]   one libFuzzer target per reply type (the
#   targets of test/c/util_replies.c), built in build-fuzz/ with clang,
#   ASan + UBSan, each run FUZZ_SECONDS over a corpus seeded from its valid
#   replies and the golden shapes; any finding fails. Without clang it says
#   it is skipped (with CI set, it fails): scripts/deps.sh --fuzz installs it.
FUZZ_SECONDS ?= 10
FUZZ_TARGETS = $(shell grep -o '^ *TARGET."[a-z_]*"' test/c/util_replies.c | cut -d'"' -f2)
FUZZ_UTIL_O = $(B)/obj/test/util_replies.o $(B)/obj/test/util_proto.o
FUZZ_BINS = $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_TARGETS)) $(B)/fuzz/fuzz_seeds
.PHONY: fuzz fuzz-run
fuzz:
	@if command -v clang >/dev/null 2>&1; then $(MAKE) --no-print-directory FUZZ=1 fuzz-run; \
	elif [ -n "$$CI" ]; then echo "make fuzz: no clang (bash scripts/deps.sh --fuzz)"; exit 1; \
	else echo "make fuzz: skipped: no clang (bash scripts/deps.sh --fuzz installs clang and libFuzzer)"; fi
fuzz-run: $(FUZZ_BINS)
	bash scripts/fuzz.sh $(B) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
$(B)/fuzz/fuzz_seeds: test/fuzz/fuzz_seeds.c $(FUZZ_UTIL_O) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itest/c -o $@ $< $(FUZZ_UTIL_O) $(LIB_A) $(LDFLAGS) $(LIBS)
$(B)/fuzz/fuzz_%: test/fuzz/fuzz_reply.c $(FUZZ_UTIL_O) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itest/c -fsanitize=fuzzer -DFUZZ_TARGET='"$*"' -o $@ $< $(FUZZ_UTIL_O) \
	  $(LIB_A) $(LDFLAGS) -fsanitize=fuzzer $(LIBS)

# ---- mutation run (not part of `make test`; README, "Mutation testing") ----
#   make mutants [ONLY=<regex of mutation ids>]
.PHONY: mutants
mutants:
	node test/mutants/run.js $(if $(ONLY),--only '$(ONLY)')
