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

CORE_SRC  := $(wildcard core/*.c) $(wildcard metadata-sql/*.c) $(wildcard cache/*.c)
CLI_SRC   := $(wildcard core/cli/*.c)
SHIM_SRC  := $(wildcard shim/*.c)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
ITEST_SRC := $(wildcard tests/integration/test_*.c)
TOOL_SRC  := $(wildcard tests/tools/*.c)

# The metadata schema (metadata-sql/schema/*.sql, the source of truth) is
# compiled into the engine as a generated C file.
SCHEMA_SQL := $(sort $(wildcard metadata-sql/schema/*.sql))
SCHEMA_C   := $(BUILD)/gen/meta_schema.c
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/meta_schema.o
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
SHIM_OBJ  := $(SHIM_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
ITEST_BIN := $(ITEST_SRC:tests/integration/%.c=$(BUILD)/itests/%)
TOOL_BIN  := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all deps check unit integration demo bench install clean services-start services-stop
all: $(BUILD)/libshimfs.so $(BUILD)/libshimfs-core.so $(BUILD)/shimfs $(BUILD)/libshimfs-core.a

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(SCHEMA_C): $(SCHEMA_SQL) metadata-sql/embed-sql.sh
	@mkdir -p $(dir $@)
	sh metadata-sql/embed-sql.sh $@ $(SCHEMA_SQL)

$(BUILD)/obj/gen/meta_schema.o: $(SCHEMA_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The shim is hidden by default; only interposed symbols are exported.
$(BUILD)/obj/shim/%.o: shim/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fvisibility=hidden -MMD -MP -c $< -o $@

$(BUILD)/libshimfs.so: $(SHIM_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS) -ldl -pthread

# -Bsymbolic: the engine's own calls never bind to a host program's symbols.
$(BUILD)/libshimfs-core.so: $(CORE_OBJ)
	$(CC) -shared -Wl,-Bsymbolic -o $@ $^ $(LDFLAGS) $(PKG_LIBS) -lm -pthread

$(BUILD)/libshimfs-core.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/shimfs: $(CLI_OBJ) $(BUILD)/libshimfs-core.so
	$(CC) -o $@ $(CLI_OBJ) -L$(BUILD) -lshimfs-core -Wl,-rpath,'$$ORIGIN' -Wl,-rpath,'$$ORIGIN/../lib/shimfs' $(LDFLAGS) -pthread

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
	install -m 0755 $(BUILD)/libshimfs-core.so $(DESTDIR)$(PREFIX)/lib/shimfs/libshimfs-core.so

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
