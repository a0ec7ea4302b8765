--
-- pgTAP: the privilege matrix of SPEC section 7 for PUBLIC, an app role
-- and an admin role, on every table, view, sequence and function of the
-- extension.
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

CREATE ROLE credits_tap_app;
CREATE ROLE credits_tap_admin;
SELECT credits.grant_app_rights('credits_tap_app');
SELECT credits.grant_admin_rights('credits_tap_admin');

-- relation, privileges of the app role, privileges of the admin role
CREATE TEMP TABLE rel_rights (rel text, app text[], admin text[]);
INSERT INTO rel_rights
SELECT c.relname,
	CASE c.relname WHEN 'unlocks' THEN '{INSERT,SELECT}'
		WHEN 'org_status' THEN '{SELECT}' WHEN 'member_status' THEN '{SELECT}'
		ELSE '{}' END::text[],
	CASE c.relname WHEN 'unlocks' THEN '{INSERT,SELECT}'
		WHEN 'org_status' THEN '{SELECT}' WHEN 'member_status' THEN '{SELECT}'
		WHEN 'orgs' THEN '{DELETE,INSERT,SELECT,UPDATE}'
		WHEN 'members' THEN '{DELETE,INSERT,SELECT,UPDATE}'
		WHEN 'grants' THEN '{SELECT}' WHEN 'ledger' THEN '{SELECT}'
		ELSE '{}' END::text[]
FROM pg_catalog.pg_class c
WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind IN ('r', 'v', 'S');

-- functions the app role may execute; the admin role has these and more
CREATE TEMP TABLE app_functions (fn text);
INSERT INTO app_functions VALUES
	('unlock'), ('unlock_many'), ('is_unlocked'), ('balance'), ('org_status_of'),
	('usage_period'), ('months'), ('clock'), ('unlock_trigger'), ('attach_unlock_trigger'),
	('org_status_for'), ('member_status_for'), ('unlocked_at_unset');
CREATE TEMP TABLE admin_only_functions (fn text);
INSERT INTO admin_only_functions VALUES
	('grant_one_time'), ('grant_referral'), ('adjust'), ('revoke_grant'), ('refund'),
	('renew_due'), ('expire_due'), ('verify'), ('cycle'), ('cycle_from'), ('period_at'),
	('period_index'), ('period'), ('periods'), ('anchor'), ('zone'), ('step'),
	('period_count'), ('contract'), ('cycle_eq'), ('cycle_ne'), ('cycle_lt'), ('cycle_le'),
	('cycle_gt'), ('cycle_ge'), ('cycle_cmp'), ('cycle_hash'), ('cycle_hash_extended'),
	('upsert_org'), ('upsert_member'), ('delete_org'), ('delete_member'), ('cycle_in'), ('cycle_out'), ('cycle_recv'), ('cycle_send');

CREATE TEMP TABLE fns AS
SELECT p.proname AS fn,
	string_to_array(pg_catalog.oidvectortypes(p.proargtypes), ', ') AS args,
	p.proname IN (SELECT fn FROM app_functions) AS app,
	p.proname IN (SELECT fn FROM app_functions UNION SELECT fn FROM admin_only_functions) AS admin
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'credits'::regnamespace;

SELECT plan((SELECT count(*)::int * 3 FROM rel_rights) + (SELECT count(*)::int * 3 FROM fns) + 2);

SELECT table_privs_are('credits', rel, 'public', '{}'::text[],
					   format('PUBLIC has no rights on credits.%s', rel))
FROM rel_rights ORDER BY rel;
SELECT table_privs_are('credits', rel, 'credits_tap_app', app,
					   format('the app role has %s on credits.%s', app, rel))
FROM rel_rights ORDER BY rel;
SELECT table_privs_are('credits', rel, 'credits_tap_admin', admin,
					   format('the admin role has %s on credits.%s', admin, rel))
FROM rel_rights ORDER BY rel;

SELECT is(has_function_privilege('public', format('credits.%I(%s)', fn, array_to_string(args, ',')), 'EXECUTE'),
		  false, format('PUBLIC cannot execute credits.%s(%s)', fn, array_to_string(args, ', ')))
FROM fns ORDER BY fn, args;
SELECT is(has_function_privilege('credits_tap_app', format('credits.%I(%s)', fn, array_to_string(args, ',')), 'EXECUTE'),
		  app, format('the app role %s credits.%s(%s)',
					  CASE WHEN app THEN 'executes' ELSE 'cannot execute' END, fn, array_to_string(args, ', ')))
FROM fns ORDER BY fn, args;
SELECT is(has_function_privilege('credits_tap_admin', format('credits.%I(%s)', fn, array_to_string(args, ',')), 'EXECUTE'),
		  admin, format('the admin role %s credits.%s(%s)',
						CASE WHEN admin THEN 'executes' ELSE 'cannot execute' END, fn, array_to_string(args, ', ')))
FROM fns ORDER BY fn, args;

SELECT is(has_schema_privilege('public', 'credits', 'USAGE'), false, 'PUBLIC cannot use schema credits');
SELECT results_eq($$SELECT role_name::text COLLATE "default", level FROM credits.rights WHERE role_name LIKE 'credits_tap_%' ORDER BY 1, 2$$,
				  $$VALUES ('credits_tap_admin', 'admin'), ('credits_tap_admin', 'app'), ('credits_tap_app', 'app')$$,
				  'the roles given rights are recorded');

SELECT * FROM finish();
ROLLBACK;
