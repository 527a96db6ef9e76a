# shimfs build. `make` builds build/libshimfs.so (the preload shim, libc
# only), build/libshimfs-core.so (the engine, loaded by the shim on first use
# of the prefix) and build/shimfs (the command line).
# `make check` installs what is missing, builds, starts PostgreSQL and the S3
# server, runs every test (and each fuzz target for FUZZ_SECONDS) and stops
# the services. `make demo` runs the demo.
# Options: CFLAGS/LDFLAGS are the user's (say `make CFLAGS='-O0 -g'`); the
# flags shimfs needs are kept apart in FINAL_CFLAGS/FINAL_LDFLAGS.
# WERROR=1 turns warnings into errors (CI). SANITIZE=1 builds with ASan and
# UBSan into build/san/ (never mixed with build/'s objects) and `make check
# SANITIZE=1` runs the whole suite with it. `make fuzz` builds the libFuzzer
# targets of tests/fuzz/ with clang into build/fuzz/.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
BUILD   := build
ifeq ($(SANITIZE),1)
BUILD   := build/san
# UBSan halts on its first report, like ASan: a report is a failed test.
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
             -fno-omit-frame-pointer
# Linked into every program and library: reports go where the runner looks.
SAN_HOOK  := $(BUILD)/obj/tests/sanitize/san_log.o
# Preloaded first into host programs: no leak checks there (san_host.c).
SAN_HOST  := $(BUILD)/libshimfs-sanhost.so
endif

PKGS      := libcurl libpq liburing libzstd libxxhash expat libcrypto
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

CFLAGS  ?= -O2 -g
LDFLAGS ?=
# What the build needs whatever the user's CFLAGS; the user's come last so
# that their -O/-g win.
# Each module's folder: its header is included by name ("vfs.h").
INCLUDES   := -Icore -Icore/vfs -Icore/objstore -Icore/objstore/s3 -Icore/agent -Imetadata-sql \
              -Icache -Ishim
STD_CFLAGS := -std=gnu11 -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) \
              -fPIC -D_GNU_SOURCE -pthread $(INCLUDES)
FINAL_CFLAGS  = $(STD_CFLAGS) $(SAN_FLAGS) $(CFLAGS)
FINAL_LDFLAGS = $(SAN_FLAGS) $(LDFLAGS)

