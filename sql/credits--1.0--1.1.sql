/* credits--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION credits UPDATE TO '1.1'" to load this file. \quit

-- The usage period containing any instant, for reports on past periods
CREATE FUNCTION credits.usage_period(org text, at timestamptz DEFAULT NULL)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'credits_usage_period'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.usage_period(text, timestamptz) IS
'the usage period of an org containing an instant (the clock when NULL)';

REVOKE ALL ON FUNCTION credits.usage_period(text, timestamptz) FROM PUBLIC;

-- The app rights now include usage_period
CREATE OR REPLACE FUNCTION credits.grant_app_rights(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role cannot be null' USING ERRCODE = '22004';
	END IF;
	EXECUTE format('GRANT USAGE ON SCHEMA credits TO %s', role);
	EXECUTE format('GRANT SELECT, INSERT ON credits.unlocks TO %s', role);
	EXECUTE format('GRANT SELECT ON credits.org_status, credits.member_status TO %s', role);
	EXECUTE format('GRANT EXECUTE ON FUNCTION'
				   ' credits.unlock(text, text, text),'
				   ' credits.unlock_many(text, text, text[], boolean),'
				   ' credits.is_unlocked(text, text),'
				   ' credits.balance(text),'
				   ' credits.org_status_of(text),'
				   ' credits.usage_period(text, timestamptz),'
				   ' credits.months(credits.cycle),'
				   ' credits.clock(),'
				   ' credits.unlock_trigger(),'
				   ' credits.attach_unlock_trigger(regclass, name, name, name, name, text, name)'
				   ' TO %s', role);
	INSERT INTO credits.rights (role_name, level)
	VALUES (role::text, 'app') ON CONFLICT DO NOTHING;
END
$$;

-- Re-apply the rights given by grant_app_rights and grant_admin_rights so
-- far to what this version adds (roles dropped since are skipped)
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT DISTINCT role_name FROM credits.rights
			 WHERE pg_catalog.to_regrole(role_name) IS NOT NULL LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION credits.usage_period(text, timestamptz) TO %s',
					   r.role_name);
	END LOOP;
END
$$;
