# leakwatch: out-of-tree build into build/. `make V=1` shows the commands.
# Run as root: `make demo` and `make test` install what is missing (Debian).

OUTPUT ?= build
CC ?= cc
CXX ?= c++
CLANG ?= clang
BPFTOOL ?= bpftool
PYTHON ?= /usr/bin/python3
prefix ?= /usr/local
DESTDIR ?=
# The running kernel's BTF; point elsewhere to build for another kernel.
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/' -e 's/s390x/s390/')
# clang -target bpf lacks the host's system include paths; add them.
CLANG_BPF_SYS_INCLUDES := $(shell $(CLANG) -v -E - </dev/null 2>&1 | \
	sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')

CFLAGS ?= -O2 -g
CFLAGS += -Wall -Wextra -Wno-unused-parameter -Werror -std=gnu11 -D_GNU_SOURCE \
	  -I$(OUTPUT) -Ibpf -Iuserspace $(EXTRA_CFLAGS)
LDLIBS := -lbpf -ldw -lelf -lcapstone -lz -lm -lstdc++ -lmicrohttpd -lprotobuf-c
# leakwatch diff reads reports back with json-c
PKG_CONFIG ?= pkg-config
CFLAGS += $(shell $(PKG_CONFIG) --cflags json-c)
LDLIBS += $(shell $(PKG_CONFIG) --libs json-c)
PROTOC_C ?= protoc-c
BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) -I$(OUTPUT) -Ibpf \
	      $(CLANG_BPF_SYS_INCLUDES)

# Targets the tests and the demo run: frame pointers on, as most services
# would need for stacks until CFI unwinding lands.
TARGET_CFLAGS := -O2 -g -fno-omit-frame-pointer -pthread
# A target whose first line says LEAKWATCH_NO_FP is built as most software
# is, without frame pointers: the CFI unwinder's cases.
NOFP_CFLAGS := -O2 -g -fomit-frame-pointer -pthread
target_cflags = $(if $(shell head -1 $(1) | grep -l LEAKWATCH_NO_FP),$(NOFP_CFLAGS),$(TARGET_CFLAGS))

# userspace/ has a folder per stage (docs/development.md, Layout); main.c is the loop
USER_SRCS := $(sort $(wildcard userspace/*.c userspace/*/*.c))
LIB_SRCS := $(filter-out userspace/main.c,$(USER_SRCS))
USER_OBJS := $(patsubst userspace/%.c,$(OUTPUT)/obj/%.o,$(USER_SRCS))
LIB_OBJS := $(patsubst userspace/%.c,$(OUTPUT)/obj/%.o,$(LIB_SRCS))
# The HTML report's script and styles, built in as byte arrays (html.h).
HTML_ASSETS := tools/html/report.css tools/html/report.js
USER_OBJS += $(OUTPUT)/obj/html_assets.o
LIB_OBJS += $(OUTPUT)/obj/html_assets.o
# pprof's profile.proto, compiled to C (protobuf-c) in the build directory
PROTO_OBJS := $(OUTPUT)/obj/profile.pb-c.o
USER_OBJS += $(PROTO_OBJS)
LIB_OBJS += $(PROTO_OBJS)
TARGET_SRCS := $(wildcard tests/targets/*.c)
TARGET_CXX_SRCS := $(wildcard tests/targets/*.cc)
TARGETS := $(patsubst tests/targets/%.c,$(OUTPUT)/tests/targets/%,$(TARGET_SRCS)) \
	   $(patsubst tests/targets/%.cc,$(OUTPUT)/tests/targets/%,$(TARGET_CXX_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNITS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/unit/%,$(UNIT_SRCS))

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all clean deps demo test unit integration targets install check-root bench bench-smoke \
	fuzz fuzz-smoke test-kernels

all: $(OUTPUT)/leakwatch

$(OUTPUT) $(OUTPUT)/obj $(OUTPUT)/proto $(OUTPUT)/tests/targets $(OUTPUT)/tests/unit $(OUTPUT)/test-artifacts:
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(OUTPUT)/leakwatch.bpf.o: bpf/leakwatch.bpf.c bpf/leakwatch.h $(wildcard bpf/*.bpf.h) $(OUTPUT)/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/leakwatch.skel.h: $(OUTPUT)/leakwatch.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name leakwatch_bpf > $@

$(OUTPUT)/proto/profile.pb-c.c $(OUTPUT)/proto/profile.pb-c.h &: proto/profile.proto | $(OUTPUT)/proto
	$(call msg,PROTOC,$@)
	$(Q)$(PROTOC_C) --c_out=$(OUTPUT) $<

$(OUTPUT)/obj/profile.pb-c.o: $(OUTPUT)/proto/profile.pb-c.c | $(OUTPUT)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/obj/outputs/pprof.o: $(OUTPUT)/proto/profile.pb-c.h

$(OUTPUT)/obj/%.o: userspace/%.c $(wildcard userspace/*/*.h) bpf/leakwatch.h $(OUTPUT)/leakwatch.skel.h | $(OUTPUT)/obj
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/html_assets.c: tools/html/embed.py $(HTML_ASSETS) | $(OUTPUT)
	$(call msg,EMBED,$@)
	$(Q)$(PYTHON) tools/html/embed.py $@ $(HTML_ASSETS)

