--
-- credits.cycle: text and binary input/output
--
\i test/helpers.sql

-- Canonical output is always complete: count, anchor with seconds, zone
SELECT c::cycle AS canonical
FROM (VALUES
	('R12/2026-01-31/P1M'),
	('R/2026-01-31/P1M'),
	('R1/2026-01-31/P1M'),
	('R/2025-02-28T09:30[Europe/Stockholm]/P1Y'),
	('R/2025-02-28T09:30:15[Europe/Stockholm]/P12M'),
	('R/2026-01-01T10:00Z/P3M'),
	('R/2026-01-01Z/P24M'),
	('R/2026-01-01/P18M'),
	('R/2026-01-01[UTC]/P1M'),
	('R/2026-01-01[utc]/P1M'),
	('R/2026-01-01[europe/STOCKHOLM]/P1M'),
	('R/2026-01-01[Australia/Lord_Howe]/P1M'),
	('R/2026-01-01[America/Argentina/Buenos_Aires]/P1M'),
	('R/2026-01-01[Etc/UTC]/P1M'),
	('R007/2026-01-01/P006M'),
	('  R/2026-01-01/P1M  '),
	(E'\tR/2026-01-01/P1M\n'),
	('R/0001-01-01/P1M'),
	('R/9999-12-31T23:59:59/P1M')
) v(c);

-- P12M and P1Y are one value; Z, [UTC] and no zone are one value
SELECT 'R/2026-01-31/P12M'::cycle = 'R/2026-01-31/P1Y' AS months_vs_years,
	'R/2026-01-31T00:00Z/P1M'::cycle = 'R/2026-01-31[UTC]/P1M' AS z_is_utc,
	'R/2026-01-31/P1M'::cycle = 'R/2026-01-31T00:00:00/P1M' AS date_is_midnight,
	'R/2026-01-31[Etc/UTC]/P1M'::cycle = 'R/2026-01-31[UTC]/P1M' AS etc_utc_differs;

-- Text round trip: input -> output -> input gives an equal value
CREATE TABLE io (c cycle);
INSERT INTO io VALUES
	('R12/2026-01-31/P1M'), ('R/2024-02-29T23:59:59[America/New_York]/P1Y'),
	('R3/2026-10-04T02:15[Australia/Lord_Howe]/P3M'), ('R/0001-01-01/P1M'),
	('R/9999-12-31T23:59:59[Asia/Kolkata]/P7M'), ('R1/2026-01-01/P1200M');
SELECT c, c::text::cycle = c AS text_round_trip,
	c::text = c::text::cycle::text AS stable_text
FROM io ORDER BY c;

-- Binary round trip through COPY BINARY (send, then recv)
\copy io TO 'results/cycle_io.bin' (FORMAT binary)
CREATE TABLE io_back (c cycle);
\copy io_back FROM 'results/cycle_io.bin' (FORMAT binary)
SELECT count(*) AS rows_back,
	count(*) FILTER (WHERE EXISTS (SELECT 1 FROM io WHERE io.c = io_back.c)) AS equal_rows
FROM io_back;

-- The binary format: version 1, int64 local anchor (microseconds since
-- 2000-01-01), int32 months, int32 periods (0 = open-ended), zone bytes
SELECT cycle_send('R12/2026-01-31/P1M');
SELECT cycle_send('R/2000-01-01T00:00:01[Europe/Stockholm]/P1Y');

