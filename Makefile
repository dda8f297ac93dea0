# tikv-client: C core, mock cluster, C tests.
#   make            libraries, mock server, test binaries
#   make check      unit + integration tests (Check) against the mock cluster
#   make check SANITIZE=1   the same built with ASan + UBSan (build tree: build-asan/)
#   make clean
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
B := build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
else
B := build
SANFLAGS :=
OPT := -O2
endif

CC ?= cc
PKGS := grpc libprotobuf-c
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))
CHECK_CFLAGS := $(shell pkg-config --cflags check)
CHECK_LIBS := $(shell pkg-config --libs check)

CFLAGS := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Wno-unused-parameter \
  -Wno-missing-field-initializers -fPIC -fvisibility=hidden -pthread $(SANFLAGS) \
  -Iinclude -Icsrc -I$(B)/gen $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := -pthread $(SANFLAGS)
LIBS := $(PKG_LIBS) -lm

PROTOS := $(wildcard proto/*.proto)
PROTO_C := $(patsubst proto/%.proto,$(B)/gen/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)
PROTO_O := $(patsubst $(B)/gen/%.c,$(B)/obj/gen/%.o,$(PROTO_C))

CORE_SRC := $(wildcard csrc/core/*.c csrc/rpc/*.c csrc/pd/*.c csrc/region/*.c csrc/client/*.c csrc/raw/*.c csrc/txn/*.c)
CORE_O := $(patsubst csrc/%.c,$(B)/obj/%.o,$(CORE_SRC))
MOCK_SRC := $(filter-out csrc/mock/main.c,$(wildcard csrc/mock/*.c))
MOCK_O := $(patsubst csrc/%.c,$(B)/obj/%.o,$(MOCK_SRC))

TEST_SRC := $(wildcard test/c/check_*.c)
TEST_BIN := $(patsubst test/c/%.c,$(B)/test/%,$(TEST_SRC))
TEST_UTIL_O := $(patsubst test/c/%.c,$(B)/obj/test/%.o,$(wildcard test/c/util_*.c))

LIB_A := $(B)/libtikv.a
LIB_SO := $(B)/libtikv.so
MOCK_A := $(B)/libtikvmock.a
MOCK_BIN := $(B)/tikv-mock-server

.PHONY: all check clean proto lib mock tests
# generated sources are kept, never treated as intermediates
.SECONDARY:
all: lib mock tests
lib: $(LIB_A) $(LIB_SO)
mock: $(MOCK_A) $(MOCK_BIN)
tests: $(TEST_BIN)
proto: $(PROTO_C)

$(B)/gen/%.pb-c.c $(B)/gen/%.pb-c.h: proto/%.proto $(PROTOS)
	@mkdir -p $(B)/gen
	protoc-c --c_out=$(B)/gen -Iproto $<

$(B)/obj/gen/%.o: $(B)/gen/%.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -w -c $< -o $@

$(B)/obj/%.o: csrc/%.c $(PROTO_H) $(wildcard include/tikv/*.h) $(wildcard csrc/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/obj/test/%.o: test/c/%.c $(PROTO_H) $(wildcard include/tikv/*.h) $(wildcard csrc/*/*.h) $(wildcard test/c/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -c $< -o $@

$(LIB_A): $(CORE_O) $(PROTO_O)
	@rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(CORE_O) $(PROTO_O)
	$(CC) -shared -o $@ $^ $(LDFLAGS) $(LIBS)

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
	@fail=0; for t in $(TEST_BIN); do echo "== $$t"; $$t || fail=1; done; \
	if [ $$fail -ne 0 ]; then echo "C tests FAILED"; exit 1; fi; echo "C tests passed"

clean:
	rm -rf build build-asan

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
	bash scripts/conformance.sh

test: node
	$(MAKE) check
	@echo "== C tests under ASan + UBSan"
	$(MAKE) check SANITIZE=1
	@echo "== Node tests"
	npm run test:js
	@echo "== TypeScript typings"
	npm run test:types
	@echo "== client-go conformance of the mock cluster"
	bash scripts/conformance.sh

# ---- benchmark driver (C side of bench/) ----
BENCH_BIN := $(B)/tikv-bench
.PHONY: bench-c
bench-c: $(BENCH_BIN)
$(B)/obj/bench/driver.o: bench/driver.c $(wildcard include/tikv/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BENCH_BIN): $(B)/obj/bench/driver.o $(LIB_A)
	$(CC) -o $@ $^ $(LDFLAGS) $(LIBS)