$(OUTPUT)/obj/html_assets.o: $(OUTPUT)/html_assets.c | $(OUTPUT)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/leakwatch: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Test targets: a file whose first line says LEAKWATCH_STATIC is linked
# statically and stripped (the "no allocator symbols" case).
$(OUTPUT)/tests/targets/%: tests/targets/%.c $(wildcard tests/targets/*.h) | $(OUTPUT)/tests/targets
	$(call msg,TARGET,$@)
	$(Q)$(CC) $(call target_cflags,$<) $(if $(shell head -1 $< | grep -l LEAKWATCH_STATIC),-static -s) $< -o $@

$(OUTPUT)/tests/targets/%: tests/targets/%.cc $(wildcard tests/targets/*.h) | $(OUTPUT)/tests/targets
	$(call msg,TARGET,$@)
	$(Q)$(CXX) $(call target_cflags,$<) $< -o $@

# Variants for test_allocators.py: allocs linked with each allocator library
# (--no-as-needed: nothing in it names them), and own_alloc as a static
# program whose malloc is its own.
LINKED_ALLOCS := $(addprefix $(OUTPUT)/tests/targets/allocs-,jemalloc tcmalloc_minimal mimalloc)
$(LINKED_ALLOCS): $(OUTPUT)/tests/targets/allocs-%: tests/targets/allocs.c $(wildcard tests/targets/*.h) | $(OUTPUT)/tests/targets
	$(call msg,TARGET,$@)
	$(Q)$(CC) $(TARGET_CFLAGS) $< -o $@ -Wl,--no-as-needed -l$* -Wl,--as-needed

$(OUTPUT)/tests/targets/own_alloc_static: tests/targets/own_alloc.c $(wildcard tests/targets/*.h) | $(OUTPUT)/tests/targets
	$(call msg,TARGET,$@)
	$(Q)$(CC) $(TARGET_CFLAGS) -DOWN_ALLOC_PLAIN_NAMES -static $< -o $@

$(OUTPUT)/bench/alloc_storm: tools/bench/alloc_storm.cc | $(OUTPUT)
	$(call msg,BENCH,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) -O2 -g -pthread -Wall -Wextra -Werror $< -o $@

# --growth's costs: memory made resident page by page
$(OUTPUT)/bench/page_churn: tools/bench/page_churn.c | $(OUTPUT)
	$(call msg,BENCH,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror $< -o $@

# The unwinders' costs: the same workload with and without frame pointers
$(OUTPUT)/bench/alloc_storm_fp $(OUTPUT)/bench/alloc_storm_nofp: $(OUTPUT)/bench/alloc_storm_%: tools/bench/alloc_storm.cc | $(OUTPUT)
	$(call msg,BENCH,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) -O2 -g -pthread -Wall -Wextra -Werror $(if $(filter fp,$*),-fno-omit-frame-pointer,-fomit-frame-pointer) $< -o $@

# make bench's large binary: 3000 call sites among 10000 other functions,
# with DWARF, for the cost of symbolizing many new frames (a minute to build)
$(OUTPUT)/bench/big_binary: tools/bench/big_binary.py | $(OUTPUT)
	$(call msg,BENCH,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(PYTHON) $< 3000 10000 > $@.c
	$(Q)$(CC) -O2 -g -fno-omit-frame-pointer $@.c -o $@

$(OUTPUT)/leaky: tools/leaky.c | $(OUTPUT)
	$(call msg,TARGET,$@)
	$(Q)$(CC) $(TARGET_CFLAGS) $< -o $@

targets: $(TARGETS) $(OUTPUT)/leaky $(LINKED_ALLOCS) $(OUTPUT)/tests/targets/own_alloc_static

# The library nofp_dlopen loads after attach, without frame pointers.
$(OUTPUT)/tests/targets/libnofp_plugin.so: tests/targets/plugin/nofp_plugin.c | $(OUTPUT)/tests/targets
	$(call msg,TARGET,$@)
	$(Q)$(CC) $(NOFP_CFLAGS) -shared -fPIC $< -o $@

targets: $(OUTPUT)/tests/targets/libnofp_plugin.so

# The fuzz target over the symbolizer's file parsing (libFuzzer, ASan).
# Seeds are test targets with DWARF; inputs patch them (see the source).
FUZZ_SECONDS ?= 600
FUZZ_SEEDS := $(addprefix $(OUTPUT)/tests/targets/,symbols cxx allocs)
FUZZ_FLAGS := -detect_leaks=0 -timeout=10 -rss_limit_mb=2048 -max_len=4096

$(OUTPUT)/fuzz/fuzz_symbolize: tests/fuzz/fuzz_symbolize.c userspace/symbols/dwarf_lookup.c \
		userspace/common/hashmap.c userspace/symbols/cfi.c userspace/symbols/cfi.h \
		userspace/symbols/dwarf_lookup.h userspace/symbols/symbolize.h userspace/symbols/sym.h \
		| $(OUTPUT)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address -D_GNU_SOURCE -Iuserspace -Ibpf \
		$(filter %.c,$^) -ldw -lelf -lstdc++ -o $@

$(OUTPUT)/fuzz/seeds: $(FUZZ_SEEDS)
	$(Q)mkdir -p $@ && cp $^ $@/ && touch $@

# A fixed seed and run count: the same inputs every time, so a failure
# here is a real crash, never chance (libdw has leaks and an fd leak on some
# bad inputs, hence no leak detection and a high descriptor limit).
fuzz-smoke: $(OUTPUT)/fuzz/fuzz_symbolize $(OUTPUT)/fuzz/seeds
	$(Q)cd $(OUTPUT)/fuzz && rm -rf smoke-corpus && mkdir -p smoke-corpus crashes && \
		ulimit -n $$(ulimit -Hn) && ASAN_OPTIONS=detect_leaks=0 LW_FUZZ_SEEDS=seeds ./fuzz_symbolize -seed=1 -runs=20000 \
		$(FUZZ_FLAGS) -artifact_prefix=crashes/ smoke-corpus 2>fuzz-smoke.log || \
		{ tail -40 fuzz-smoke.log; echo "fuzz-smoke: a crash, saved in $(OUTPUT)/fuzz/crashes/" >&2; exit 1; }
	@echo "  FUZZ     20000 inputs, no crash"

fuzz: $(OUTPUT)/fuzz/fuzz_symbolize $(OUTPUT)/fuzz/seeds
	$(Q)cd $(OUTPUT)/fuzz && mkdir -p corpus crashes && ulimit -n $$(ulimit -Hn) && \
		ASAN_OPTIONS=detect_leaks=0 LW_FUZZ_SEEDS=seeds ./fuzz_symbolize -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) \
		-artifact_prefix=crashes/ corpus

$(OUTPUT)/tests/unit/%: tests/unit/%.c $(LIB_OBJS) | $(OUTPUT)/tests/unit
	$(call msg,UNIT,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIB_OBJS) $(LDLIBS) -lcmocka -o $@

check-root:
	@if [ "$$(id -u)" != 0 ]; then \
		echo "make $(MAKECMDGOALS): needs root (it installs packages and loads BPF programs): run it as root, e.g. sudo make $(MAKECMDGOALS)" >&2; \
		exit 1; \
	fi

deps: check-root
	$(Q)tools/install-deps.sh

unit: $(UNITS) targets
	$(Q)failed=0; for t in $(UNITS); do echo "  UNIT-RUN $$t"; $$t || failed=1; done; exit $$failed

integration: $(OUTPUT)/leakwatch targets | $(OUTPUT)/test-artifacts
	$(Q)$(PYTHON) -m pytest -q tests/integration

# The benchmark: ratios against a baseline and the uprobe floors measured
# in the same run (a few minutes); the smoke run only checks it works.
bench: check-root all $(OUTPUT)/bench/alloc_storm $(OUTPUT)/bench/big_binary \
	$(OUTPUT)/bench/alloc_storm_fp $(OUTPUT)/bench/alloc_storm_nofp $(OUTPUT)/bench/page_churn
	$(Q)$(PYTHON) tools/bench/bench.py $(OUTPUT)

bench-smoke: all $(OUTPUT)/bench/alloc_storm $(OUTPUT)/bench/alloc_storm_fp \
	$(OUTPUT)/bench/alloc_storm_nofp $(OUTPUT)/bench/page_churn
	$(Q)$(PYTHON) tools/bench/bench.py --quick $(OUTPUT)

# Separate make invocations so the build starts only once the dependencies
# are installed.
test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory integration
	$(Q)$(MAKE) --no-print-directory fuzz-smoke
	$(Q)$(MAKE) --no-print-directory bench-smoke

# The kernel matrix: Debian's 6.1 and 6.12 kernels booted under qemu, and
# the running kernel, each running the load check and the core tests.
test-kernels: deps
	$(Q)$(MAKE) --no-print-directory all targets
	$(Q)tests/kernels/run.sh $(OUTPUT)

demo: deps
	$(Q)$(MAKE) --no-print-directory all $(OUTPUT)/leaky
	$(Q)tools/demo.sh $(OUTPUT)

install: $(OUTPUT)/leakwatch
	$(Q)install -D -m 0755 $(OUTPUT)/leakwatch $(DESTDIR)$(prefix)/sbin/leakwatch

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)

# Python frames from outside the process: a driver over userspace/stacks/python.c
# for test_python_symbols.py, and the shared library its scripts block in
# through ctypes.
$(OUTPUT)/tests/pyinspect: tests/tools/pyinspect.c $(LIB_OBJS) | $(OUTPUT)/tests/targets
	$(call msg,TOOL,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIB_OBJS) $(LDLIBS) -o $@

$(OUTPUT)/tests/targets/python/libblock.so: tests/targets/python/block.c | $(OUTPUT)/tests/targets
	$(call msg,TARGET,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TARGET_CFLAGS) -shared -fPIC $< -o $@

targets: $(OUTPUT)/tests/pyinspect $(OUTPUT)/tests/targets/python/libblock.so

# An embedding application linked with Debian's libpython3.11.so.
PY_EMBED_CONFIG ?= /usr/bin/python3.11-config
$(OUTPUT)/tests/targets/python/embed: tests/targets/python/embed.c | $(OUTPUT)/tests/targets
	$(call msg,TARGET,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TARGET_CFLAGS) $$($(PY_EMBED_CONFIG) --includes) $< \
		$$($(PY_EMBED_CONFIG) --embed --ldflags) -o $@

targets: $(OUTPUT)/tests/targets/python/embed
