--
-- A walk through credits.cycle, the billing cycle of a plan.
-- Run it with scripts/demo (a throwaway cluster) or psql -f.
--
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS credits;
RESET client_min_messages;
SET search_path = credits, public;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

\echo
\echo '== An org signs up on 31 January 2026 on a monthly plan, twelve months.'
\echo '   Its cycle, written as an ISO 8601 repeating interval:'
SELECT 'R12/2026-01-31/P1M'::cycle AS monthly_plan;

\echo
\echo '== Its periods start on the sign-up day, clamped to short months:'
SELECT k, period('R12/2026-01-31/P1M', k) AS period
FROM generate_series(0, 4) k;

\echo
\echo '== Which period is 15 March 2026 in? (a period includes its start, not its end)'
SELECT period_index('R12/2026-01-31/P1M', '2026-03-15') AS k,
	period_at('R12/2026-01-31/P1M', '2026-03-15') AS period;

\echo
\echo '== After the twelfth period the contract is over:'
SELECT contract('R12/2026-01-31/P1M') AS contract,
	period_at('R12/2026-01-31/P1M', '2027-02-01') AS period_in_2027;

\echo
\echo '== An annual plan in Stockholm, signed up on 29 February 2024 at 09:30 local time.'
\echo '   Renewals fall on 28 February in common years, at 09:30 Stockholm time:'
SELECT k, lower(period(c, k)) AS renews_at,
	lower(period(c, k)) AT TIME ZONE 'Europe/Stockholm' AS local_time
FROM (SELECT cycle('2024-02-29 09:30', '1 year', NULL, 'Europe/Stockholm') c) s,
	generate_series(0, 4) k;

\echo
\echo '== The monthly periods of that plan overlapping the second quarter of 2026:'
SELECT periods('R/2026-01-31[Europe/Stockholm]/P1M', '[2026-04-01, 2026-07-01)') AS period;

\echo
\echo '== Bad input says what is wrong:'
\set ON_ERROR_STOP 0
SELECT 'R/2026-02-30/P1M'::cycle;
SELECT 'R/2026-01-31[CEST]/P1M'::cycle;
\set ON_ERROR_STOP 1
