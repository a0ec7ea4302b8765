--
-- credits.cycle: constructors, periods, accessors
--
\i test/helpers.sql

--
-- Constructors
--
SELECT cycle('2026-01-31', '1 month') AS monthly,
	cycle('2026-01-31 10:00', '1 year', 3, 'america/new_york') AS annual,
	cycle('2026-01-31 10:00', '12 months', NULL, 'UTC') AS twelve_months,
	cycle('2026-01-31', '18 months', 2) AS eighteen;

-- cycle_from: the local time of the instant in the zone, seconds
-- truncated (SPEC section 2)
SELECT cycle_from('2026-01-31 10:00:01.999999+00', '1 month', NULL, 'Europe/Stockholm'),
	cycle_from('2026-07-31 23:30:00+00', '1 year', 12, 'Asia/Tokyo'),
	cycle_from('2026-03-15 12:00:00+00', '1 month');

SELECT pg_temp.err(sql) FROM (VALUES
	($$SELECT credits.cycle(NULL, '1 month')$$),
	($$SELECT credits.cycle('2026-01-01', NULL)$$),
	($$SELECT credits.cycle('2026-01-01', '1 month', 1, NULL)$$),
	($$SELECT credits.cycle('2026-01-01 00:00:00.5', '1 month')$$),
	($$SELECT credits.cycle('2026-01-01', '1 month 1 day')$$),
	($$SELECT credits.cycle('2026-01-01', '30 days')$$),
	($$SELECT credits.cycle('2026-01-01', '1 hour')$$),
	($$SELECT credits.cycle('2026-01-01', '0 months')$$),
	($$SELECT credits.cycle('2026-01-01', '-1 month')$$),
	($$SELECT credits.cycle('2026-01-01', '1 month', 0)$$),
	($$SELECT credits.cycle('2026-01-01', '1 month', -3)$$),
	($$SELECT credits.cycle('2026-01-01', '1 month', NULL, 'CEST')$$),
	($$SELECT credits.cycle('2026-01-01', '1 month', NULL, 'UTC+3')$$),
	($$SELECT credits.cycle('2026-01-01', '1 month', NULL, '+01:00')$$),
	($$SELECT credits.cycle('infinity', '1 month')$$),
	($$SELECT credits.cycle('10000-01-01', '1 month')$$),
	($$SELECT credits.cycle('0001-01-01 BC', '1 month')$$),
	($$SELECT credits.cycle('9999-01-01', '1 month', 3600000)$$),
	($$SELECT credits.cycle_from(NULL, '1 month')$$),
	($$SELECT credits.cycle_from('infinity', '1 month')$$),
	($$SELECT credits.cycle_from(now(), '1 month', NULL, 'Nowhere/Special')$$)
) v(sql);

--
-- Month-end clamping, without accumulating
--

-- Monthly from January 31st: Feb 28, Mar 31, Apr 30, ... (2026 common year)
SELECT k, period(cycle('2026-01-31', '1 month'), k) FROM generate_series(0, 13) k;

-- ... and Feb 29 in a leap year
SELECT lower(period(cycle('2028-01-31', '1 month'), 1)) AS leap_february;

-- Annual from February 29th: Feb 28 in common years, Feb 29 in leap years
SELECT k, period('R/2024-02-29/P1Y', k) FROM generate_series(0, 8) k;

-- Quarterly from August 31st
SELECT k, lower(period('R/2026-08-31/P3M', k)) FROM generate_series(0, 4) k;

--
-- Zones and daylight saving time
--

-- Periods start at the wall-clock anchor time in the zone, across DST
SELECT k, period('R/2026-01-15T09:00[Europe/Stockholm]/P1M', k)
FROM generate_series(0, 11) k;

-- A wall-clock time inside the spring DST gap moves forward by the gap:
-- 02:30 on 2026-03-29 in Stockholm does not exist and becomes 03:30 CEST
SELECT lower(period('R/2026-01-29T02:30[Europe/Stockholm]/P1M', 2)) AS in_gap,
	('2026-03-29 02:30'::timestamp AT TIME ZONE 'Europe/Stockholm') AS oracle;

-- ... and for Lord Howe, whose DST shift is 30 minutes (02:00 -> 02:30)
SELECT lower(period('R/2026-09-04T02:15[Australia/Lord_Howe]/P1M', 1)) AS in_gap,
	('2026-10-04 02:15'::timestamp AT TIME ZONE 'Australia/Lord_Howe') AS oracle;

-- A wall-clock time in the autumn overlap is the later, standard-time instant
SELECT lower(period('R/2026-09-25T02:30[Europe/Stockholm]/P1M', 1)) AS in_overlap,
	('2026-10-25 02:30'::timestamp AT TIME ZONE 'Europe/Stockholm') AS oracle;

--
-- R<n> bounds: periods 0 .. n-1 only
--
SELECT k, period('R3/2026-01-31/P1M', k) FROM generate_series(-1, 3) k;
SELECT contract('R3/2026-01-31/P1M'), contract('R/2026-01-31/P1M');
SELECT period_at('R3/2026-01-31/P1M', '2026-01-30 23:59:59.999999+00') AS before_anchor,
	period_at('R3/2026-01-31/P1M', '2026-04-30 00:00:00+00') AS after_contract,
	period_index('R3/2026-01-31/P1M', '2026-04-29 23:59:59.999999+00') AS last_index,
	period_index('R3/2026-01-31/P1M', '2026-04-30 00:00:00+00') AS after_index;

