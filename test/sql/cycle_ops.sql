--
-- credits.cycle: comparison, ordering, hashing and indexes
--
\i test/helpers.sql

CREATE TABLE cycles (id int, c cycle);
INSERT INTO cycles VALUES
	(1, 'R/2026-01-31/P1M'),
	(2, 'R12/2026-01-31/P1M'),
	(3, 'R/2026-01-31[Europe/Stockholm]/P1M'),
	(4, 'R/2026-01-31/P1Y'),
	(5, 'R/2026-01-30T23:59:59/P1M'),
	(6, 'R2/2026-01-31/P1M'),
	(7, 'R/2026-01-31/P12M'),
	(8, 'R/2026-01-31[America/New_York]/P1M'),
	(9, 'R/2026-01-31T00:00Z/P1M'),
	(10, 'R/2026-01-31/P3M');

-- Order: anchor, then zone (byte order), then months, then period count
-- with open-ended last
SELECT id, c FROM cycles ORDER BY c, id;
SELECT id, c FROM cycles ORDER BY c DESC, id;

-- The operators agree with each other and with the comparison function
SELECT a.id, b.id,
	a.c = b.c AS eq, a.c <> b.c AS ne, a.c < b.c AS lt, a.c <= b.c AS le,
	a.c > b.c AS gt, a.c >= b.c AS ge, cycle_cmp(a.c, b.c) AS cmp
FROM cycles a, cycles b
WHERE a.id IN (1, 2, 4, 7) AND b.id IN (1, 2, 4, 7)
ORDER BY a.id, b.id;

-- Equal values hash alike
SELECT cycle_hash('R/2026-01-31/P12M') = cycle_hash('R/2026-01-31/P1Y') AS hash_eq,
	cycle_hash_extended('R/2026-01-31/P12M', 42) = cycle_hash_extended('R/2026-01-31T00:00:00[UTC]/P1Y', 42) AS hash_ext_eq,
	(cycle_hash_extended('R/2026-01-31/P12M', 0) & x'ffffffff'::bigint) =
		(cycle_hash('R/2026-01-31/P12M')::bigint & x'ffffffff'::bigint) AS hash_ext_seed0;

-- DISTINCT and GROUP BY, both by sorting and by hashing
SET enable_hashagg = off;
SELECT c, count(*) FROM cycles GROUP BY c ORDER BY c;
SELECT count(DISTINCT c) FROM cycles;
RESET enable_hashagg;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT c, count(*) FROM cycles GROUP BY c;
SELECT c, count(*) FROM cycles GROUP BY c ORDER BY 2 DESC, 1;
RESET enable_sort;
SELECT count(*) FROM (SELECT DISTINCT c FROM cycles) s;

-- Hash and merge joins
SET enable_nestloop = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM cycles a JOIN cycles b ON a.c = b.c;
SELECT count(*) FROM cycles a JOIN cycles b ON a.c = b.c;
SET enable_hashjoin = off;
SET enable_mergejoin = on;
EXPLAIN (COSTS OFF) SELECT count(*) FROM cycles a JOIN cycles b ON a.c = b.c;
SELECT count(*) FROM cycles a JOIN cycles b ON a.c = b.c;
RESET enable_nestloop;
RESET enable_mergejoin;
RESET enable_hashjoin;

-- A btree index on a cycle column, used for equality and ranges
INSERT INTO cycles
SELECT 100 + i, cycle('2020-01-01'::timestamp + i * interval '1 hour', '1 month')
FROM generate_series(1, 2000) i;
CREATE INDEX cycles_c ON cycles (c);
ANALYZE cycles;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM cycles WHERE c = 'R/2020-01-01T05:00/P1M';
SELECT id FROM cycles WHERE c = 'R/2020-01-01T05:00/P1M';
SELECT id FROM cycles WHERE c >= 'R/2020-01-01T05:00/P1M' AND c < 'R/2020-01-01T08:00/P1M' ORDER BY c;
RESET enable_seqscan;

-- A hash index
CREATE INDEX cycles_h ON cycles USING hash (c);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET enable_indexscan = on;
DROP INDEX cycles_c;
EXPLAIN (COSTS OFF) SELECT id FROM cycles WHERE c = 'R/2026-01-31/P1Y';
SELECT id FROM cycles WHERE c = 'R/2026-01-31/P1Y' ORDER BY id;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_indexscan;

-- A unique index sees differently written equal values as duplicates
CREATE TABLE plans (c cycle UNIQUE);
INSERT INTO plans VALUES ('R/2026-01-31/P12M');
\set VERBOSITY terse
INSERT INTO plans VALUES ('R/2026-01-31T00:00:00Z/P1Y');
\set VERBOSITY default
SELECT * FROM plans;

-- Hash partitioning uses the extended hash function
CREATE TABLE hp (c cycle) PARTITION BY HASH (c);
CREATE TABLE hp0 PARTITION OF hp FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE hp1 PARTITION OF hp FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO hp SELECT c FROM cycles;
SELECT (SELECT count(*) FROM hp) AS total,
	(SELECT count(*) FROM hp0) > 0 AND (SELECT count(*) FROM hp1) > 0 AS both_used,
	(SELECT count(*) FROM hp WHERE c = 'R/2026-01-31/P1Y') AS pruned_lookup;
