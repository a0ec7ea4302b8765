# Makefile for the credits extension (PGXS)

EXTENSION = credits
MODULE_big = credits
OBJS = src/credits.o src/cycle.o src/cycle_core.o src/guc.o src/query.o \
	src/rows.o src/org.o src/unlock.o src/admin.o src/status.o \
	src/signal.o src/triggers.o src/apptrigger.o
DATA = $(wildcard sql/credits--*.sql)

# Regression tests read test/sql/*.sql; expected output is in expected/.
# Test names must not clash with the install scripts in sql/.
REGRESS = cycle_io cycle_periods cycle_ops cycle_oracle clock orgs unlocks \
	plans grants status history rights apptrigger hostile search_path upsert \
	tables
REGRESS_OPTS = --inputdir=test

ISOLATION = cycle_unique unlock_race refund_race last_credit member_limit \
	unlock_many_order upgrade_race insert_conflict apptrigger_race low_balance \
	stale_snapshot clock_behind member_change fresh_session twophase
ISOLATION_OPTS = --inputdir=test --outputdir=.

# Run with credits.clock_writes = off (scripts/run-tests switches it)
REGRESS_CLOCK_OFF = clock_writes_off

PG_CONFIG ?= pg_config

PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter
ifdef WERROR
PG_CFLAGS += -Werror
endif
# make ASSERT=1: a library whose Assert()s are checked, although Debian's
# server is a release build (scripts/run-tests runs the suites with it too)
ifdef ASSERT
PG_CPPFLAGS += -DUSE_ASSERT_CHECKING
endif

EXTRA_CLEAN = results/ regression.diffs regression.out output_iso/

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

.PHONY: installcheck-clock-off
installcheck-clock-off:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS_CLOCK_OFF)

# Fuzz the cycle parser and binary decoder with libFuzzer for a bounded
# time (not part of the test command).  Needs clang.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	mkdir -p fuzz/corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Isrc test/fuzz/fuzz_cycle.c src/cycle_core.c -o fuzz/fuzz_cycle
	./fuzz/fuzz_cycle -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		fuzz/corpus test/fuzz/corpus

# Copy the latest results over the expected files; review the diff first.
.PHONY: accept
accept:
	@for f in results/*.out; do \
		[ -f "$$f" ] && cp -v "$$f" expected/; \
	done; true

# The server's build has no dependency tracking: every object is rebuilt
# when a header of ours changes (their structs are shared)
$(OBJS) $(OBJS:.o=.bc): $(wildcard src/*.h)
