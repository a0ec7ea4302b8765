--
-- Session setup shared by the regression tests (\i test/helpers.sql): the
-- extension, fixed display settings, and pg_temp.err(sql), which runs one
-- statement and returns the error it raises as lines "SQLSTATE message",
-- "DETAIL: ...", "HINT: ..." (or "ok"), so that expected files pin
-- SQLSTATEs without C source locations.
--
\set ECHO none
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS credits;
RESET client_min_messages;
SET search_path = credits, public;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';

CREATE FUNCTION pg_temp.err(sql text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	det text;
	hnt text;
BEGIN
	EXECUTE sql;
	RETURN NEXT 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
	RETURN NEXT st || ' ' || msg;
	IF det <> '' THEN
		RETURN NEXT 'DETAIL: ' || det;
	END IF;
	IF hnt <> '' THEN
		RETURN NEXT 'HINT: ' || hnt;
	END IF;
END
$$;
\set ECHO all
