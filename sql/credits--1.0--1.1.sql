/* credits--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION credits UPDATE TO '1.1'" to load this file. \quit

-- The 1.1 library drops the anchor's seconds, not only their fraction
COMMENT ON FUNCTION credits.cycle_from(timestamptz, interval, integer, text) IS
'cycle anchored at the local time of an instant in a zone, seconds dropped';

-- The usage period containing any instant, for reports on past periods
CREATE FUNCTION credits.usage_period(org text, at timestamptz DEFAULT NULL)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'credits_usage_period'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.usage_period(text, timestamptz) IS
'the usage period of an org containing an instant (the clock when NULL)';

REVOKE ALL ON FUNCTION credits.usage_period(text, timestamptz) FROM PUBLIC;

-- The plan history up to the last restart, including a change made with
-- it, so that changes at the instant of a restart are read in statement
-- order.  For orgs restarted under 1.0 it is what 1.0 read: the changes
-- dated at or before the cut.
ALTER TABLE credits.org_state ADD COLUMN cut_seq bigint;

-- Every grant of the org that never expires and whose id is below
-- spent_below has no credits left: charges and status read the grants
-- from there on, by the index below (NULL: none known; the first charge
-- of each org sets it)
ALTER TABLE credits.org_state ADD COLUMN spent_below bigint;
DROP INDEX credits.grant_rows_org_expiry;
-- An org's grants by expiry; those that never expire (expires_at NULL,
-- sorted last) by id, read from org_state.spent_below on
CREATE INDEX grant_rows_org_expiry ON credits.grant_rows (org, expires_at, id);

-- 1.0 dated the first row of an org's plan history (the value before any
-- change) at the org's created_at, which need not be before the changes;
-- it is the value in force from the beginning
UPDATE credits.plan_changes p SET at = '-infinity'
 WHERE p.id OPERATOR(pg_catalog.=)
	   (SELECT pg_catalog.min(q.id) FROM credits.plan_changes q
		 WHERE q.org OPERATOR(pg_catalog.=) p.org)
   AND p.at OPERATOR(pg_catalog.<>) '-infinity'::pg_catalog.timestamptz;

UPDATE credits.org_state s
   SET cut_seq = coalesce(
		(SELECT pg_catalog.max(p.id) FROM credits.plan_changes p
		  WHERE p.org OPERATOR(pg_catalog.=) s.org
			AND p.at OPERATOR(pg_catalog.<=) s.cycle_cut), 0)
 WHERE s.cycle_cut IS NOT NULL;

-- 1.1 signals low balance at the INSERT of an org, and an org's first state
-- row is disarmed if that INSERT signalled.  Orgs 1.0 inserted were not
-- signalled: they get their state row now, armed, so that their first
-- write evaluates the signal as it did under 1.0.
INSERT INTO credits.org_state (org)
SELECT o.org FROM credits.orgs o
 WHERE NOT EXISTS (SELECT 1 FROM credits.org_state s
				   WHERE s.org OPERATOR(pg_catalog.=) o.org);

-- Room on each page for the new versions every charge writes (HOT
-- updates); pages written from now on
ALTER TABLE credits.org_state SET (fillfactor = 50);
ALTER TABLE credits.grant_left SET (fillfactor = 50);
ALTER TABLE credits.usage SET (fillfactor = 50);
-- Tables without a unique key are logged whole for logical replication,
-- so that a publication of all tables can carry their updates
ALTER TABLE credits.grant_left REPLICA IDENTITY FULL;
ALTER TABLE credits.usage REPLICA IDENTITY FULL;

-- unlocked_at is the clock's: an INSERT into credits.unlocks that leaves it
-- out gets the default -infinity below, which the trigger replaces; any
-- other value, NULL included, is refused
CREATE FUNCTION credits.unlocked_at_unset() RETURNS timestamptz
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'credits_unlocked_at_unset';

COMMENT ON FUNCTION credits.unlocked_at_unset() IS
'-infinity: the default of credits.unlocks.unlocked_at, standing for the column left out';

REVOKE ALL ON FUNCTION credits.unlocked_at_unset() FROM PUBLIC;

-- Written as a call of that function, not as the constant: the planner
-- evaluates the call, which loads the library before the INSERT runs, so
-- that a session's first INSERT into credits.unlocks passes through the
-- extension's executor hooks (README, Choices where the contract is silent)
ALTER VIEW credits.unlocks ALTER COLUMN unlocked_at
	SET DEFAULT credits.unlocked_at_unset();

-- The checks of a key argument (22023 empty, 22001 over 256 bytes), for
-- the functions written in SQL and PL/pgSQL
CREATE FUNCTION credits.check_key(key text, what text) RETURNS void
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'credits_check_key_sql';

COMMENT ON FUNCTION credits.check_key(text, text) IS
'raises the errors of a bad key argument: 22023 if empty, 22001 if over 256 bytes; what names it';

REVOKE ALL ON FUNCTION credits.check_key(text, text) FROM PUBLIC;

-- Function forms of the admin's INSERT and UPDATE of credits.orgs and
-- credits.members, for callers that reach the extension only through
-- functions (a PL/Proxy router, for one); they run the same triggers.
-- Every column is given, none defaults: a call sets the whole row, so a
-- forgotten argument cannot unfreeze an org or drop its threshold.  True
-- if the row was created or changed, false if it already held exactly
-- these values.
CREATE FUNCTION credits.upsert_org(org text, cycle credits.cycle,
	plan_credits bigint, low_balance_threshold bigint, frozen boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF upsert_org.frozen IS NULL THEN
		RAISE EXCEPTION 'frozen cannot be null' USING ERRCODE = '22004',
			DETAIL = 'upsert_org sets every column of the row; frozen is NULL.',
			HINT = 'Pass false for an organization that may spend.';
	END IF;
	INSERT INTO credits.orgs AS o
		(org, cycle, plan_credits, low_balance_threshold, frozen)
	VALUES (upsert_org.org, upsert_org.cycle, upsert_org.plan_credits,
			upsert_org.low_balance_threshold, upsert_org.frozen)
	ON CONFLICT ON CONSTRAINT orgs_pkey DO UPDATE
		SET cycle = excluded.cycle, plan_credits = excluded.plan_credits,
			low_balance_threshold = excluded.low_balance_threshold,
			frozen = excluded.frozen
		WHERE o.cycle OPERATOR(credits.<>) excluded.cycle
			OR (o.plan_credits, o.low_balance_threshold, o.frozen)
				IS DISTINCT FROM (excluded.plan_credits,
								  excluded.low_balance_threshold, excluded.frozen);
	RETURN FOUND;
END
$$;

COMMENT ON FUNCTION credits.upsert_org(text, credits.cycle, bigint, bigint, boolean) IS
'creates an organization or sets its cycle, plan credits, threshold and frozen flag, as INSERT or UPDATE of credits.orgs would';

CREATE FUNCTION credits.upsert_member(org text, member text,
	period_limit bigint, active boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF upsert_member.active IS NULL THEN
		RAISE EXCEPTION 'active cannot be null' USING ERRCODE = '22004',
			DETAIL = 'upsert_member sets every column of the row; active is NULL.',
			HINT = 'Pass true for a member who may spend.';
	END IF;
	INSERT INTO credits.members AS m (org, member, period_limit, active)
	VALUES (upsert_member.org, upsert_member.member,
			upsert_member.period_limit, upsert_member.active)
	ON CONFLICT ON CONSTRAINT members_pkey DO UPDATE
		SET period_limit = excluded.period_limit, active = excluded.active
		WHERE (m.period_limit, m.active)
			IS DISTINCT FROM (excluded.period_limit, excluded.active);
	RETURN FOUND;
END
$$;

COMMENT ON FUNCTION credits.upsert_member(text, text, bigint, boolean) IS
'adds a member or sets its period limit and active flag, as INSERT or UPDATE of credits.members would';

REVOKE ALL ON FUNCTION credits.upsert_org(text, credits.cycle, bigint, bigint, boolean),
	credits.upsert_member(text, text, bigint, boolean) FROM PUBLIC;

-- The status views for one org, as functions a router can route (no org
-- column: the caller named it); no rows for an unknown or NULL org, as
-- the views give
CREATE FUNCTION credits.org_status_for(org text)
RETURNS TABLE(period tstzrange, plan_period tstzrange, plan_credits bigint,
	credits_left bigint, used_this_period bigint, active_members integer,
	monthly_goal numeric, next_expiry timestamptz, next_expiry_credits bigint)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT s.period, s.plan_period, s.plan_credits, s.credits_left,
		s.used_this_period, s.active_members, s.monthly_goal, s.next_expiry,
		s.next_expiry_credits
	FROM credits.org_status s WHERE s.org = $1
$$;

COMMENT ON FUNCTION credits.org_status_for(text) IS
'the row of credits.org_status of one organization';

CREATE FUNCTION credits.member_status_for(org text)
RETURNS TABLE(member text, active boolean, period tstzrange,
	period_limit bigint, used_this_period bigint, credits_left bigint,
	can_spend bigint, monthly_goal numeric)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT s.member, s.active, s.period, s.period_limit, s.used_this_period,
		s.credits_left, s.can_spend, s.monthly_goal
	FROM credits.member_status s WHERE s.org = $1 ORDER BY s.member
$$;

COMMENT ON FUNCTION credits.member_status_for(text) IS
'the rows of credits.member_status of one organization, by member';

REVOKE ALL ON FUNCTION credits.org_status_for(text),
	credits.member_status_for(text) FROM PUBLIC;

-- DELETE of an org (refused with ZC006 once it has history; its members
-- go with it) and of a member, as functions; true if a row was deleted
CREATE FUNCTION credits.delete_org(org text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF delete_org.org IS NULL THEN
		RAISE EXCEPTION 'organization cannot be null' USING ERRCODE = '22004',
			DETAIL = 'The organization key is NULL.',
			HINT = 'Pass the key of the organization to delete.';
	END IF;
	PERFORM credits.check_key(delete_org.org, 'organization');
	DELETE FROM credits.orgs o WHERE o.org = delete_org.org;
	RETURN FOUND;
END
$$;

COMMENT ON FUNCTION credits.delete_org(text) IS
'deletes an organization without credits history, as DELETE FROM credits.orgs would';

CREATE FUNCTION credits.delete_member(org text, member text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF delete_member.org IS NULL OR delete_member.member IS NULL THEN
		RAISE EXCEPTION 'organization and member cannot be null' USING ERRCODE = '22004',
			DETAIL = format('NULL: %s.', concat_ws(', ',
				CASE WHEN delete_member.org IS NULL THEN 'org' END,
				CASE WHEN delete_member.member IS NULL THEN 'member' END)),
			HINT = 'Pass the keys of the organization and of the member to delete.';
	END IF;
	PERFORM credits.check_key(delete_member.org, 'organization');
	PERFORM credits.check_key(delete_member.member, 'member');
	-- the org first (SPEC section 7): a plain DELETE locks the member's
	-- row before its trigger can take the org
	PERFORM 1 FROM credits.orgs o WHERE o.org = delete_member.org
		FOR NO KEY UPDATE;
	DELETE FROM credits.members m
	 WHERE m.org = delete_member.org AND m.member = delete_member.member;
	RETURN FOUND;
END
$$;

COMMENT ON FUNCTION credits.delete_member(text, text) IS
'deletes a member, as DELETE FROM credits.members would';

REVOKE ALL ON FUNCTION credits.delete_org(text),
	credits.delete_member(text, text) FROM PUBLIC;

-- attach_unlock_trigger checks key columns through every level of domains,
-- the marker column only for existence, and names the argument in errors
CREATE OR REPLACE FUNCTION credits.attach_unlock_trigger(tbl regclass, org_col name,
	member_col name, prospect_col name, free_col name DEFAULT NULL,
	free_value text DEFAULT NULL, trigger_name name DEFAULT 'credits_charge')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	arg record;
	typ oid;
	tbl_name text;
	marker_type text;
	marker_oid oid;
	printed text;
	uncovered text;
BEGIN
	IF tbl IS NULL OR org_col IS NULL OR member_col IS NULL
		OR prospect_col IS NULL OR trigger_name IS NULL THEN
		RAISE EXCEPTION 'table, org, member and prospect columns and trigger name cannot be null'
			USING ERRCODE = '22004',
				  DETAIL = format('NULL: %s.',
								  concat_ws(', ',
											CASE WHEN tbl IS NULL THEN 'tbl' END,
											CASE WHEN org_col IS NULL THEN 'org_col' END,
											CASE WHEN member_col IS NULL THEN 'member_col' END,
											CASE WHEN prospect_col IS NULL THEN 'prospect_col' END,
											CASE WHEN trigger_name IS NULL THEN 'trigger_name' END)),
				  HINT = 'Name the app table, its org, member and prospect columns, and the trigger.';
	END IF;
	IF (free_col IS NULL) <> (free_value IS NULL) THEN
		RAISE EXCEPTION 'free_col and free_value go together'
			USING ERRCODE = '22023',
				  DETAIL = 'Rows whose free_col equals free_value are free uploads; give both or neither.',
				  HINT = 'Pass both free_col and free_value, or leave both out.';
	END IF;
	-- the table's name as messages quote it, "schema.table"
	SELECT n.nspname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) c.relname
	INTO tbl_name
	FROM pg_catalog.pg_class c
	JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	WHERE c.oid OPERATOR(pg_catalog.=) tbl;
	FOR arg IN SELECT * FROM (VALUES ('org_col', org_col, true),
									 ('member_col', member_col, true),
									 ('prospect_col', prospect_col, true),
									 ('free_col', free_col, false)) a(name, col, is_key)
			   WHERE a.col IS NOT NULL LOOP
		SELECT a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod)
		INTO typ, marker_type
		FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = tbl AND a.attname = arg.col AND a.attnum > 0
			AND NOT a.attisdropped;
		marker_oid := typ;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'column "%" of table "%" does not exist', arg.col, tbl_name
				USING ERRCODE = '42703',
					  DETAIL = format('Argument %s names it.', arg.name),
					  HINT = 'Name a column of the table.';
		END IF;
		-- through every level of domains to the base type
		WHILE (SELECT t.typtype FROM pg_catalog.pg_type t WHERE t.oid = typ) = 'd' LOOP
			SELECT t.typbasetype INTO typ FROM pg_catalog.pg_type t WHERE t.oid = typ;
		END LOOP;
		IF arg.is_key
			AND typ NOT IN ('text'::regtype, 'varchar'::regtype, 'uuid'::regtype,
							'int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN
			RAISE EXCEPTION 'column "%" of table "%" has type %, which cannot hold a key',
				arg.col, tbl_name, typ::regtype
				USING ERRCODE = '42804',
					  DETAIL = format('Argument %s names it.', arg.name),
					  HINT = 'Keys are text, varchar, uuid, smallint, integer or bigint columns.';
		END IF;
	END LOOP;
	-- a marker value the column can never print (a boolean prints t, not
	-- true; char(n) pads) would make no row a free upload: warn.  Only
	-- types whose input runs nobody's code are tried, the built-in ones
	-- (made at initdb, below FirstNormalObjectId), and enums by their
	-- labels: a cast to a domain, or to a type of the table owner's, would
	-- run its owner's code with the rights of this function's caller.
	IF free_col IS NOT NULL THEN
		IF marker_oid < 16384 THEN
			BEGIN
				EXECUTE format('SELECT pg_catalog.format(%L, $1::%s)', '%s', marker_type)
					INTO printed USING free_value;
			EXCEPTION WHEN OTHERS THEN
				printed := NULL;
			END;
		ELSIF (SELECT t.typtype FROM pg_catalog.pg_type t WHERE t.oid = marker_oid) = 'e' THEN
			SELECT e.enumlabel::text INTO printed
			FROM pg_catalog.pg_enum e
			WHERE e.enumtypid = marker_oid AND e.enumlabel = free_value;
		ELSE
			printed := free_value;
		END IF;
		IF printed IS DISTINCT FROM free_value THEN
			RAISE WARNING 'no value of column "%" of table "%" prints as "%"',
				free_col, tbl_name, free_value
				USING DETAIL = CASE WHEN printed IS NULL
						THEN format('The value is not a valid %s.', marker_type)
						ELSE format('The %s value written "%s" prints as "%s"; rows are compared on that text.',
									marker_type, free_value, printed) END,
					  HINT = 'Pass free_value as the column prints it, or no row is a free upload.';
		END IF;
	END IF;
	EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE ON %s FOR EACH ROW'
				   ' EXECUTE FUNCTION credits.unlock_trigger(%L, %L, %L%s)',
				   trigger_name, tbl, org_col, member_col, prospect_col,
				   CASE WHEN free_col IS NULL THEN ''
						ELSE format(', %L, %L', free_col, free_value) END);
	-- A table's row triggers fire only for its own rows.  Partitions get
	-- a clone of the trigger, but tables that inherit from this one do
	-- not: name those that no unlock trigger of their own charges.
	IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = tbl) <> 'p' THEN
		WITH RECURSIVE child(relid) AS (
			SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = tbl
			UNION
			SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN child ON i.inhparent = child.relid
		)
		SELECT pg_catalog.string_agg(pg_catalog.format('"%s.%s"', n.nspname, c.relname), ', '
									 ORDER BY n.nspname, c.relname)
		INTO uncovered
		FROM child
		JOIN pg_catalog.pg_class c ON c.oid = child.relid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t
						  WHERE t.tgrelid = child.relid
							AND t.tgfoid = 'credits.unlock_trigger()'::pg_catalog.regprocedure
							AND t.tgenabled <> 'D');
		IF uncovered IS NOT NULL THEN
			RAISE WARNING 'rows of tables that inherit from "%" are not charged', tbl_name
				USING DETAIL = format('No unlock trigger fires for rows of %s.', uncovered),
					  HINT = 'Attach the trigger to each child table too, or use a partitioned table, whose partitions share its triggers.';
		END IF;
	END IF;
END
$$;

-- What each level of rights grants; applied by the functions below, and
-- by update scripts to the objects they add.  A dump carries the rights
-- themselves (as GRANTs, revocations included) and the record of who was
-- given which level.  The app rights now include usage_period.
CREATE FUNCTION credits.apply_rights(role_name name, level text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	role regrole := pg_catalog.to_regrole(role_name);
BEGIN
	IF role IS NULL THEN
		RETURN;					-- a role of another cluster, or dropped
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
				   ' credits.org_status_for(text),'
				   ' credits.member_status_for(text),'
				   ' credits.usage_period(text, timestamptz),'
				   ' credits.months(credits.cycle),'
				   ' credits.clock(),'
				   ' credits.unlocked_at_unset(),'
				   ' credits.unlock_trigger(),'
				   ' credits.attach_unlock_trigger(regclass, name, name, name, name, text, name)'
				   ' TO %s', role);
	IF level <> 'admin' THEN
		RETURN;
	END IF;
	EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON credits.orgs, credits.members TO %s', role);
	EXECUTE format('GRANT SELECT ON credits.grants, credits.ledger TO %s', role);
	EXECUTE format('GRANT USAGE ON TYPE credits.cycle, credits.grant_kind,'
				   ' credits.ledger_kind TO %s', role);
	EXECUTE format('GRANT EXECUTE ON FUNCTION'
				   ' credits.grant_one_time(text, text, bigint, timestamptz),'
				   ' credits.grant_referral(text, text, bigint, timestamptz),'
				   ' credits.adjust(text, text, bigint, text),'
				   ' credits.revoke_grant(bigint, text, text),'
				   ' credits.refund(text, text, text),'
				   ' credits.renew_due(integer),'
				   ' credits.expire_due(integer),'
				   ' credits.verify(text),'
				   ' credits.upsert_org(text, credits.cycle, bigint, bigint, boolean),'
				   ' credits.upsert_member(text, text, bigint, boolean),'
				   ' credits.delete_org(text), credits.delete_member(text, text),'
				   ' credits.cycle(timestamp, interval, integer, text),'
				   ' credits.cycle_from(timestamptz, interval, integer, text),'
				   ' credits.period_at(credits.cycle, timestamptz),'
				   ' credits.period_index(credits.cycle, timestamptz),'
				   ' credits.period(credits.cycle, integer),'
				   ' credits.periods(credits.cycle, tstzrange),'
				   ' credits.anchor(credits.cycle),'
				   ' credits.zone(credits.cycle),'
				   ' credits.step(credits.cycle),'
				   ' credits.period_count(credits.cycle),'
				   ' credits.contract(credits.cycle),'
				   ' credits.cycle_eq(credits.cycle, credits.cycle),'
				   ' credits.cycle_ne(credits.cycle, credits.cycle),'
				   ' credits.cycle_lt(credits.cycle, credits.cycle),'
				   ' credits.cycle_le(credits.cycle, credits.cycle),'
				   ' credits.cycle_gt(credits.cycle, credits.cycle),'
				   ' credits.cycle_ge(credits.cycle, credits.cycle),'
				   ' credits.cycle_cmp(credits.cycle, credits.cycle),'
				   ' credits.cycle_hash(credits.cycle),'
				   ' credits.cycle_hash_extended(credits.cycle, bigint),'
				   ' credits.cycle_in(cstring), credits.cycle_out(credits.cycle),'
				   ' credits.cycle_recv(internal), credits.cycle_send(credits.cycle)'
				   ' TO %s', role);
END
$$;


CREATE OR REPLACE FUNCTION credits.grant_app_rights(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role cannot be null' USING ERRCODE = '22004',
			DETAIL = 'The role to give rights to is null.',
			HINT = 'Pass a role name, such as ''app''::regrole.';
	END IF;
	-- a regrole made from a number is not checked: the role must exist
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = role) THEN
		RAISE EXCEPTION 'role with OID % does not exist', role::oid USING ERRCODE = '42704',
			HINT = 'Pass the name of an existing role.';
	END IF;
	-- credits.rights records the name as SQL writes it, in a name column
	IF pg_catalog.octet_length(role::text) > 63 THEN
		RAISE EXCEPTION 'role name % is too long to record', role::text USING ERRCODE = '42622',
			DETAIL = 'Quoted, the name is longer than 63 bytes.',
			HINT = 'Give the rights to a role with a shorter name, and grant that role to this one.';
	END IF;
	INSERT INTO credits.rights (role_name, level)
	VALUES (role::text, 'app') ON CONFLICT DO NOTHING;
	PERFORM credits.apply_rights(role::text, 'app');
END
$$;

COMMENT ON FUNCTION credits.grant_app_rights(regrole) IS
'gives a role what an app needs: unlocks, status views, is_unlocked, balance';

CREATE OR REPLACE FUNCTION credits.grant_admin_rights(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- the app rights first, with the checks of the role
	PERFORM credits.grant_app_rights(role);
	INSERT INTO credits.rights (role_name, level)
	VALUES (role::text, 'admin') ON CONFLICT DO NOTHING;
	PERFORM credits.apply_rights(role::text, 'admin');
END
$$;

COMMENT ON FUNCTION credits.grant_admin_rights(regrole) IS
'gives a role the app rights plus orgs, members, grants, ledger and the admin functions';

-- Objects that 1.0 created with unqualified operators, which a hostile
-- search_path at CREATE EXTENSION time could have bound to other operators:
-- made again with every operator named in pg_catalog
CREATE OR REPLACE VIEW credits.grants AS
	SELECT g.id, g.org, g.kind, l.amount, l.remaining, g.starts_at,
		g.expires_at, g.ref, g.created_at
	FROM credits.grant_rows g
	JOIN credits.grant_left l ON l.grant_id OPERATOR(pg_catalog.=) g.id;

CREATE OR REPLACE VIEW credits.org_status AS
SELECT o.org, s.period, s.plan_period, s.plan_credits, s.credits_left,
	s.used_this_period, s.active_members,
	CASE WHEN s.active_members OPERATOR(pg_catalog.>) 0 AND s.plan_period IS NOT NULL
		THEN pg_catalog.round(s.plan_credits::numeric
							  OPERATOR(pg_catalog./) s.active_members
							  OPERATOR(pg_catalog./) credits.months(o.cycle), 2)
	END AS monthly_goal,
	s.next_expiry, s.next_expiry_credits
FROM credits.orgs o
CROSS JOIN LATERAL credits.org_status_of(o.org) s;

CREATE OR REPLACE VIEW credits.member_status AS
SELECT m.org, m.member, m.active, s.period, m.period_limit,
	coalesce(us.used, 0)::bigint AS used_this_period, s.credits_left,
	CASE WHEN NOT m.active OR o.frozen THEN 0::bigint
		ELSE greatest(0::bigint,
			least(coalesce(m.period_limit OPERATOR(pg_catalog.-) coalesce(us.used, 0),
						   s.credits_left),
				  s.credits_left))
	END AS can_spend,
	CASE WHEN m.active AND s.active_members OPERATOR(pg_catalog.>) 0
		AND s.plan_period IS NOT NULL
		THEN pg_catalog.round(s.plan_credits::numeric
							  OPERATOR(pg_catalog./) s.active_members
							  OPERATOR(pg_catalog./) credits.months(o.cycle), 2)
	END AS monthly_goal
FROM credits.members m
JOIN credits.orgs o ON o.org OPERATOR(pg_catalog.=) m.org
CROSS JOIN LATERAL credits.org_status_of(m.org) s
LEFT JOIN credits.usage us
	ON us.org OPERATOR(pg_catalog.=) m.org AND us.member OPERATOR(pg_catalog.=) m.member
	AND us.period_start OPERATOR(pg_catalog.=) pg_catalog.lower(s.period);

DROP INDEX credits.grant_rows_plan_start, credits.grant_rows_one_time_ref,
	credits.grant_rows_referral_ref;
CREATE UNIQUE INDEX grant_rows_plan_start ON credits.grant_rows (org, starts_at)
	WHERE kind OPERATOR(pg_catalog.=) 'plan'::credits.grant_kind
	  AND (expires_at IS NULL OR expires_at OPERATOR(pg_catalog.>) starts_at);
CREATE UNIQUE INDEX grant_rows_one_time_ref ON credits.grant_rows (org, ref)
	WHERE kind OPERATOR(pg_catalog.=) 'one_time'::credits.grant_kind;
CREATE UNIQUE INDEX grant_rows_referral_ref ON credits.grant_rows (ref)
	WHERE kind OPERATOR(pg_catalog.=) 'referral'::credits.grant_kind;


-- the low-balance signal of an inserted org (not of rows COPY loads)
CREATE TRIGGER orgs_after_insert AFTER INSERT ON credits.orgs
	FOR EACH ROW WHEN (NEW.low_balance_threshold IS NOT NULL)
	EXECUTE FUNCTION credits.orgs_after();

DROP TRIGGER unlock_rows_after ON credits.unlock_rows;
CREATE TRIGGER unlock_rows_after AFTER INSERT ON credits.unlock_rows
	FOR EACH ROW WHEN (NEW.via OPERATOR(pg_catalog.=) 'insert'::credits.unlock_via)
	EXECUTE FUNCTION credits.unlock_rows_after();

-- verify(): a refund's grant is told from an adjustment with a ref of the
-- same form by its expiry (adjust() grants never expire), and the org's
-- spent_below mark is checked.  The checks move to verify_rows(), in
-- PL/pgSQL with custom plans only, so that each call is planned for the
-- org it is given: one plan for any org ("$1 IS NULL OR org = $1") can use
-- no index, and verify('acme') would read every org's rows
CREATE FUNCTION credits.verify_rows(key text)
RETURNS TABLE (org text, problem text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
BEGIN
	PERFORM credits.check_key($1, 'organization');
	RETURN QUERY
	WITH g AS (
		SELECT * FROM credits.grants gr WHERE $1 IS NULL OR gr.org = $1
	), l AS (
		SELECT * FROM credits.ledger le WHERE $1 IS NULL OR le.org = $1
	), sums AS (
		SELECT l.grant_id,
			coalesce(sum(l.amount) FILTER (WHERE l.kind = 'grant'), 0) AS granted,
			sum(l.amount) AS net
		FROM l GROUP BY l.grant_id
	), u AS (
		SELECT * FROM credits.unlock_rows ur WHERE $1 IS NULL OR ur.org = $1
	)
	SELECT g.org, format('grant %s has amount %s but its grant entries add up to %s',
						 g.id, g.amount, coalesce(s.granted, 0))
	FROM g LEFT JOIN sums s ON s.grant_id = g.id
	WHERE g.amount <> coalesce(s.granted, 0)
	UNION ALL
	SELECT g.org, format('grant %s has %s credits remaining but its ledger entries add up to %s',
						 g.id, g.remaining, coalesce(s.net, 0))
	FROM g LEFT JOIN sums s ON s.grant_id = g.id
	WHERE g.remaining <> coalesce(s.net, 0)
	UNION ALL
	SELECT g.org, format('grant %s has %s credits remaining, outside 0 .. %s',
						 g.id, g.remaining, g.amount)
	FROM g WHERE g.remaining < 0 OR g.remaining > g.amount
	UNION ALL
	SELECT g.org, format('grant %s has %s credits remaining but is below the organization''s spent_below mark (%s)',
						 g.id, g.remaining, st.spent_below)
	FROM g JOIN credits.org_state st ON st.org = g.org
	WHERE g.expires_at IS NULL AND g.id < st.spent_below AND g.remaining <> 0
	UNION ALL
	SELECT l.org, format('ledger entry %s names grant %s, which %s',
						 l.id, l.grant_id,
						 CASE WHEN gr.id IS NULL THEN 'does not exist'
							  ELSE 'belongs to organization ' || gr.org END)
	FROM l LEFT JOIN credits.grant_rows gr ON gr.id = l.grant_id
	WHERE gr.id IS NULL OR gr.org <> l.org
	UNION ALL
	SELECT gr.org, format('grant %s has %s rows of credits left instead of one',
						  gr.id, count(gl.grant_id))
	FROM credits.grant_rows gr
	LEFT JOIN credits.grant_left gl ON gl.grant_id = gr.id
	WHERE $1 IS NULL OR gr.org = $1
	GROUP BY gr.org, gr.id
	HAVING count(gl.grant_id) <> 1
	UNION ALL
	SELECT NULL, format('credits left are recorded for grant %s, which does not exist',
						gl.grant_id)
	FROM credits.grant_left gl
	WHERE $1 IS NULL
	  AND NOT EXISTS (SELECT 1 FROM credits.grant_rows gr WHERE gr.id = gl.grant_id)
	UNION ALL
	SELECT c.org, format('prospect %s was charged %s times and refunded %s times but is %s',
						 c.prospect, c.debits, c.refunds,
						 CASE WHEN c.unlocked THEN 'unlocked' ELSE 'not unlocked' END)
	FROM (
		SELECT coalesce(d.org, u.org) AS org, coalesce(d.prospect, u.prospect) AS prospect,
			coalesce(d.n, 0) AS debits, coalesce(r.n, 0) AS refunds,
			u.prospect IS NOT NULL AS unlocked
		FROM (SELECT l.org, l.prospect, count(*) AS n FROM l
			  WHERE l.kind = 'debit' GROUP BY l.org, l.prospect) d
		FULL JOIN u ON u.org = d.org AND u.prospect = d.prospect
		LEFT JOIN (
			SELECT x.org, x.prospect, count(*) AS n
			FROM (SELECT l.org, l.prospect FROM l WHERE l.kind = 'refund'
				  UNION ALL
				  SELECT gr.org, dl.prospect
				  FROM credits.grant_rows gr
				  JOIN credits.ledger dl
					ON dl.id = CASE WHEN gr.ref ~ '^refund:[0-9]{1,18}$'
									THEN pg_catalog.substr(gr.ref, 8)::bigint END
				   AND dl.org = gr.org AND dl.kind = 'debit'
				  WHERE gr.kind = 'adjustment' AND gr.expires_at IS NOT NULL
					AND ($1 IS NULL OR gr.org = $1)) x
			GROUP BY x.org, x.prospect) r
			ON r.org = coalesce(d.org, u.org) AND r.prospect = coalesce(d.prospect, u.prospect)
	) c
	WHERE c.debits - c.refunds <> CASE WHEN c.unlocked THEN 1 ELSE 0 END
	UNION ALL
	SELECT us.org, format('member %s has %s usage rows for the period from %s',
						  us.member, count(*), us.period_start)
	FROM credits.usage us
	WHERE $1 IS NULL OR us.org = $1
	GROUP BY us.org, us.member, us.period_start
	HAVING count(*) > 1
	UNION ALL
	SELECT l.org, format('ledger entry %s of kind %s has amount %s', l.id, l.kind, l.amount)
	FROM l
	WHERE (l.kind = 'debit' AND l.amount <> -1)
	   OR (l.kind IN ('grant', 'refund') AND l.amount < 0)
	   OR (l.kind IN ('expire', 'adjust') AND l.amount > 0)
	UNION ALL
	SELECT l.org, format('expire entry %s of grant %s is dated %s, not at the grant''s expiry %s',
						 l.id, l.grant_id, l.at, gr.expires_at)
	FROM l JOIN credits.grants gr ON gr.id = l.grant_id
	WHERE l.kind = 'expire' AND l.at IS DISTINCT FROM gr.expires_at
	UNION ALL
	SELECT u.org, format('unlock of prospect %s has no matching debit (ledger entry %s)',
						 u.prospect, u.debit_id)
	FROM u LEFT JOIN credits.ledger d ON d.id = u.debit_id
	WHERE d.id IS NULL OR d.kind <> 'debit' OR d.org <> u.org
	   OR d.prospect IS DISTINCT FROM u.prospect
	UNION ALL
	SELECT x.org, format('member %s has %s charges recorded for the period from %s but %s unlocks',
						 x.member, x.used, x.period_start, x.counted)
	FROM (
		SELECT coalesce(us.org, c.org) AS org, coalesce(us.member, c.member) AS member,
			coalesce(us.period_start, c.usage_start) AS period_start,
			coalesce(us.used, 0) AS used, coalesce(c.n, 0) AS counted
		FROM (SELECT * FROM credits.usage uu WHERE $1 IS NULL OR uu.org = $1) us
		FULL JOIN (SELECT u.org, u.member, u.usage_start, count(*) AS n
				   FROM u GROUP BY u.org, u.member, u.usage_start) c
			ON c.org = us.org AND c.member = us.member
			AND c.usage_start = us.period_start
	) x
	WHERE x.used <> x.counted
	ORDER BY 1, 2;
END
$$;

REVOKE ALL ON FUNCTION credits.verify_rows(text) FROM PUBLIC;

COMMENT ON FUNCTION credits.verify_rows(text) IS
'the checks of verify(), planned for the org of each call (internal)';

CREATE OR REPLACE FUNCTION credits.verify(org text DEFAULT NULL)
RETURNS TABLE (org text, problem text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
SELECT * FROM credits.verify_rows($1) ORDER BY 1, 2
$$;

-- A TRUNCATE of members also empties what a transaction cached of them
CREATE FUNCTION credits.members_truncate()
RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_members_truncate'
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION credits.members_truncate() FROM PUBLIC;
CREATE TRIGGER members_truncate BEFORE TRUNCATE ON credits.members
	FOR EACH STATEMENT EXECUTE FUNCTION credits.members_truncate();

-- TRUNCATE of the internal tables, whose records the ledger does not
-- repeat, and UPDATE or DELETE of their rows outside the extension's
-- operations
CREATE TRIGGER usage_protect BEFORE UPDATE OR DELETE ON credits.usage
	FOR EACH ROW EXECUTE FUNCTION credits.protect('operations');
CREATE TRIGGER org_state_protect BEFORE UPDATE OR DELETE ON credits.org_state
	FOR EACH ROW EXECUTE FUNCTION credits.protect('operations');
CREATE TRIGGER plan_changes_protect BEFORE UPDATE OR DELETE ON credits.plan_changes
	FOR EACH ROW EXECUTE FUNCTION credits.protect('operations');
CREATE TRIGGER requests_protect BEFORE UPDATE OR DELETE ON credits.requests
	FOR EACH ROW EXECUTE FUNCTION credits.protect('operations');
CREATE TRIGGER usage_protect_truncate BEFORE TRUNCATE ON credits.usage
	FOR EACH STATEMENT EXECUTE FUNCTION credits.protect('internal');
CREATE TRIGGER org_state_protect_truncate BEFORE TRUNCATE ON credits.org_state
	FOR EACH STATEMENT EXECUTE FUNCTION credits.protect('internal');
CREATE TRIGGER plan_changes_protect_truncate BEFORE TRUNCATE ON credits.plan_changes
	FOR EACH STATEMENT EXECUTE FUNCTION credits.protect('internal');
CREATE TRIGGER requests_protect_truncate BEFORE TRUNCATE ON credits.requests
	FOR EACH STATEMENT EXECUTE FUNCTION credits.protect('internal');

REVOKE ALL ON FUNCTION credits.apply_rights(name, text),
	credits.grant_app_rights(regrole), credits.grant_admin_rights(regrole) FROM PUBLIC;
-- Nothing is granted to PUBLIC, types included (SPEC section 7)
REVOKE ALL ON TYPE credits.cycle, credits.grant_kind, credits.ledger_kind,
	credits.unlock_via FROM PUBLIC;

-- Nor to any other role on the functions this update creates: the default
-- privileges of the role running it (ALTER DEFAULT PRIVILEGES) may have
-- given rights on them.  Only the owner's own rights are kept; the rights
-- recorded in credits.rights are applied below.  (Each was revoked from
-- PUBLIC where it was made, so its ACL is not the null default.)
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT DISTINCT p.oid::pg_catalog.regprocedure::pg_catalog.text AS name, a.grantee
		FROM pg_catalog.pg_proc p,
			 pg_catalog.aclexplode(p.proacl) AS a
		WHERE a.grantee OPERATOR(pg_catalog.<>) p.proowner
		  AND p.oid OPERATOR(pg_catalog.=) ANY (ARRAY[
			'credits.apply_rights(name, text)',
			'credits.check_key(text, text)',
			'credits.delete_member(text, text)',
			'credits.delete_org(text)',
			'credits.member_status_for(text)',
			'credits.members_truncate()',
			'credits.org_status_for(text)',
			'credits.unlocked_at_unset()',
			'credits.upsert_member(text, text, bigint, boolean)',
			'credits.upsert_org(text, credits.cycle, bigint, bigint, boolean)',
			'credits.usage_period(text, timestamptz)',
			'credits.verify_rows(text)']::pg_catalog.regprocedure[])
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', r.name,
			CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
				 ELSE r.grantee::pg_catalog.regrole::pg_catalog.text END);
	END LOOP;
END
$$;

-- The rights recorded so far, extended to what 1.1 adds to each level:
-- new functions, and the cycle type's I/O functions for admins.  Rights a
-- DBA revoked on older objects stay revoked.
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT cr.role_name, cr.level FROM credits.rights cr
	LOOP
		-- a role dropped since, or a name 1.0 cut at 63 bytes: skipped
		BEGIN
			CONTINUE WHEN pg_catalog.to_regrole(r.role_name) IS NULL;
		EXCEPTION WHEN invalid_name THEN
			CONTINUE;
		END;
		IF r.level OPERATOR(pg_catalog.=) 'app' THEN
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION'
				' credits.usage_period(text, timestamptz),'
				' credits.org_status_for(text), credits.member_status_for(text),'
				' credits.unlocked_at_unset()'
				' TO %s', pg_catalog.to_regrole(r.role_name));
		ELSE
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION'
				' credits.upsert_org(text, credits.cycle, bigint, bigint, boolean),'
				' credits.upsert_member(text, text, bigint, boolean),'
				' credits.delete_org(text), credits.delete_member(text, text),'
				' credits.cycle_in(cstring), credits.cycle_out(credits.cycle),'
				' credits.cycle_recv(internal), credits.cycle_send(credits.cycle)'
				' TO %s', pg_catalog.to_regrole(r.role_name));
		END IF;
	END LOOP;
END
$$;

-- Roles given INSERT on credits.unlocks by hand, not through the rights
-- functions, go on inserting: the view's new default calls
-- unlocked_at_unset(), which whoever inserts must be able to execute
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT DISTINCT a.grantee
			 FROM pg_catalog.pg_class c,
				  pg_catalog.aclexplode(c.relacl) AS a
			 WHERE c.oid OPERATOR(pg_catalog.=) 'credits.unlocks'::pg_catalog.regclass
			   AND a.privilege_type OPERATOR(pg_catalog.=) 'INSERT'
			   AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
	LOOP
		IF r.grantee OPERATOR(pg_catalog.=) 0 THEN
			GRANT EXECUTE ON FUNCTION credits.unlocked_at_unset() TO PUBLIC;
		ELSE
			EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION credits.unlocked_at_unset() TO %s',
									  r.grantee::pg_catalog.regrole);
		END IF;
	END LOOP;
END
$$;

-- PostgreSQL records the whole privileges of every object an extension
-- script grants or revokes on as the extension's initial privileges,
-- which pg_dump leaves out of dumps: the rights of the roles above, and
-- any a DBA gave, would then not be dumped, and a role dropped later would
-- leave a dump that cannot be restored.  Keep only the owner's, as a fresh
-- install has them (and none recorded where only the owner's default
-- rights are left).
UPDATE pg_catalog.pg_init_privs ip
   SET initprivs = ARRAY(
		SELECT a FROM pg_catalog.unnest(ip.initprivs) AS a
		 WHERE (SELECT x.grantee FROM pg_catalog.aclexplode(ARRAY[a]) AS x LIMIT 1)
			   OPERATOR(pg_catalog.=)
			   (SELECT e.extowner FROM pg_catalog.pg_extension e
				WHERE e.extname OPERATOR(pg_catalog.=) 'credits'))
 WHERE ip.privtype OPERATOR(pg_catalog.=) 'e'
   AND (ip.classoid, ip.objoid) IN (
		SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
		 WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
		   AND d.refobjid OPERATOR(pg_catalog.=)
			   (SELECT e.oid FROM pg_catalog.pg_extension e
				WHERE e.extname OPERATOR(pg_catalog.=) 'credits')
		   AND d.deptype OPERATOR(pg_catalog.=) 'e');
DELETE FROM pg_catalog.pg_init_privs ip
 WHERE ip.privtype OPERATOR(pg_catalog.=) 'e'
   AND (ip.classoid, ip.objoid) IN (
		SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
		 WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
		   AND d.refobjid OPERATOR(pg_catalog.=)
			   (SELECT e.oid FROM pg_catalog.pg_extension e
				WHERE e.extname OPERATOR(pg_catalog.=) 'credits')
		   AND d.deptype OPERATOR(pg_catalog.=) 'e')
   AND (pg_catalog.cardinality(ip.initprivs) OPERATOR(pg_catalog.=) 0
		OR ip.initprivs OPERATOR(pg_catalog.=) (
		SELECT pg_catalog.acldefault('r', c.relowner) FROM pg_catalog.pg_class c
		 WHERE ip.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
		   AND c.oid OPERATOR(pg_catalog.=) ip.objoid
		   AND ip.objsubid OPERATOR(pg_catalog.=) 0
		   AND c.relkind OPERATOR(pg_catalog.<>) 'S'
		UNION ALL
		SELECT pg_catalog.acldefault('n', n.nspowner) FROM pg_catalog.pg_namespace n
		 WHERE ip.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
		   AND n.oid OPERATOR(pg_catalog.=) ip.objoid
		   AND ip.objsubid OPERATOR(pg_catalog.=) 0));

-- The extension is recorded in pg_catalog, as credits.control now says: 1.0
-- was recorded in the first schema of the search_path at CREATE EXTENSION
-- (public, say), whose owner could drop the extension, ledger and all, with
-- DROP SCHEMA ... CASCADE.  Its objects stay in schema credits.
UPDATE pg_catalog.pg_extension
   SET extnamespace = 'pg_catalog'::pg_catalog.regnamespace
 WHERE extname OPERATOR(pg_catalog.=) 'credits';
DELETE FROM pg_catalog.pg_depend d
 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
   AND d.objid OPERATOR(pg_catalog.=)
	   (SELECT e.oid FROM pg_catalog.pg_extension e
		WHERE e.extname OPERATOR(pg_catalog.=) 'credits')
   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
   AND d.deptype OPERATOR(pg_catalog.=) 'n';
