--
-- The clock: credits.clock and credits.clock_writes
--
\i test/helpers.sql

-- ISO 8601 with Z or an offset, shown in UTC
SET credits.clock = '2026-03-01T00:00:00Z';
SHOW credits.clock;
SELECT clock();
SET credits.clock = '2026-03-01T01:30:00+01:30';
SHOW credits.clock;
SET credits.clock = '2026-03-01 00:00:00.25-05';
SHOW credits.clock;
SET credits.clock = '2026-03-01T00:00:00.123456Z';
SHOW credits.clock;
-- independent of TimeZone and DateStyle
SET timezone = 'Asia/Tokyo';
SET datestyle = 'SQL, DMY';
SET credits.clock = '2026-03-01T00:00:00Z';
SHOW credits.clock;
RESET timezone;
RESET datestyle;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- Anything else: 22007
SELECT pg_temp.err(format('SET credits.clock = %L', v))
FROM (VALUES ('2026-03-01T00:00:00'), ('2026-03-01'), ('now'), ('today'),
			 ('epoch'), ('infinity'), ('2026-13-01T00:00:00Z'),
			 ('2026-02-29T00:00:00Z'), ('2026-03-01T24:00:00Z'),
			 ('2026-03-01T00:00:00+16:00'), ('March 1, 2026'), ('2026-03-01T00:00Z junk'),
			 ('2026-03-01T00:00:00.1234567Z'), ('0001-01-01T00:00:00+01:00'),
			 ('9999-12-31T23:59:59-15:00')) x(v);
-- blanks around the value are ignored; an empty value means no override
SET credits.clock = E'\t2026-03-01T00:00:00Z \n';
SHOW credits.clock;
SET credits.clock = '';
SELECT clock() = now() AS clock_is_now;

-- RESET returns to the transaction timestamp
RESET credits.clock;
SHOW credits.clock;
BEGIN;
SELECT clock() = now() AS is_now;
COMMIT;

-- Only superusers (or roles granted SET on it) may set it: 42501
CREATE ROLE credits_clock_user;
SET ROLE credits_clock_user;
SELECT pg_temp.err($$SET credits.clock = '2026-03-01T00:00:00Z'$$);
-- ... nor make it stick with ALTER ROLE ... SET
SELECT pg_temp.err($$ALTER ROLE credits_clock_user SET credits.clock = '2026-03-01T00:00:00Z'$$);
RESET ROLE;
SELECT count(*) AS role_settings FROM pg_db_role_setting
WHERE setrole = 'credits_clock_user'::regrole;
DROP ROLE credits_clock_user;

-- Names under credits. are reserved
SELECT pg_temp.err($$SET credits.no_such_setting = 1$$);

-- A value set before the library is loaded is checked when it loads:
-- a superuser's bad value, and any non-superuser's value, are discarded
\c
SET credits.clock = 'not a time';
SELECT credits.clock() = now() AS bad_value_discarded;
\c
CREATE ROLE credits_clock_user2;
SET ROLE credits_clock_user2;
SET credits.clock = '2000-01-01T00:00:00Z';
RESET ROLE;
SELECT credits.clock() = now() AS unprivileged_value_discarded;
DROP ROLE credits_clock_user2;
