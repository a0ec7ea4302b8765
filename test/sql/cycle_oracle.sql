--
-- credits.cycle against PostgreSQL's own arithmetic
--
-- Period k must start at (anchor + k * step) AT TIME ZONE zone and end where
-- period k + 1 starts.  Checked for every anchor day of a leap year (2024)
-- and a common year (2025), steps of 1, 3 and 12 months, k = 0 .. 40, in UTC
-- and three zones with daylight saving time (Lord Howe shifts by 30
-- minutes).  The anchor's time of day cycles through midnight and times
-- that fall into DST gaps (02:15, 02:30) and overlaps (01:45, 02:30) in
-- some of these zones.  Each combination also checks that period_index()
-- puts the period's first instant in period k and the instant before it in
-- period k - 1.
--
\i test/helpers.sql

CREATE TEMP TABLE oracle AS
SELECT zone, step, anchor, k,
	period(cycle(anchor, step, NULL, zone), k) AS got,
	period_index(cycle(anchor, step, NULL, zone),
				 (anchor + k * step) AT TIME ZONE zone) AS idx_at_start,
	period_index(cycle(anchor, step, NULL, zone),
				 ((anchor + k * step) AT TIME ZONE zone) - interval '1 microsecond') AS idx_before,
	(anchor + k * step) AT TIME ZONE zone AS want_start,
	(anchor + (k + 1) * step) AT TIME ZONE zone AS want_end
FROM (VALUES ('UTC'), ('Europe/Stockholm'), ('America/New_York'),
			 ('Australia/Lord_Howe')) z(zone),
	(VALUES (interval '1 month'), (interval '3 months'), (interval '12 months')) s(step),
	(SELECT d + (ARRAY[time '00:00', time '01:45', time '02:15', time '02:30'])
			[1 + (row_number() OVER (ORDER BY d))::int % 4] AS anchor
	 FROM generate_series(timestamp '2024-01-01', timestamp '2025-12-31',
						  interval '1 day') d) a,
	generate_series(0, 40) k;

SELECT count(*) AS combinations_checked,
	count(*) FILTER (WHERE got IS DISTINCT FROM tstzrange(want_start, want_end)
					 OR idx_at_start IS DISTINCT FROM k
					 OR idx_before IS DISTINCT FROM nullif(k - 1, -1)) AS mismatches,
	count(DISTINCT anchor::date) AS anchor_days
FROM oracle;

-- Any mismatch, for diagnosis (no rows expected)
SELECT zone, step, anchor, k, got, want_start, want_end, idx_at_start, idx_before
FROM oracle
WHERE got IS DISTINCT FROM tstzrange(want_start, want_end)
	OR idx_at_start IS DISTINCT FROM k
	OR idx_before IS DISTINCT FROM nullif(k - 1, -1)
ORDER BY zone, step, anchor, k
LIMIT 10;

-- The DST cases are really exercised: anchors whose local time does not
-- exist on some period start, and periods that are not a whole number of
-- days long
SELECT count(*) FILTER (WHERE (want_start AT TIME ZONE zone)::time <> anchor::time) > 0 AS gap_starts_seen,
	count(*) FILTER (WHERE extract(epoch FROM want_end - want_start)::bigint % 86400 <> 0) > 0 AS dst_lengths_seen,
	count(*) FILTER (WHERE zone = 'Australia/Lord_Howe'
					 AND extract(epoch FROM want_end - want_start)::bigint % 3600 = 1800) > 0 AS half_hour_shift_seen
FROM oracle;