-- Syntax errors: 22007, naming the text and what is wrong
SELECT pg_temp.err(format('SELECT %L::credits.cycle', t))
FROM (VALUES
	(''),
	('   '),
	('R/2026-13-01/P1M'),
	('R/2026-00-10/P1M'),
	('R/2026-02-29/P1M'),
	('R/2026-04-31/P1M'),
	('R/2026-01-00/P1M'),
	('R/2026-01-01T24:00/P1M'),
	('R/2026-01-01T23:60/P1M'),
	('R/2026-01-01T23:59:60/P1M'),
	('R/2026-01-01T10:00:00.5/P1M'),
	('R/2026-01-01T10/P1M'),
	('R/2026-1-01/P1M'),
	('R/26-01-01/P1M'),
	('R/20260101/P1M'),
	('R/2026-01-01t10:00/P1M'),
	('R/2026-01-01 10:00/P1M'),
	('r/2026-01-01/P1M'),
	('R-1/2026-01-01/P1M'),
	('R 12/2026-01-01/P1M'),
	('2026-01-01/P1M'),
	('R/2026-01-01'),
	('R/2026-01-01/'),
	('R/2026-01-01/P1m'),
	('R/2026-01-01/p1M'),
	('R/2026-01-01/PM'),
	('R/2026-01-01/P-1M'),
	('R/2026-01-01/P1Y6M'),
	('R/2026-01-01/P1W'),
	('R/2026-01-01/P30D'),
	('R/2026-01-01/PT1H'),
	('R/2026-01-01/P1M/'),
	('R/2026-01-01/P1MX'),
	('R/2026-01-01[Europe/Stockholm/P1M'),
	('R/2026-01-01z/P1M')
) v(t);

-- Invalid values: 22023 (R0, P0M, zones that are not zone names)
SELECT pg_temp.err(format('SELECT %L::credits.cycle', t))
FROM (VALUES
	('R0/2026-01-01/P1M'),
	('R/2026-01-01/P0M'),
	('R/2026-01-01/P0Y'),
	('R/2026-01-01[CEST]/P1M'),
	('R/2026-01-01[UTC+3]/P1M'),
	('R/2026-01-01[+01:00]/P1M'),
	('R/2026-01-01T10:00+01:00/P1M'),
	('R/2026-01-01T10:00-05/P1M'),
	('R/2026-01-01[]/P1M'),
	('R/2026-01-01[Mars/Olympus_Mons]/P1M'),
	('R/2026-01-01[Europe/Stockholm ]/P1M'),
	-- listed, but AT TIME ZONE reads CET as a fixed-offset abbreviation,
	-- and localtime follows the host
	('R/2026-01-01[CET]/P1M'),
	('R/2026-01-01[localtime]/P1M'),
	('R/2026-01-01[posixrules]/P1M')
) v(t);

-- Out of range: 22008 (a contract ending beyond the timestamp range,
-- year 0000, numbers too large to hold)
SELECT pg_temp.err(format('SELECT %L::credits.cycle', t))
FROM (VALUES
	('R/0000-01-01/P1M'),
	('R3600000/2026-01-01/P1M'),
	('R99999999999/2026-01-01/P1M'),
	('R/2026-01-01/P99999999999M'),
	('R/2026-01-01/P300000Y'),
	('R/2026-01-01/P2147483647M'),
	('R/2026-01-01/P200000000Y')
) v(t);

-- Text with several faults: malformed text is reported first (22007),
-- then a wrong value (22023), then one out of range (22008)
SELECT t, (SELECT e FROM pg_temp.err(format('SELECT %L::credits.cycle', t)) e LIMIT 1)
FROM (VALUES
	('R0'),
	('R99999999999'),
	('R99999999999/not-a-date/P1M'),
	('R0/2026-01-31/P1W'),
	('R/0000-02-30/P1M'),
	('R/2026-01-31+01:00/P1W'),
	('R0/0000-01-01/P1M'),
	('R/2026-01-31[CEST]/P99999999999M'),
	('R99999999999/2026-01-31/P0M'),
	('R/2026-01-01+xx/P1M'),
	('R/2026-01-01-/P1M'),
	('R/2026-01-01+01:00junk/P1M'),
	('R/2026-01-01+0100/P1M')
) v(t);

-- ...while a long contract that still ends in range is accepted
SELECT 'R3000000/2026-01-01/P1M'::cycle;

-- The offending text is quoted in the message as given
SELECT pg_temp.err($$SELECT ' R/2026-13-01/P1M '::credits.cycle$$);
