# shimfs build. `make` builds build/libshimfs.so (the preload shim, libc
# only), build/libshimfs-core.so (the engine, loaded by the shim on first use
# of the prefix) and build/shimfs (the command line).
# `make check` installs what is missing, builds, starts PostgreSQL and the S3
# server, runs every test and stops the services. `make demo` runs the demo.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
BUILD   := build

PKGS      := libcurl libpq liburing libzstd libxxhash expat libcrypto
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -fPIC -D_GNU_SOURCE -pthread \
           -Icore -Imetadata-sql -Icache -Ishim
LDFLAGS ?=

# The engine is three shared libraries: libshimfs-core.so, and the two
# network backends it loads on first use (core/backend_lazy.h):
# libshimfs-pg.so (metadata-sql/, libpq) and libshimfs-s3.so (core/s3_*,
# libcurl). The static library, for tests and tools, holds all of it.
PG_SRC    := $(wildcard metadata-sql/*.c)
S3_SRC    := $(wildcard core/s3_*.c)
CORE_SRC  := $(filter-out $(S3_SRC) core/backend_lazy.c core/backend_static.c,$(wildcard core/*.c)) \
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
CORE_SO_OBJ := $(CORE_OBJ) $(BUILD)/obj/core/backend_lazy.o $(BUILD)/obj/gen/meta_lazy.o
CORE_A_OBJ  := $(CORE_OBJ) $(BUILD)/obj/core/backend_static.o $(PG_OBJ) $(S3_OBJ)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
SHIM_OBJ  := $(SHIM_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
ITEST_BIN := $(ITEST_SRC:tests/integration/%.c=$(BUILD)/itests/%)
TOOL_BIN  := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all deps check unit integration demo bench install clean services-start services-stop
ENGINE_SO := $(BUILD)/libshimfs-core.so $(BUILD)/libshimfs-pg.so $(BUILD)/libshimfs-s3.so
all: $(BUILD)/libshimfs.so $(ENGINE_SO) $(BUILD)/shimfs $(BUILD)/libshimfs-core.a

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(SCHEMA_C): $(SCHEMA_SQL) metadata-sql/embed-sql.sh
	@mkdir -p $(dir $@)
	sh metadata-sql/embed-sql.sh $@ $(SCHEMA_SQL)

$(BUILD)/obj/gen/meta_schema.o: $(SCHEMA_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/meta_lazy.c: core/meta.h scripts/gen-meta-lazy.py
	@mkdir -p $(dir $@)
	python3 scripts/gen-meta-lazy.py core/meta.h $@

$(BUILD)/obj/gen/meta_lazy.o: $(BUILD)/gen/meta_lazy.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The shim is hidden by default; only interposed symbols are exported.
$(BUILD)/obj/shim/%.o: shim/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fvisibility=hidden -MMD -MP -c $< -o $@

$(BUILD)/libshimfs.so: $(SHIM_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS) -ldl -pthread

# -Bsymbolic: the engine's own calls never bind to a host program's symbols.
# --no-undefined: a meta_* or s3 call missing from the lazy forwarders fails
# the build, not a program at run time.
CORE_LIBS := $(shell pkg-config --libs liburing libzstd libxxhash 2>/dev/null)
PG_LIBS   := $(shell pkg-config --libs libpq 2>/dev/null)
S3_LIBS   := $(shell pkg-config --libs libcurl expat libcrypto 2>/dev/null)
$(BUILD)/libshimfs-core.so: $(CORE_SO_OBJ)
	$(CC) -shared -Wl,-Bsymbolic -Wl,--no-undefined -Wl,-soname,libshimfs-core.so -o $@ $^ \
	    $(LDFLAGS) $(CORE_LIBS) -ldl -lm -pthread

# The backends find the engine (log, retry, objstore helpers) beside them.
$(BUILD)/libshimfs-pg.so: $(PG_OBJ) $(BUILD)/libshimfs-core.so
	$(CC) -shared -Wl,-Bsymbolic -Wl,--no-undefined -o $@ $(PG_OBJ) -L$(BUILD) -lshimfs-core \
	    -Wl,-rpath,'$$ORIGIN' $(LDFLAGS) $(PG_LIBS) -pthread

$(BUILD)/libshimfs-s3.so: $(S3_OBJ) $(BUILD)/libshimfs-core.so
	$(CC) -shared -Wl,-Bsymbolic -Wl,--no-undefined -o $@ $(S3_OBJ) -L$(BUILD) -lshimfs-core \
	    -Wl,-rpath,'$$ORIGIN' $(LDFLAGS) $(S3_LIBS) -lm -pthread

$(BUILD)/libshimfs-core.a: $(CORE_A_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The CLI alone parses YAML (shimfs inject): libyaml is not the shim's nor the engine's.
CLI_PKGS := yaml-0.1
CLI_LIBS := $(shell pkg-config --libs $(CLI_PKGS) 2>/dev/null)
$(BUILD)/shimfs: $(CLI_OBJ) $(BUILD)/libshimfs-core.so
	$(CC) -o $@ $(CLI_OBJ) -L$(BUILD) -lshimfs-core -Wl,-rpath,'$$ORIGIN' -Wl,-rpath,'$$ORIGIN/../lib/shimfs' $(LDFLAGS) $(CLI_LIBS) -pthread

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libshimfs-core.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(CHECK_CFLAGS) -o $@ $< $(BUILD)/libshimfs-core.a $(PKG_LIBS) $(CHECK_LIBS) -lm -pthread

# Integration test programs: Check, like the unit tests, run against services.
$(BUILD)/itests/%: tests/integration/%.c $(BUILD)/libshimfs-core.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(CHECK_CFLAGS) -o $@ $< $(BUILD)/libshimfs-core.a $(PKG_LIBS) $(CHECK_LIBS) -lm -pthread

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libshimfs-core.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(BUILD)/libshimfs-core.a $(PKG_LIBS) -lm -pthread

deps:
	@scripts/deps.sh

unit: all $(UNIT_BIN)
	@scripts/run-unit.sh $(UNIT_BIN)

integration: all $(TOOL_BIN) $(ITEST_BIN)
	@scripts/run-integration.sh

check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(TOOL_BIN) $(ITEST_BIN)
	@scripts/check.sh $(UNIT_BIN)

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all $(TOOL_BIN)
	@scripts/bench.sh
	@scripts/bench-import.sh
	@scripts/bench-write.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/shimfs
	install -m 0755 $(BUILD)/shimfs $(DESTDIR)$(PREFIX)/bin/shimfs
	install -m 0755 scripts/shimfs-run $(DESTDIR)$(PREFIX)/bin/shimfs-run
	install -m 0755 $(BUILD)/libshimfs.so $(DESTDIR)$(PREFIX)/lib/shimfs/libshimfs.so
	install -m 0755 $(ENGINE_SO) $(DESTDIR)$(PREFIX)/lib/shimfs/

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