--
-- Boundary instants: a period includes its start and excludes its end
--
SELECT t, period_index('R/2026-01-31/P1M', t), period_at('R/2026-01-31/P1M', t)
FROM (VALUES
	('2026-01-31 00:00:00+00'::timestamptz),
	('2026-02-27 23:59:59.999999+00'),
	('2026-02-28 00:00:00+00'),
	('2026-03-30 23:59:59.999999+00'),
	('2026-03-31 00:00:00+00'),
	('2036-01-31 00:00:00+00')
) v(t);

-- In a zone, the boundary is the local anchor time
SELECT period_index(c, '2026-02-14 22:59:59.999999+00') AS before,
	period_index(c, '2026-02-14 23:00:00+00') AS at
FROM (SELECT 'R/2026-01-15[Europe/Stockholm]/P1M'::cycle c) s;

-- Infinite instants lie outside every contract
SELECT period_at('R/2026-01-31/P1M', 'infinity'),
	period_index('R/2026-01-31/P1M', '-infinity');

--
-- periods(c, r): contract periods overlapping a range
--
SELECT periods('R/2026-01-31/P1M', '[2026-02-15, 2026-05-01)');
-- touching bounds: an exclusive upper bound at a period start excludes it,
-- an inclusive one includes it; an exclusive lower bound at a period end
-- excludes that period
SELECT periods('R/2026-01-31/P1M', '[2026-02-15, 2026-03-31)');
SELECT periods('R/2026-01-31/P1M', '[2026-02-15, 2026-03-31]');
SELECT periods('R/2026-01-31/P1M', '(2026-02-28, 2026-03-01)');
SELECT periods('R/2026-01-31/P1M', '[2026-02-28, 2026-02-28]');
-- before the anchor, after the contract, empty
SELECT count(*) FROM periods('R/2026-01-31/P1M', '[2025-01-01, 2026-01-31)');
SELECT count(*) FROM periods('R3/2026-01-31/P1M', '[2027-01-01, 2028-01-01)');
SELECT count(*) FROM periods('R/2026-01-31/P1M', 'empty');
SELECT count(*) FROM periods('R3/2026-01-31/P1M', '[infinity, infinity]');
SELECT count(*) FROM periods('R3/2026-01-31/P1M', '[infinity,)');
-- a range starting at infinity overlaps nothing, even of an open-ended cycle
SELECT count(*) FROM periods('R/2026-01-31/P1M', '[infinity, infinity]');
SELECT count(*) FROM periods('R/2026-01-31/P1M', '[infinity,)');
SELECT count(*) FROM periods('R/2026-01-31/P1M', '(, -infinity]');
-- unbounded below starts at period 0; unbounded above needs a contract
SELECT periods('R3/2026-01-31/P1M', '(,)');
SELECT periods('R2/2026-01-31/P1Y', '[-infinity, infinity]');
SELECT count(*) FROM periods('R/2026-01-31/P1M', '(, 2027-01-31)');
SELECT pg_temp.err($$SELECT credits.periods('R/2026-01-31/P1M', '[2026-01-01,)')$$);
SELECT pg_temp.err($$SELECT credits.periods('R/2026-01-31/P1M', '[2026-01-01, infinity)')$$);
-- a long range
SELECT count(*), min(lower(p)), max(upper(p))
FROM periods('R/2026-01-31/P1M', '[2026-01-01, 2126-01-01)') p;

--
-- Accessors
--
SELECT c, anchor(c), zone(c), step(c), period_count(c), months(c), contract(c)
FROM (VALUES
	('R12/2026-01-31/P1M'::cycle),
	('R/2026-01-31T10:30[asia/tokyo]/P2Y'),
	('R4/2026-01-31[Europe/Stockholm]/P3M')
) v(c);

-- cycle(anchor(c), step(c), period_count(c), zone(c)) rebuilds c
SELECT bool_and(cycle(anchor(c), step(c), period_count(c), zone(c)) = c)
FROM (VALUES
	('R12/2026-01-31/P1M'::cycle),
	('R/2026-01-31T10:30[Asia/Tokyo]/P2Y')
) v(c);

--
-- Periods beyond the timestamp range: 22008
--
SELECT pg_temp.err($$SELECT credits.period('R/9999-01-01/P3000000M', 1)$$);
SELECT pg_temp.err($$SELECT credits.period('R/2026-01-01/P1M', 2147483647)$$);
SELECT period('R/9999-01-01/P3000000M', 0);

--
-- Strict functions return NULL on NULL input
--
SELECT period_at(NULL, now()) IS NULL AS a, period_index('R/2026-01-01/P1M', NULL) IS NULL AS b,
	period(NULL, 0) IS NULL AS c, anchor(NULL) IS NULL AS d,
	(SELECT count(*) FROM periods(NULL, '[2026-01-01, 2027-01-01)')) AS e;
