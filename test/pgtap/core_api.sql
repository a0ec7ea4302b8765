--
-- pgTAP: the functions of SPEC section 5 and the status helper exist with
-- their signatures, are not STRICT (NULLs raise 22004), have the right
-- volatility, and the writing ones are SECURITY DEFINER with a fixed
-- search_path.
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

-- name, argument types, return type, volatility, writes
CREATE TEMP TABLE api (name text, args text[], rettype text, volatility text, writes boolean);
INSERT INTO api VALUES
	('unlock', '{text,text,text}', 'boolean', 'volatile', true),
	('unlock_many', '{text,text,text[],boolean}', 'setof record', 'volatile', true),
	('is_unlocked', '{text,text}', 'boolean', 'stable', false),
	('balance', '{text}', 'bigint', 'stable', false),
	('grant_one_time', '{text,text,bigint,"timestamp with time zone"}', 'bigint', 'volatile', true),
	('grant_referral', '{text,text,bigint,"timestamp with time zone"}', 'bigint', 'volatile', true),
	('adjust', '{text,text,bigint,text}', 'bigint', 'volatile', true),
	('revoke_grant', '{bigint,text,text}', 'bigint', 'volatile', true),
	('refund', '{text,text,text}', 'boolean', 'volatile', true),
	('renew_due', '{integer}', 'bigint', 'volatile', true),
	('expire_due', '{integer}', 'bigint', 'volatile', true),
	('verify', '{text}', 'setof record', 'stable', false),
	('clock', '{}', 'timestamp with time zone', 'stable', false),
	('usage_period', '{text,"timestamp with time zone"}', 'tstzrange', 'stable', false),
	('upsert_org', '{text,credits.cycle,bigint,bigint,boolean}', 'boolean', 'volatile', true),
	('upsert_member', '{text,text,bigint,boolean}', 'boolean', 'volatile', true),
	('delete_org', '{text}', 'boolean', 'volatile', true),
	('delete_member', '{text,text}', 'boolean', 'volatile', true);

SELECT plan((SELECT count(*)::int * 5 FROM api) + 10);

SELECT has_function('credits', name, args, format('credits.%s(%s) exists', name, array_to_string(args, ', ')))
FROM api ORDER BY name;

SELECT function_returns('credits', name, args, rettype,
						format('credits.%s returns %s', name, rettype))
FROM api ORDER BY name;

SELECT volatility_is('credits', name, args, volatility,
					 format('credits.%s is %s', name, upper(volatility)))
FROM api ORDER BY name;

SELECT isnt_strict('credits', name, args,
				   format('credits.%s is not STRICT: NULLs raise 22004', name))
FROM api ORDER BY name;

-- writing functions run as the owner with a search_path nobody can hijack
SELECT is(p.prosecdef AND p.proconfig = '{"search_path=pg_catalog, pg_temp"}',
		  true,
		  format('credits.%s is SECURITY DEFINER with search_path = pg_catalog, pg_temp', api.name))
FROM api
JOIN pg_catalog.pg_proc p
	ON p.proname = api.name AND p.pronamespace = 'credits'::regnamespace
	AND pg_catalog.oidvectortypes(p.proargtypes) = array_to_string(api.args, ', ')
WHERE api.writes OR api.name IN ('balance', 'is_unlocked', 'verify', 'usage_period')
UNION ALL
SELECT pass(format('credits.%s reads the clock only', api.name))
FROM api WHERE NOT api.writes AND api.name NOT IN ('balance', 'is_unlocked', 'verify', 'usage_period');

-- defaults of SPEC section 5
SELECT is(pg_catalog.pg_get_function_arguments('credits.unlock_many(text, text, text[], boolean)'::regprocedure),
		  'org text, member text, prospects text[], partial boolean DEFAULT false',
		  'unlock_many: partial defaults to false');
SELECT is(pg_catalog.pg_get_function_arguments('credits.grant_referral(text, text, bigint, timestamptz)'::regprocedure),
		  'org text, referred text, amount bigint DEFAULT 20, expires_at timestamp with time zone DEFAULT NULL::timestamp with time zone',
		  'grant_referral: 20 credits, no expiry by default');
SELECT is(pg_catalog.pg_get_function_arguments('credits.refund(text, text, text)'::regprocedure),
		  'org text, prospect text, note text DEFAULT NULL::text',
		  'refund: the note is optional');
SELECT is(pg_catalog.pg_get_function_result('credits.unlock_many(text, text, text[], boolean)'::regprocedure),
		  'TABLE(prospect text, charged boolean, unlocked boolean, reason text)',
		  'unlock_many returns prospect, charged, unlocked, reason');
SELECT is(pg_catalog.pg_get_function_result('credits.verify(text)'::regprocedure),
		  'TABLE(org text, problem text)',
		  'verify returns org, problem');

-- the public tables and views
SELECT has_table('credits', 'orgs', 'credits.orgs is a table');
SELECT has_table('credits', 'members', 'credits.members is a table');
SELECT has_table('credits', 'ledger', 'credits.ledger is a table');
SELECT columns_are('credits', 'unlocks', ARRAY['org', 'prospect', 'member', 'unlocked_at'],
				   'credits.unlocks has the columns of SPEC section 3');
SELECT columns_are('credits', 'grants',
				   ARRAY['id', 'org', 'kind', 'amount', 'remaining', 'starts_at',
						 'expires_at', 'ref', 'created_at'],
				   'credits.grants has the columns of SPEC section 3');

SELECT * FROM finish();
ROLLBACK;