# The engine is three shared libraries: libshimfs-core.so, and the two
# network backends it loads on first use (core/backend_lazy.h):
# libshimfs-pg.so (metadata-sql/, libpq) and libshimfs-s3.so (core/objstore/s3/,
# libcurl). The static library, for tests and tools, holds all of it.
PG_SRC    := $(wildcard metadata-sql/*.c)
S3_SRC    := $(wildcard core/objstore/s3/*.c)
CORE_SRC  := $(filter-out core/backend_lazy.c core/backend_static.c, \
               $(wildcard core/*.c core/vfs/*.c core/objstore/*.c core/agent/*.c)) \
             $(wildcard cache/*.c)
CLI_SRC   := $(wildcard core/cli/*.c)
SHIM_SRC  := $(wildcard shim/*.c)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
ITEST_SRC := $(wildcard tests/integration/test_*.c)
TOOL_SRC  := $(wildcard tests/tools/*.c)

# The metadata schema (metadata-sql/schema/*.sql, the source of truth) is
# compiled into the engine as a generated C file.
SCHEMA_SQL := $(sort $(wildcard metadata-sql/schema/*.sql))
SCHEMA_C   := $(BUILD)/gen/meta_schema.c
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
PG_OBJ    := $(PG_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/meta_schema.o
S3_OBJ    := $(S3_SRC:%.c=$(BUILD)/obj/%.o)
CORE_SO_OBJ := $(CORE_OBJ) $(BUILD)/obj/core/backend_lazy.o $(SAN_HOOK)
CORE_A_OBJ  := $(CORE_OBJ) $(BUILD)/obj/core/backend_static.o $(PG_OBJ) $(S3_OBJ)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
SHIM_OBJ  := $(SHIM_SRC:%.c=$(BUILD)/obj/%.o) $(SAN_HOOK)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
ITEST_BIN := $(ITEST_SRC:tests/integration/%.c=$(BUILD)/itests/%)
TOOL_BIN  := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang into their own
# folder: the engine compiled again with -fsanitize=fuzzer-no-link plus
# ASan and UBSan. `make fuzz` builds them; `make check` runs each for
# FUZZ_SECONDS on its corpus (scripts/run-fuzz.sh).
FUZZ_CC      ?= clang
FUZZ_BUILD   := build/fuzz
FUZZ_SECONDS ?= 15
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS   = $(filter-out -Werror,$(STD_CFLAGS)) -Wno-unknown-pragmas $(FUZZ_SAN) -fsanitize=fuzzer-no-link -O1 -g
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_A_OBJ   := $(patsubst $(BUILD)/obj/%,$(FUZZ_BUILD)/obj/%,$(CORE_A_OBJ))

.PHONY: all deps deps-bench check unit integration demo bench bench-peers bench-meta install clean services-start services-stop fuzz docs format-check lint
AUDIT_SO  := $(BUILD)/libshimfs-audit.so
ENGINE_SO := $(BUILD)/libshimfs-core.so $(BUILD)/libshimfs-pg.so $(BUILD)/libshimfs-s3.so
all: $(BUILD)/libshimfs.so $(AUDIT_SO) $(ENGINE_SO) $(BUILD)/shimfs $(BUILD)/libshimfs-core.a $(SAN_HOST)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(FINAL_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(SAN_HOST): tests/sanitize/san_host.c
	$(CC) $(STD_CFLAGS) $(CFLAGS) -shared -o $@ $< $(LDFLAGS)

$(SCHEMA_C): $(SCHEMA_SQL) metadata-sql/embed-sql.sh
	@mkdir -p $(dir $@)
	sh metadata-sql/embed-sql.sh $@ $(SCHEMA_SQL)

$(BUILD)/obj/gen/meta_schema.o: $(SCHEMA_C)
	@mkdir -p $(dir $@)
	$(CC) $(FINAL_CFLAGS) -c $< -o $@

# metadata-sql/ is a metadata engine: core/meta.h declares its own meta_*
# functions to it, and inline calls through its table to everyone else.
$(BUILD)/obj/metadata-sql/%.o: FINAL_CFLAGS += -DSHIMFS_META_IMPL
$(FUZZ_BUILD)/obj/metadata-sql/%.o: FUZZ_CFLAGS += -DSHIMFS_META_IMPL

# The shim is hidden by default; only interposed symbols are exported.
$(BUILD)/obj/shim/%.o: shim/%.c
	@mkdir -p $(dir $@)
	$(CC) $(FINAL_CFLAGS) -fvisibility=hidden -MMD -MP -c $< -o $@

$(BUILD)/libshimfs.so: $(SHIM_OBJ)
	$(CC) -shared -o $@ $^ $(FINAL_LDFLAGS) -ldl -pthread

# The rtld-audit library (LD_AUDIT, shim/audit/): libc only and never
# sanitized, for it runs inside the dynamic loader's own namespace, before
# any sanitizer runtime. Only its la_* entry points and the root the shim
# pushes are exported.
AUDIT_SRC := $(wildcard shim/audit/*.c) shim/shim_elf.c shim/shim_path.c
$(AUDIT_SO): $(AUDIT_SRC) shim/shim_elf.h shim/shim_path.h core/settings.h core/settings.def
	$(CC) $(STD_CFLAGS) $(CFLAGS) -fvisibility=hidden -shared -Wl,-soname,libshimfs-audit.so \
	    -o $@ $(AUDIT_SRC) $(LDFLAGS)

# -Bsymbolic: the engine's own calls never bind to a host program's symbols.
# --no-undefined: a call the engine cannot resolve fails the build, not a
# program at run time.
CORE_LIBS := $(shell pkg-config --libs liburing libzstd libxxhash 2>/dev/null)
PG_LIBS   := $(shell pkg-config --libs libpq libcrypto 2>/dev/null)
S3_LIBS   := $(shell pkg-config --libs libcurl expat libcrypto 2>/dev/null)
$(BUILD)/libshimfs-core.so: $(CORE_SO_OBJ)
	$(CC) -shared -Wl,-Bsymbolic -Wl,--no-undefined -Wl,-soname,libshimfs-core.so -o $@ $^ \
	    $(FINAL_LDFLAGS) $(CORE_LIBS) -ldl -lm -pthread

# The backends find the engine (log, retry, objstore helpers) beside them.
$(BUILD)/libshimfs-pg.so: $(PG_OBJ) $(BUILD)/libshimfs-core.so
	$(CC) -shared -Wl,-Bsymbolic -Wl,--no-undefined -o $@ $(PG_OBJ) -L$(BUILD) -lshimfs-core \
	    -Wl,-rpath,'$$ORIGIN' $(FINAL_LDFLAGS) $(PG_LIBS) -pthread

$(BUILD)/libshimfs-s3.so: $(S3_OBJ) $(BUILD)/libshimfs-core.so
	$(CC) -shared -Wl,-Bsymbolic -Wl,--no-undefined -o $@ $(S3_OBJ) -L$(BUILD) -lshimfs-core \
	    -Wl,-rpath,'$$ORIGIN' $(FINAL_LDFLAGS) $(S3_LIBS) -lm -pthread

$(BUILD)/libshimfs-core.a: $(CORE_A_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The CLI alone parses YAML (shimfs inject): libyaml is not the shim's nor the engine's.
CLI_PKGS := yaml-0.1
CLI_LIBS := $(shell pkg-config --libs $(CLI_PKGS) 2>/dev/null)
$(BUILD)/shimfs: $(CLI_OBJ) $(BUILD)/libshimfs-core.so
	$(CC) -o $@ $(CLI_OBJ) -L$(BUILD) -lshimfs-core -Wl,-rpath,'$$ORIGIN' -Wl,-rpath,'$$ORIGIN/../lib/shimfs' $(FINAL_LDFLAGS) $(CLI_LIBS) -pthread

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libshimfs-core.a $(SAN_HOOK)
	@mkdir -p $(dir $@)
	$(CC) $(FINAL_CFLAGS) $(PKG_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -o $@ $< $(SAN_HOOK) $(BUILD)/libshimfs-core.a $(PKG_LIBS) $(FINAL_LDFLAGS) $(CHECK_LIBS) -lm -pthread

# Integration test programs: Check, like the unit tests, run against services.
$(BUILD)/itests/%: tests/integration/%.c $(BUILD)/libshimfs-core.a $(SAN_HOOK)
	@mkdir -p $(dir $@)
	$(CC) $(FINAL_CFLAGS) $(PKG_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -o $@ $< $(SAN_HOOK) $(BUILD)/libshimfs-core.a $(PKG_LIBS) $(FINAL_LDFLAGS) $(CHECK_LIBS) -lm -pthread

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libshimfs-core.a $(SAN_HOOK)
	@mkdir -p $(dir $@)
	$(CC) $(FINAL_CFLAGS) $(PKG_CFLAGS) -MMD -MP -o $@ $< $(SAN_HOOK) $(BUILD)/libshimfs-core.a $(PKG_LIBS) $(FINAL_LDFLAGS) -lm -pthread

$(FUZZ_BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

# clang ignores these files' `#pragma GCC target`; they run only on CPUs
# that have the instructions (cache_cpu.c).
$(FUZZ_BUILD)/obj/cache/cache_xxh.o: FUZZ_CFLAGS += -mavx2
$(FUZZ_BUILD)/obj/cache/cache_xxh512.o: FUZZ_CFLAGS += -mavx512f -mavx512bw

$(FUZZ_BUILD)/libshimfs-core.a: $(FUZZ_A_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/%: tests/fuzz/%.c $(FUZZ_BUILD)/libshimfs-core.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(FUZZ_BUILD)/libshimfs-core.a $(PKG_LIBS) -lm -pthread

fuzz: $(FUZZ_BIN)

deps:
	@scripts/deps.sh

# docs/configuration.md's reference section is made from core/settings.def
# (tests/integration/test_settings_doc.sh fails while they differ).
docs: $(BUILD)/shimfs
	scripts/settings-doc.sh $(BUILD)/shimfs

# What the test runners are told: which build, and whether it is sanitized
# (scripts/sanitize.sh).
TEST_ENV := SHIMFS_BUILD=$(BUILD) SHIMFS_SANITIZE=$(SANITIZE) CC='$(CC)'

unit: all $(UNIT_BIN)
	@$(TEST_ENV) scripts/run-tests.sh --label unit $(UNIT_BIN)

integration: all $(TOOL_BIN) $(ITEST_BIN)
	@$(TEST_ENV) scripts/run-tests.sh integration

# Without clang (scripts/deps.sh installs it) the fuzz targets are skipped.
check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(TOOL_BIN) $(ITEST_BIN)
	@if [ "$(SANITIZE)" != 1 ] && command -v $(FUZZ_CC) >/dev/null; then \
	    $(MAKE) --no-print-directory fuzz; fi
	@$(TEST_ENV) FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/check.sh $(UNIT_BIN)

# The C lines changed since BASE (default origin/main, else main) against
# .clang-format; not part of `make check` (scripts/format-check.sh).
format-check:
	@scripts/format-check.sh $(BASE)

# cppcheck over core/, cache/, shim/ and metadata-sql/ (scripts/lint.sh):
# seconds; CI runs it before the tests.
lint:
	@scripts/lint.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

# `make bench` ends with the side-by-side run (issue 16); `make bench-peers`
# runs that alone. Their extra packages (s3fs, rclone, dbench, fio) are
# `scripts/deps.sh bench`'s, never `make check`'s.
bench: deps-bench
	@$(MAKE) --no-print-directory all $(TOOL_BIN)
	@scripts/bench.sh
	@scripts/bench-import.sh
	@scripts/bench-write.sh
	@scripts/bench-stream.sh
	@scripts/bench-peers.sh

bench-peers: deps-bench
	@$(MAKE) --no-print-directory all
	@scripts/bench-peers.sh

deps-bench:
	@scripts/deps.sh bench

# metadata at scale: trees of 10 k and 100 k files (scripts/bench-meta.sh)
bench-meta: deps
	@$(MAKE) --no-print-directory all $(BUILD)/tools/fanout_read
	@scripts/bench-meta.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/shimfs
	install -m 0755 $(BUILD)/shimfs $(DESTDIR)$(PREFIX)/bin/shimfs
	install -m 0755 scripts/shimfs-run $(DESTDIR)$(PREFIX)/bin/shimfs-run
	install -m 0755 $(BUILD)/libshimfs.so $(DESTDIR)$(PREFIX)/lib/shimfs/libshimfs.so
	install -m 0755 $(AUDIT_SO) $(DESTDIR)$(PREFIX)/lib/shimfs/libshimfs-audit.so
	install -m 0755 $(ENGINE_SO) $(DESTDIR)$(PREFIX)/lib/shimfs/

# ---- Packaging: man pages, the relocatable bundle, the Debian package ----
# (docs/operations.md, "Installing"). The man pages are generated from the
# CLI's own help texts and core/settings.def's table (scripts/gen-man.py);
# `make install` installs them too. `make bundle` is
# build/shimfs-bundle-VERSION-ARCH.tar.gz (scripts/bundle.sh), `make deb`
# build/shimfs_VERSION_DEBARCH.deb (scripts/deb.sh); both are made from a
# staged `make install`, so their layout is the installed one.
VERSION   := $(shell sed -n 's/^\#define CLI_VERSION "\(.*\)"$$/\1/p' core/cli/cli.h)
ARCH      := $(shell $(CC) -dumpmachine 2>/dev/null | cut -d- -f1)
DEB_ARCH  := $(shell dpkg --print-architecture 2>/dev/null)
MAN_PAGES := $(BUILD)/man/shimfs.1 $(BUILD)/man/shimfs-run.1 $(BUILD)/man/libshimfs.7
BUNDLE    := $(BUILD)/shimfs-bundle-$(VERSION)-$(ARCH).tar.gz
DEB       := $(BUILD)/shimfs_$(VERSION)_$(DEB_ARCH).deb
.PHONY: man install-man bundle deb

man: $(MAN_PAGES)

$(BUILD)/man/%: docs/man/%.in scripts/gen-man.py $(BUILD)/shimfs scripts/shimfs-run
	@mkdir -p $(dir $@)
	python3 scripts/gen-man.py --version $(VERSION) --shimfs $(BUILD)/shimfs \
	    --shimfs-run scripts/shimfs-run $< $@

install: install-man
install-man: $(MAN_PAGES)
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 0644 $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(filter %.7,$(MAN_PAGES)) $(DESTDIR)$(PREFIX)/share/man/man7/

# Not from a sanitized build: its objects need the sanitizer runtimes.
PACK_GUARD = @[ "$(SANITIZE)" != 1 ] || { echo "make $@: not with SANITIZE=1" >&2; exit 1; }

bundle: all $(MAN_PAGES)
	$(PACK_GUARD)
	rm -rf $(BUILD)/bundle
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(BUILD))/bundle PREFIX=/shimfs >/dev/null
	scripts/bundle.sh $(BUILD)/bundle/shimfs $(BUNDLE) $(VERSION)

deb: all $(MAN_PAGES)
	$(PACK_GUARD)
	rm -rf $(BUILD)/deb
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(BUILD))/deb/debian/shimfs PREFIX=/usr >/dev/null
	scripts/deb.sh $(BUILD)/deb/debian/shimfs $(DEB) $(VERSION)

clean:
	rm -rf $(BUILD)

# Test programs too: a header they share (vfs_fixture.h) rebuilds them.
-include $(shell find $(BUILD)/obj $(BUILD)/tests $(BUILD)/itests $(BUILD)/tools $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
