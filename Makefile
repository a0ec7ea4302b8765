# Makefile for the credits extension (PGXS)

EXTENSION = credits
MODULE_big = credits
OBJS = src/credits.o src/cycle.o src/cycle_core.o src/guc.o src/query.o \
	src/org.o src/unlock.o src/admin.o src/status.o src/triggers.o
DATA = $(wildcard sql/credits--*.sql)

# Regression tests read test/sql/*.sql; expected output is in expected/.
# Test names must not clash with the install scripts in sql/.
REGRESS = cycle_io cycle_periods cycle_ops cycle_oracle
REGRESS_OPTS = --inputdir=test

ISOLATION = cycle_unique
ISOLATION_OPTS = --inputdir=test --outputdir=.

PG_CONFIG ?= pg_config

PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter
ifdef WERROR
PG_CFLAGS += -Werror
endif

EXTRA_CLEAN = results/ regression.diffs regression.out output_iso/

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Copy the latest results over the expected files; review the diff first.
.PHONY: accept
accept:
	@for f in results/*.out; do \
		[ -f "$$f" ] && cp -v "$$f" expected/; \
	done; true
