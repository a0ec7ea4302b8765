--
-- pgTAP: the public functions of credits.cycle exist with the signatures,
-- return types, volatility, strictness and parallel safety of SPEC section 2.
--
\set ON_ERROR_STOP 1
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS credits;
RESET client_min_messages;

-- name, argument types, return type, strict
CREATE TEMP TABLE api (name text, args text[], rettype text, strict boolean);
INSERT INTO api VALUES
	('cycle', '{timestamp without time zone,interval,integer,text}', 'credits.cycle', false),
	('cycle_from', '{timestamp with time zone,interval,integer,text}', 'credits.cycle', false),
	('period_at', '{credits.cycle,timestamp with time zone}', 'tstzrange', true),
	('period_index', '{credits.cycle,timestamp with time zone}', 'integer', true),
	('period', '{credits.cycle,integer}', 'tstzrange', true),
	('periods', '{credits.cycle,tstzrange}', 'setof tstzrange', true),
	('anchor', '{credits.cycle}', 'timestamp without time zone', true),
	('zone', '{credits.cycle}', 'text', true),
	('step', '{credits.cycle}', 'interval', true),
	('period_count', '{credits.cycle}', 'integer', true),
	('months', '{credits.cycle}', 'integer', true),
	('contract', '{credits.cycle}', 'tstzrange', true),
	('cycle_in', '{cstring}', 'credits.cycle', true),
	('cycle_out', '{credits.cycle}', 'cstring', true),
	('cycle_recv', '{internal}', 'credits.cycle', true),
	('cycle_send', '{credits.cycle}', 'bytea', true),
	('cycle_cmp', '{credits.cycle,credits.cycle}', 'integer', true),
	('cycle_hash', '{credits.cycle}', 'integer', true),
	('cycle_hash_extended', '{credits.cycle,bigint}', 'bigint', true);

SELECT plan((SELECT count(*)::int * 5 FROM api) + 18);

SELECT has_type('credits', 'cycle', 'type credits.cycle exists');

SELECT has_function('credits', name, args, format('credits.%s(%s) exists', name, array_to_string(args, ', ')))
FROM api ORDER BY name, args;

SELECT function_returns('credits', name, args, rettype,
						format('credits.%s(%s) returns %s', name, array_to_string(args, ', '), rettype))
FROM api ORDER BY name, args;

SELECT volatility_is('credits', name, args, 'immutable',
					 format('credits.%s(%s) is IMMUTABLE', name, array_to_string(args, ', ')))
FROM api ORDER BY name, args;

SELECT CASE WHEN strict
	THEN is_strict('credits', name, args, format('credits.%s(%s) is STRICT', name, array_to_string(args, ', ')))
	ELSE isnt_strict('credits', name, args, format('credits.%s(%s) is not STRICT (constructor)', name, array_to_string(args, ', ')))
	END
FROM api ORDER BY name, args;

SELECT is(p.proparallel, 's',
		  format('credits.%s(%s) is PARALLEL SAFE', api.name, array_to_string(api.args, ', ')))
FROM api
JOIN pg_catalog.pg_proc p
	ON p.proname = api.name
	AND p.pronamespace = 'credits'::regnamespace
	AND pg_catalog.oidvectortypes(p.proargtypes) = array_to_string(api.args, ', ')
ORDER BY api.name, api.args;

-- Every function of the type is accounted for above
SELECT is((SELECT count(*)::int FROM pg_catalog.pg_proc p
		   WHERE p.pronamespace = 'credits'::regnamespace
			 AND (p.proname LIKE 'cycle%' OR p.proname IN
				  ('period_at', 'period_index', 'period', 'periods', 'anchor',
				   'zone', 'step', 'period_count', 'months', 'contract'))
			 AND p.proname NOT IN ('cycle_eq', 'cycle_ne', 'cycle_lt',
								   'cycle_le', 'cycle_gt', 'cycle_ge')),
		  (SELECT count(*)::int FROM api),
		  'no untested cycle functions');

-- Defaults of the constructors
SELECT is(pg_catalog.pg_get_function_arguments('credits.cycle(timestamp, interval, integer, text)'::regprocedure),
		  'anchor timestamp without time zone, step interval, periods integer DEFAULT NULL::integer, zone text DEFAULT ''UTC''::text',
		  'credits.cycle() defaults: periods NULL, zone UTC');
SELECT is(pg_catalog.pg_get_function_arguments('credits.cycle_from(timestamptz, interval, integer, text)'::regprocedure),
		  'start timestamp with time zone, step interval, periods integer DEFAULT NULL::integer, zone text DEFAULT ''UTC''::text',
		  'credits.cycle_from() defaults: periods NULL, zone UTC');

-- Operators and operator classes
SELECT has_operator('credits.cycle', 'credits', op::name, 'credits.cycle', 'boolean',
					format('operator %s (cycle, cycle) exists', op))
FROM unnest(ARRAY['=', '<>', '<', '<=', '>', '>=']) op;
SELECT has_opclass('credits', 'cycle_ops', 'btree operator class exists');
SELECT has_opclass('credits', 'cycle_hash_ops', 'hash operator class exists');
SELECT is((SELECT opcdefault FROM pg_catalog.pg_opclass
		   WHERE opcname = 'cycle_ops' AND opcnamespace = 'credits'::regnamespace),
		  true, 'btree operator class is the default');
SELECT is((SELECT opcdefault FROM pg_catalog.pg_opclass
		   WHERE opcname = 'cycle_hash_ops' AND opcnamespace = 'credits'::regnamespace),
		  true, 'hash operator class is the default');

-- A few behaviours, as assertions
SELECT is(credits.period_count('R/2026-01-01/P1M'), NULL, 'open-ended cycle has no period count');
SELECT is(credits.months('R/2026-01-01/P1Y'), 12, 'P1Y is 12 months');
SELECT throws_ok($$SELECT 'R0/2026-01-01/P1M'::credits.cycle$$, '22023', NULL, 'R0 raises 22023');
SELECT throws_ok($$SELECT 'R/2026-13-01/P1M'::credits.cycle$$, '22007', NULL, 'month 13 raises 22007');

SELECT * FROM finish();
ROLLBACK;
