# SPDX-License-Identifier: GPL-2.0
# ktls-offload: see README for the two commands that matter (make demo, make check).

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(TOP)/build

# Kernel headers: the running kernel's build directory when it exists,
# else Debian's 6.1 cloud headers.
RUNNING_KDIR := /lib/modules/$(shell uname -r)/build
ifeq ($(KDIR),)
ifneq ($(wildcard $(RUNNING_KDIR)/Makefile),)
KDIR := $(RUNNING_KDIR)
else
KDIR = /usr/src/linux-headers-$(shell $(TOP)/selftests/vm/kver 6.1)
endif
endif

CC ?= cc
USER_CFLAGS := -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I$(TOP)/kmod/uapi -I$(TOP)/userspace/include
KSFT_DIR := $(BUILD)/kselftest
KSFT_SRC = /usr/src/linux-source-6.12.tar.xz
TEST_BIN := $(BUILD)/tests
KMOD_SRCS := Kbuild $(wildcard kmod/*.c kmod/*.h kmod/uapi/*.h) kmod/Kbuild
KMOD_TESTS := $(patsubst selftests/kmod/%.c,$(TEST_BIN)/%,$(wildcard selftests/kmod/*.c))
LINES := 6.1 6.12

.PHONY: all module modules-all userspace tests tests-helper tests-users users-progs unit deps check \
	check-debug soak demo bench profile style sparse clean help install uninstall loadtest dkms-install dkms-uninstall \
	$(addprefix module-,$(LINES) debug)

all: module userspace tests

help:
	@echo "make            build the module (KDIR=...) and the userspace programs"
	@echo "make check      install deps, build, run every selftest in the VM on 6.1 and 6.12"
	@echo "make check-debug  the kmod selftests and the fuzzers on the debug kernel (KASAN, lockdep, ...)"
	@echo "make unit       build and run the host-side unit tests (no VM)"
	@echo "make install    libktlsh (.so and .a), ktlsh.h, ktlsh.pc, the tools, man pages"
	@echo "                (PREFIX=/usr/local, DESTDIR=); make uninstall"
	@echo "make loadtest   wrk and abusive clients against ktls-serve (and nginx) in the VM"
	@echo "make tests-helper  the handshake helper and HTTPS tools tests in the VM (LINE=6.1|6.12)"
	@echo "make tests-users   nginx, OpenSSL and GnuTLS using the module in the VM (LINE=6.1|6.12)"
	@echo "make soak       a long fuzz and stress run in the VM (SOAK_SCALE, SOAK_SEED, LINE)"
	@echo "make demo       boot the VM, load the module and show it at work"
	@echo "make bench      benchmark in the VM (BENCH_ARGS=...); table and plot into Documentation/"
	@echo "make profile    perf in the VM while one benchmark row runs (PROFILE_ARGS=...)"
	@echo "make style      checkpatch over kmod/"
	@echo "make sparse     sparse (C=2) over kmod/ against the Debian 6.12 headers"
	@echo "make deps       install missing Debian packages"
	@echo "make dkms-install  build and install the module for every installed kernel with DKMS"

deps:
	@$(TOP)/selftests/vm/deps

# The module for KDIR, in place: kmod/ktls_offload.ko. Fails on any
# compiler warning, as module-<line> does.
module:
	@$(TOP)/selftests/vm/build-module --kdir $(KDIR)

# The module for one kernel line, built in a copy of the sources so the
# lines can coexist: build/<line>/kmod/ktls_offload.ko (see the script).
$(addprefix module-,$(LINES) debug): module-%: $(KMOD_SRCS)
	@$(TOP)/selftests/vm/build-module $*

modules-all: $(addprefix module-,$(LINES))

USER_BIN := $(BUILD)/userspace

# libktlsh, the handshake helper library (OpenSSL): a shared library with a
# soname, and the static archive of the same (position-independent)
# objects. Only the ktlsh_* functions of ktlsh.h are exported (ktlsh.map).
KTLSH_VERSION := 1.1.0
KTLSH_SONAME := libktlsh.so.1
KTLSH_HDRS := userspace/include/ktlsh.h userspace/lib/internal.h userspace/lib/hsd_proto.h \
	userspace/lib/hsd_daemon.h
KTLSH_OBJS := $(patsubst userspace/lib/%.c,$(USER_BIN)/lib/%.o,$(wildcard userspace/lib/*.c))
KTLSH_LIB := $(USER_BIN)/libktlsh.a
KTLSH_SO := $(USER_BIN)/libktlsh.so.$(KTLSH_VERSION)
KTLSH_MAP := userspace/lib/ktlsh.map
OSSL_LIBS := -lssl -lcrypto -lpthread

$(USER_BIN)/lib/%.o: userspace/lib/%.c $(KTLSH_HDRS)
	@mkdir -p $(USER_BIN)/lib
	$(CC) $(USER_CFLAGS) -fPIC -Iuserspace/include -c -o $@ $<

$(KTLSH_LIB): $(KTLSH_OBJS)
	rm -f $@ && ar rcs $@ $^

$(KTLSH_SO): $(KTLSH_OBJS) $(KTLSH_MAP)
	$(CC) -shared -Wl,-soname,$(KTLSH_SONAME) -Wl,--version-script,$(KTLSH_MAP) \
		-Wl,--no-undefined -o $@ $(KTLSH_OBJS) $(OSSL_LIBS)
	ln -sf $(notdir $@) $(USER_BIN)/$(KTLSH_SONAME)
	ln -sf $(KTLSH_SONAME) $(USER_BIN)/libktlsh.so

# ktls-serve and ktls-get, with what they share (common.c: options, usage,
# errors; http.c: HTTP parsing, also unit-tested on the host). Linked
# dynamically against libktlsh.so and Debian's OpenSSL, so its security
# updates reach them; the copies in build/ find libktlsh next to them
# ($$ORIGIN), make install links them again without. The VM has no
# shared OpenSSL of its own: the tests run static copies (build/userspace/static/).
TOOL_COMMON := userspace/tools/common.c userspace/tools/http.c userspace/tools/daemon.c
TOOL_HDRS := userspace/tools/common.h userspace/tools/http.h userspace/tools/daemon.h \
	userspace/include/ktlsh.h
KTLSH_TOOLS := ktls-serve ktls-get
KTLSH_TOOLS_DYN := $(addprefix $(USER_BIN)/,$(KTLSH_TOOLS))
KTLSH_TOOLS_STATIC := $(addprefix $(USER_BIN)/static/,$(KTLSH_TOOLS))
KTLSH_TOOLS_INST := $(addprefix $(USER_BIN)/install/,$(KTLSH_TOOLS))
TOOL_CFLAGS := $(USER_CFLAGS) -Iuserspace/include -Iuserspace/tools

$(KTLSH_TOOLS_DYN): $(USER_BIN)/%: userspace/tools/%.c $(TOOL_COMMON) $(TOOL_HDRS) $(KTLSH_SO)
	$(CC) $(TOOL_CFLAGS) -o $@ $< $(TOOL_COMMON) -L$(USER_BIN) -lktlsh $(OSSL_LIBS) \
		-Wl,-rpath,'$$ORIGIN'

$(KTLSH_TOOLS_INST): $(USER_BIN)/install/%: userspace/tools/%.c $(TOOL_COMMON) $(TOOL_HDRS) \
		$(KTLSH_SO)
	@mkdir -p $(USER_BIN)/install
	$(CC) $(TOOL_CFLAGS) -o $@ $< $(TOOL_COMMON) -L$(USER_BIN) -lktlsh $(OSSL_LIBS)

$(KTLSH_TOOLS_STATIC): $(USER_BIN)/static/%: userspace/tools/%.c $(TOOL_COMMON) $(TOOL_HDRS) \
		$(KTLSH_LIB)
	@mkdir -p $(USER_BIN)/static
	$(CC) $(TOOL_CFLAGS) -static -o $@ $< $(TOOL_COMMON) $(KTLSH_LIB) $(OSSL_LIBS)

# ktls-handshaked: on the library's archive, for the daemon's half of it
# (hsd_daemon.h, not exported by the shared library), with Debian's shared
# OpenSSL; a static copy for the VM.
HSD_SRC := userspace/tools/ktls-handshaked.c
HSD_DEPS := $(HSD_SRC) $(TOOL_COMMON) $(TOOL_HDRS) $(KTLSH_LIB) $(KTLSH_HDRS)
$(USER_BIN)/ktls-handshaked: $(HSD_DEPS)
	$(CC) $(TOOL_CFLAGS) -Iuserspace/lib -o $@ $< $(TOOL_COMMON) $(KTLSH_LIB) $(OSSL_LIBS)
$(USER_BIN)/static/ktls-handshaked: $(HSD_DEPS)
	@mkdir -p $(USER_BIN)/static
	$(CC) $(TOOL_CFLAGS) -Iuserspace/lib -static -o $@ $< $(TOOL_COMMON) $(KTLSH_LIB) \
		$(OSSL_LIBS)

# The helper's test programs (selftests/helper/*.c), on the library (some
# on its internals, to act as a peer that misbehaves), static for the VM.
HELPER_TESTS := $(patsubst selftests/helper/%.c,$(USER_BIN)/%,$(wildcard selftests/helper/*.c))
$(HELPER_TESTS): $(USER_BIN)/%: selftests/helper/%.c $(KTLSH_LIB) $(KTLSH_HDRS)
	$(CC) $(USER_CFLAGS) -Iuserspace/include -Iuserspace/lib -static -o $@ $< $(KTLSH_LIB) \
		$(OSSL_LIBS)

# The real-users tests' own programs (selftests/users/*.c), static for the VM.
USERS_BIN := $(BUILD)/users
USERS_PROGS := $(patsubst selftests/users/%.c,$(USERS_BIN)/%,$(wildcard selftests/users/*.c))
$(USERS_PROGS): $(USERS_BIN)/%: selftests/users/%.c
	@mkdir -p $(USERS_BIN)
	$(CC) $(USER_CFLAGS) -static -o $@ $< -lssl -lcrypto -lpthread

users-progs: $(USERS_PROGS)

# The benchmark: the tool and its parts under userspace/bench/ (OpenSSL for
# the userspace path, AF_ALG, threads).
BENCH_SRCS := $(filter-out userspace/bench/https-load.c userspace/bench/ktls-bench.c,\
	$(wildcard userspace/bench/*.c))
$(USER_BIN)/ktls-bench: userspace/bench/ktls-bench.c $(BENCH_SRCS) userspace/bench/bench.h
	@mkdir -p $(USER_BIN)
	$(CC) $(USER_CFLAGS) -Iuserspace/bench -static -o $@ $< $(BENCH_SRCS) \
		-lssl -lcrypto -lpthread -ldl

$(USER_BIN)/ktls-demo: userspace/tools/ktls-demo.c
	@mkdir -p $(USER_BIN)
	$(CC) $(USER_CFLAGS) -static -o $@ $<

$(USER_BIN)/ktlsh.pc: userspace/lib/ktlsh.pc.in Makefile
	@mkdir -p $(USER_BIN)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(KTLSH_VERSION)|' $< > $@

# The HTTPS section's client (userspace OpenSSL, one epoll loop), static for the VM.
$(USER_BIN)/https-load: userspace/bench/https-load.c
	@mkdir -p $(USER_BIN)
	$(CC) $(USER_CFLAGS) -static -o $@ $< -lssl -lcrypto -lpthread -ldl

userspace: $(KTLSH_LIB) $(KTLSH_SO) $(KTLSH_TOOLS_DYN) $(KTLSH_TOOLS_STATIC) \
	$(USER_BIN)/ktls-handshaked $(USER_BIN)/static/ktls-handshaked $(USER_BIN)/ktls-bench $(USER_BIN)/ktls-demo $(HELPER_TESTS) $(USER_BIN)/https-load

# make install [PREFIX=/usr/local] [DESTDIR=...]: the library (shared and
# static), its header and pkg-config file, the tools and their man pages.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

install: $(KTLSH_LIB) $(KTLSH_SO) $(KTLSH_TOOLS_INST) $(USER_BIN)/ktlsh.pc \
		$(USER_BIN)/ktls-handshaked
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man8
	install -m 644 $(KTLSH_LIB) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(KTLSH_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libktlsh.so.$(KTLSH_VERSION) $(DESTDIR)$(LIBDIR)/$(KTLSH_SONAME)
	ln -sf $(KTLSH_SONAME) $(DESTDIR)$(LIBDIR)/libktlsh.so
	install -m 644 userspace/include/ktlsh.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(USER_BIN)/ktlsh.pc $(DESTDIR)$(PKGCONFIGDIR)/
	install -m 755 $(USER_BIN)/install/ktls-get $(DESTDIR)$(BINDIR)/
	install -m 755 $(USER_BIN)/install/ktls-serve $(DESTDIR)$(SBINDIR)/
	install -m 755 $(USER_BIN)/ktls-handshaked $(DESTDIR)$(SBINDIR)/
	install -m 644 userspace/man/ktls-get.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 userspace/man/ktlsh.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 userspace/man/ktls-serve.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 userspace/man/ktls-handshaked.8 $(DESTDIR)$(MANDIR)/man8/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libktlsh.a $(DESTDIR)$(LIBDIR)/libktlsh.so* \
		$(DESTDIR)$(INCLUDEDIR)/ktlsh.h $(DESTDIR)$(PKGCONFIGDIR)/ktlsh.pc \
		$(DESTDIR)$(BINDIR)/ktls-get $(DESTDIR)$(SBINDIR)/ktls-serve \
		$(DESTDIR)$(SBINDIR)/ktls-handshaked \
		$(DESTDIR)$(MANDIR)/man1/ktls-get.1 $(DESTDIR)$(MANDIR)/man3/ktlsh.3 \
		$(DESTDIR)$(MANDIR)/man8/ktls-serve.8 $(DESTDIR)$(MANDIR)/man8/ktls-handshaked.8

# kselftest headers, taken from the installed linux-source tarball.
$(KSFT_DIR)/kselftest_harness.h:
	@mkdir -p $(KSFT_DIR)
	@tar -xJf $(KSFT_SRC) -C $(KSFT_DIR) --strip-components=4 --wildcards \
		'*/tools/testing/selftests/kselftest_harness.h' \
		'*/tools/testing/selftests/kselftest.h'
	@touch $@

$(TEST_BIN)/%: selftests/kmod/%.c selftests/kmod/*.h selftests/lib/tls_variants.h \
		$(KSFT_DIR)/kselftest_harness.h
	@mkdir -p $(TEST_BIN)
	$(CC) $(USER_CFLAGS) -static -isystem $(KSFT_DIR) -Iselftests/kmod -Iselftests/lib \
		-o $@ $< -lpthread

# The userspace TLS record codec (OpenSSL) that interop checks the kernel
# against: linked statically into the VM test, dynamically into its host-side
# unit test (make unit).
TLSREC := selftests/lib/tlsrec.c selftests/lib/tlsrec.h selftests/lib/tls_variants.h
UNIT_BIN := $(BUILD)/unit

# The tests that seal or open records in userspace (interop, the RX fuzzer,
# server conditions) link the codec.
TLSREC_TESTS := $(addprefix $(TEST_BIN)/,interop fuzz server)
$(TLSREC_TESTS): $(TEST_BIN)/%: selftests/kmod/%.c selftests/kmod/*.h $(TLSREC) \
		$(KSFT_DIR)/kselftest_harness.h
	@mkdir -p $(TEST_BIN)
	$(CC) $(USER_CFLAGS) -static -isystem $(KSFT_DIR) -Iselftests/kmod -Iselftests/lib \
		-o $@ $< selftests/lib/tlsrec.c -lcrypto -lpthread -ldl

# Servers' I/O models: the codec is the raw peer; io_uring through liburing.
$(TEST_BIN)/iomodel: selftests/kmod/iomodel.c selftests/kmod/*.h $(TLSREC) \
		$(KSFT_DIR)/kselftest_harness.h
	@mkdir -p $(TEST_BIN)
	$(CC) $(USER_CFLAGS) -static -isystem $(KSFT_DIR) -Iselftests/kmod -Iselftests/lib \
		-o $@ $< selftests/lib/tlsrec.c -luring -lcrypto -lpthread -ldl

$(UNIT_BIN)/tlsrec_test: selftests/lib/tlsrec_test.c $(TLSREC) $(KSFT_DIR)/kselftest_harness.h
	@mkdir -p $(UNIT_BIN)
	$(CC) $(USER_CFLAGS) -isystem $(KSFT_DIR) -Iselftests/lib \
		-o $@ $< selftests/lib/tlsrec.c -lcrypto

# The tools' HTTP parsing and log escaping, on the host.
$(UNIT_BIN)/http_test: selftests/unit/http_test.c $(TOOL_COMMON) $(TOOL_HDRS) \
		$(KSFT_DIR)/kselftest_harness.h
	@mkdir -p $(UNIT_BIN)
	$(CC) $(USER_CFLAGS) -isystem $(KSFT_DIR) -Iuserspace/include -Iuserspace/tools \
		-o $@ $< $(TOOL_COMMON)

UNIT_TESTS := $(UNIT_BIN)/tlsrec_test $(UNIT_BIN)/http_test

tests: $(KMOD_TESTS) $(UNIT_TESTS)

# Host-side unit tests: the record codec, HTTP parsing, make install.
unit: $(UNIT_TESTS)
	@$(TOP)/selftests/unit/run

# DKMS: the module rebuilt for every installed kernel that has headers.
DKMS_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' $(TOP)/dkms.conf)
DKMS_SRC := /usr/src/ktls-offload-$(DKMS_VERSION)

dkms-install:
	@command -v dkms >/dev/null || \
		{ echo "dkms-install: dkms is not installed (apt-get install dkms)" >&2; exit 1; }
	@dkms remove ktls-offload/$(DKMS_VERSION) --all >/dev/null 2>&1 || true
	@rm -rf $(DKMS_SRC) && mkdir -p $(DKMS_SRC)/kmod
	@cp dkms.conf Kbuild $(DKMS_SRC)/ && cp kmod/Kbuild kmod/*.c kmod/*.h $(DKMS_SRC)/kmod/
	@mkdir -p $(DKMS_SRC)/kmod/uapi && cp kmod/uapi/*.h $(DKMS_SRC)/kmod/uapi/
	@dkms add ktls-offload/$(DKMS_VERSION)
	@for k in $$(ls /lib/modules); do \
		[ -e /lib/modules/$$k/build/Makefile ] || continue; \
		dkms install ktls-offload/$(DKMS_VERSION) -k $$k || exit 1; \
	done

dkms-uninstall:
	@dkms remove ktls-offload/$(DKMS_VERSION) --all 2>/dev/null || true
	@rm -rf $(DKMS_SRC)

# A longer hostile-peer fuzz, syscall-sequence fuzz and stress run, per
# kernel line, with a fresh seed unless SOAK_SEED is given: make soak
# [SOAK_SCALE=20] [SOAK_CONNS=10000] [SOAK_SEED=N] [LINE=6.12|debug].
# seqfuzz runs 3 x SOAK_SCALE connections per variant. See
# Documentation/robustness.rst.
SOAK_SCALE ?= 20
SOAK_CONNS ?= 10000
soak: $(TEST_BIN)/fuzz $(TEST_BIN)/seqfuzz $(TEST_BIN)/stress
	@for line in $(or $(LINE),$(LINES)); do \
		echo "==== kernel $$line: soak (fuzz --scale=$(SOAK_SCALE), seqfuzz --conns=$$((3 * $(SOAK_SCALE))), stress --conns=$(SOAK_CONNS))"; \
		$(TOP)/selftests/vm/run --kernel $$line --timeout 14400 \
			--add $(TEST_BIN)/fuzz --add $(TEST_BIN)/seqfuzz --add $(TEST_BIN)/stress -- sh -c \
			'./fuzz --scale=$(SOAK_SCALE) $(if $(SOAK_SEED),--seed=$(SOAK_SEED)) && \
			 ./seqfuzz --conns=$$((3 * $(SOAK_SCALE))) $(if $(SOAK_SEED),--seed=$(SOAK_SEED)) && \
			 ./stress --conns=$(SOAK_CONNS)' \
			|| exit 1; \
	done

check:
	@$(TOP)/selftests/check

# Everything that runs on the debug kernel (KASAN, lockdep, kmemleak, ...):
# the kmod selftests, a longer seqfuzz, the helper tests.
check-debug:
	@$(TOP)/selftests/check --debug

# The helper's tests alone, in the VM on one kernel line: make tests-helper LINE=6.12
tests-helper: userspace
	@$(TOP)/selftests/helper/run --kernel $(or $(LINE),6.1)

# nginx, OpenSSL's and GnuTLS's own kTLS through the module, in the VM on
# one kernel line: make tests-users LINE=6.12
tests-users:
	@$(TOP)/selftests/users/run --kernel $(or $(LINE),6.1)

demo:
	@$(TOP)/userspace/tools/demo

# The load test in the VM, ktls-serve and the others side by side (nginx
# if installed): make loadtest [LINE=6.12] [LOAD_ARGS="--conns 500 --old B"]
loadtest:
	@$(TOP)/selftests/load/run $(if $(LINE),--kernel $(LINE)) $(LOAD_ARGS)

# The benchmark in one VM boot (6.12, in-tree kTLS and ours side by side);
# table and plot into Documentation/. make bench BENCH_ARGS="--quick"
bench:
	@$(TOP)/userspace/bench/run $(BENCH_ARGS)

# perf inside the VM while one benchmark row runs: make profile PROFILE_ARGS="..."
profile:
	@$(TOP)/userspace/bench/profile $(PROFILE_ARGS)

style:
	@$(TOP)/selftests/style

# sparse (C=2: every file, rebuilt or not) over kmod/ against both Debian
# lines' headers; module-<line> fails on any warning, sparse's included.
sparse:
	@command -v sparse > /dev/null || $(TOP)/selftests/vm/deps
	@$(MAKE) -s C=2 $(addprefix module-,$(LINES)) && echo "sparse: kmod/ passes sparse on $(LINES)"

clean:
	rm -rf $(BUILD)
	-$(MAKE) -C $(KDIR) M=$(TOP) clean 2>/dev/null
