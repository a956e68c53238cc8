# mlops — build with PGXS against PostgreSQL 15.
#
#   make / make install      build and install the extension (needs the -dev packages)
#   make demo                install what is missing, build, run the demo on a throwaway server
#   make test                install what is missing, build, run every test on a throwaway server
#   make bench               the same set-up, then the benchmarks (not part of make test)
#   make valgrind            the regression suites against a server under valgrind memcheck

EXTENSION  = mlops
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" mlops.control)
MODULE_big = mlops
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA_built = mlops--$(EXTVERSION).sql
EXTRA_CLEAN = results regression.diffs regression.out

# OpenBLAS: the serial build, so that no BLAS thread pool is ever started inside
# a backend (parallelism comes from PostgreSQL's parallel workers instead).
MULTIARCH    := $(shell gcc -print-multiarch)
OPENBLAS_DIR  = /usr/lib/$(MULTIARCH)/openblas-serial
PG_CPPFLAGS   = -I$(CURDIR)/include -I/usr/include/$(MULTIARCH)/openblas-pthread
PG_CFLAGS     = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK    = -L$(OPENBLAS_DIR) -l:libopenblas.so.0 -Wl,--disable-new-dtags,-rpath,$(OPENBLAS_DIR) -lxgboost -lcrypto -lm

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all:
	@echo "PostgreSQL 15 development files are missing: run 'make deps' first" >&2; exit 1
endif

# PGXS does not track header dependencies: every object depends on every header.
$(OBJS): $(wildcard include/mlops/*.h)

# The install script is the per-concept SQL files, concatenated in name order.
mlops--$(EXTVERSION).sql: $(sort $(wildcard src/sql/*.sql)) mlops.control
	cat $(sort $(wildcard src/sql/*.sql)) > $@

.PHONY: deps demo test bench valgrind
deps:
	scripts/install-deps

demo: deps
	$(MAKE) all && scripts/as-root $(MAKE) install && scripts/demo

test: deps
	$(MAKE) all && scripts/as-root $(MAKE) install && scripts/run-tests

bench: deps
	$(MAKE) all && scripts/as-root $(MAKE) install && scripts/bench

valgrind: deps
	$(MAKE) all && scripts/as-root $(MAKE) install && scripts/valgrind
