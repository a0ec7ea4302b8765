/* credits--1.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION credits" to load this file. \quit

-- Everything lives in schema credits.  The script creates it, so that it
-- belongs to the extension: pg_dump leaves it to CREATE EXTENSION, and
-- DROP EXTENSION removes it.
CREATE SCHEMA credits;

--
-- The type credits.cycle: an anchored recurring period
--

CREATE TYPE credits.cycle;

CREATE FUNCTION credits.cycle_in(cstring)
RETURNS credits.cycle
AS 'MODULE_PATHNAME', 'credits_cycle_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION credits.cycle_out(credits.cycle)
RETURNS cstring
AS 'MODULE_PATHNAME', 'credits_cycle_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION credits.cycle_recv(internal)
RETURNS credits.cycle
AS 'MODULE_PATHNAME', 'credits_cycle_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION credits.cycle_send(credits.cycle)
RETURNS bytea
AS 'MODULE_PATHNAME', 'credits_cycle_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE credits.cycle (
	INTERNALLENGTH = VARIABLE,
	INPUT = credits.cycle_in,
	OUTPUT = credits.cycle_out,
	RECEIVE = credits.cycle_recv,
	SEND = credits.cycle_send,
	ALIGNMENT = double,
	STORAGE = plain
);

COMMENT ON TYPE credits.cycle IS
'anchored recurring period, text form R[n]/<anchor>[zone]/P<n>M|P<n>Y';

-- Constructors

CREATE FUNCTION credits.cycle(anchor timestamp, step interval,
	periods integer DEFAULT NULL, zone text DEFAULT 'UTC')
RETURNS credits.cycle
AS 'MODULE_PATHNAME', 'credits_cycle_make'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION credits.cycle(timestamp, interval, integer, text) IS
'cycle from a local anchor, a whole-month step, an optional period count and a zone';

CREATE FUNCTION credits.cycle_from(start timestamptz, step interval,
	periods integer DEFAULT NULL, zone text DEFAULT 'UTC')
RETURNS credits.cycle
AS 'MODULE_PATHNAME', 'credits_cycle_from'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION credits.cycle_from(timestamptz, interval, integer, text) IS
'cycle anchored at the local time of an instant in a zone, seconds dropped';

-- Periods

CREATE FUNCTION credits.period_at(c credits.cycle, t timestamptz)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'credits_period_at'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION credits.period_at(credits.cycle, timestamptz) IS
'contract period containing an instant, NULL outside the contract';

CREATE FUNCTION credits.period_index(c credits.cycle, t timestamptz)
RETURNS integer
AS 'MODULE_PATHNAME', 'credits_period_index'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION credits.period_index(credits.cycle, timestamptz) IS
'index (from 0) of the contract period containing an instant, NULL outside the contract';

CREATE FUNCTION credits.period(c credits.cycle, k integer)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'credits_period'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION credits.period(credits.cycle, integer) IS
'k-th contract period (from 0), NULL outside the contract';

CREATE FUNCTION credits.periods(c credits.cycle, r tstzrange)
RETURNS SETOF tstzrange
AS 'MODULE_PATHNAME', 'credits_periods'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
ROWS 12;

COMMENT ON FUNCTION credits.periods(credits.cycle, tstzrange) IS
'contract periods overlapping a range, in order';

-- Accessors

CREATE FUNCTION credits.anchor(c credits.cycle)
RETURNS timestamp
AS 'MODULE_PATHNAME', 'credits_cycle_anchor'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION credits.anchor(credits.cycle) IS
'local wall-clock anchor of a cycle';

CREATE FUNCTION credits.zone(c credits.cycle)
RETURNS text
AS 'MODULE_PATHNAME', 'credits_cycle_zone'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION credits.zone(credits.cycle) IS
'time zone name of a cycle, as listed in pg_timezone_names';

CREATE FUNCTION credits.step(c credits.cycle)
RETURNS interval
AS 'MODULE_PATHNAME', 'credits_cycle_step'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION credits.step(credits.cycle) IS
'length of one period of a cycle';

CREATE FUNCTION credits.period_count(c credits.cycle)
RETURNS integer
AS 'MODULE_PATHNAME', 'credits_cycle_period_count'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION credits.period_count(credits.cycle) IS
'number of periods in the contract, NULL when open-ended';

CREATE FUNCTION credits.months(c credits.cycle)
RETURNS integer
AS 'MODULE_PATHNAME', 'credits_cycle_months'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION credits.months(credits.cycle) IS
'months per period of a cycle';

CREATE FUNCTION credits.contract(c credits.cycle)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'credits_cycle_contract'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION credits.contract(credits.cycle) IS
'whole contract of a cycle, unbounded above when open-ended';

-- Comparison, operators and operator classes

CREATE FUNCTION credits.cycle_eq(credits.cycle, credits.cycle)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_cycle_eq'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION credits.cycle_ne(credits.cycle, credits.cycle)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_cycle_ne'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION credits.cycle_lt(credits.cycle, credits.cycle)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_cycle_lt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION credits.cycle_le(credits.cycle, credits.cycle)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_cycle_le'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION credits.cycle_gt(credits.cycle, credits.cycle)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_cycle_gt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION credits.cycle_ge(credits.cycle, credits.cycle)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_cycle_ge'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION credits.cycle_cmp(credits.cycle, credits.cycle)
RETURNS integer
AS 'MODULE_PATHNAME', 'credits_cycle_cmp'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION credits.cycle_hash(credits.cycle)
RETURNS integer
AS 'MODULE_PATHNAME', 'credits_cycle_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION credits.cycle_hash_extended(credits.cycle, bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_cycle_hash_extended'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR credits.= (
	LEFTARG = credits.cycle,
	RIGHTARG = credits.cycle,
	FUNCTION = credits.cycle_eq,
	COMMUTATOR = OPERATOR(credits.=),
	NEGATOR = OPERATOR(credits.<>),
	RESTRICT = pg_catalog.eqsel,
	JOIN = pg_catalog.eqjoinsel,
	HASHES,
	MERGES
);

CREATE OPERATOR credits.<> (
	LEFTARG = credits.cycle,
	RIGHTARG = credits.cycle,
	FUNCTION = credits.cycle_ne,
	COMMUTATOR = OPERATOR(credits.<>),
	NEGATOR = OPERATOR(credits.=),
	RESTRICT = pg_catalog.neqsel,
	JOIN = pg_catalog.neqjoinsel
);

CREATE OPERATOR credits.< (
	LEFTARG = credits.cycle,
	RIGHTARG = credits.cycle,
	FUNCTION = credits.cycle_lt,
	COMMUTATOR = OPERATOR(credits.>),
	NEGATOR = OPERATOR(credits.>=),
	RESTRICT = pg_catalog.scalarltsel,
	JOIN = pg_catalog.scalarltjoinsel
);

CREATE OPERATOR credits.<= (
	LEFTARG = credits.cycle,
	RIGHTARG = credits.cycle,
	FUNCTION = credits.cycle_le,
	COMMUTATOR = OPERATOR(credits.>=),
	NEGATOR = OPERATOR(credits.>),
	RESTRICT = pg_catalog.scalarlesel,
	JOIN = pg_catalog.scalarlejoinsel
);

CREATE OPERATOR credits.> (
	LEFTARG = credits.cycle,
	RIGHTARG = credits.cycle,
	FUNCTION = credits.cycle_gt,
	COMMUTATOR = OPERATOR(credits.<),
	NEGATOR = OPERATOR(credits.<=),
	RESTRICT = pg_catalog.scalargtsel,
	JOIN = pg_catalog.scalargtjoinsel
);

CREATE OPERATOR credits.>= (
	LEFTARG = credits.cycle,
	RIGHTARG = credits.cycle,
	FUNCTION = credits.cycle_ge,
	COMMUTATOR = OPERATOR(credits.<=),
	NEGATOR = OPERATOR(credits.<),
	RESTRICT = pg_catalog.scalargesel,
	JOIN = pg_catalog.scalargejoinsel
);

CREATE OPERATOR CLASS credits.cycle_ops
DEFAULT FOR TYPE credits.cycle USING btree AS
	OPERATOR 1 credits.<,
	OPERATOR 2 credits.<=,
	OPERATOR 3 credits.=,
	OPERATOR 4 credits.>=,
	OPERATOR 5 credits.>,
	FUNCTION 1 credits.cycle_cmp(credits.cycle, credits.cycle);

CREATE OPERATOR CLASS credits.cycle_hash_ops
DEFAULT FOR TYPE credits.cycle USING hash AS
	OPERATOR 1 credits.=,
	FUNCTION 1 credits.cycle_hash(credits.cycle),
	FUNCTION 2 credits.cycle_hash_extended(credits.cycle, bigint);

--
-- The clock (SPEC section 8): read only by C code
--

CREATE FUNCTION credits.clock()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'credits_clock'
LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION credits.clock() IS
'the instant the extension decides by: credits.clock if set, else the transaction timestamp';

--
-- Kinds.  Enums rather than CHECK constraints: PostgreSQL re-reads a CHECK
-- expression for every statement that writes the table, and these tables
-- are written by every unlock.
--

CREATE TYPE credits.grant_kind AS ENUM ('plan', 'referral', 'one_time', 'adjustment');
CREATE TYPE credits.ledger_kind AS ENUM ('grant', 'debit', 'refund', 'expire', 'adjust');
CREATE TYPE credits.unlock_via AS ENUM ('insert', 'unlock', 'unlock_many', 'trigger');

COMMENT ON TYPE credits.grant_kind IS 'kind of a grant of credits';
COMMENT ON TYPE credits.ledger_kind IS 'kind of a ledger entry';
COMMENT ON TYPE credits.unlock_via IS 'how a prospect was unlocked';

--
-- Public tables
--

CREATE TABLE credits.orgs (
	org text COLLATE "C" PRIMARY KEY,
	cycle credits.cycle NOT NULL,
	plan_credits bigint NOT NULL,
	low_balance_threshold bigint,
	frozen boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT credits.clock()
);

COMMENT ON TABLE credits.orgs IS
'organizations: billing cycle, plan credits per period, low-balance threshold, frozen flag';

CREATE TABLE credits.members (
	org text COLLATE "C" NOT NULL
		REFERENCES credits.orgs (org) ON DELETE CASCADE,
	member text COLLATE "C" NOT NULL,
	period_limit bigint,
	active boolean NOT NULL DEFAULT true,
	PRIMARY KEY (org, member)
);

COMMENT ON TABLE credits.members IS
'members of organizations: per-period credit limit (NULL = none) and active flag';

--
-- Internal tables
--

-- One row per org that has been written to.  Writing it (even without
-- changing it) completes the org lock (SPEC section 7): a REPEATABLE READ
-- transaction that would act after a concurrent change gets 40001.  It also
-- holds the low-balance signal's state, the instant of the last cycle
-- change that restarted the plan, and the last plan_changes id in force
-- when it did (changes at the same instant may come before or after it),
-- and spent_below: every grant of the org that never expires and whose id
-- is below it has no credits left, so that charges and status do not
-- read the used-up purchases and referrals an org piles up (NULL: none
-- known yet).
-- Its rows, grant_left's and usage's are rewritten by every charge: half
-- of each page is left free so that new versions stay on the page (HOT
-- updates, no new index entries).
CREATE TABLE credits.org_state (
	org text COLLATE "C" PRIMARY KEY,
	armed boolean NOT NULL DEFAULT true,
	cycle_cut timestamptz,
	cut_seq bigint,
	spent_below bigint
) WITH (fillfactor = 50);

-- History of plan_credits, kept from the first change on (its first row,
-- dated -infinity, holds the value before it): entitlements are the
-- largest value in force during a period.
CREATE TABLE credits.plan_changes (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	org text COLLATE "C" NOT NULL,
	at timestamptz NOT NULL,
	plan_credits bigint NOT NULL
);
CREATE INDEX plan_changes_org_at ON credits.plan_changes (org, at);

-- Every lot of credits: what it is (grant_rows) and how much of it is
-- left (grant_left), joined by the view credits.grants.  The credits left
-- change with every debit, and a grant debited many times in one
-- transaction gets a new row version each time; keeping the counter in a
-- table without unique indexes spares each update a uniqueness check that
-- would walk all earlier versions of the row made by the same transaction.
CREATE TABLE credits.grant_rows (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	org text COLLATE "C" NOT NULL,
	kind credits.grant_kind NOT NULL,
	starts_at timestamptz NOT NULL,
	expires_at timestamptz,
	ref text COLLATE "C",
	created_at timestamptz NOT NULL
);
-- An org's grants by expiry; those that never expire (expires_at NULL,
-- sorted last) by id, read from org_state.spent_below on
CREATE INDEX grant_rows_org_expiry ON credits.grant_rows (org, expires_at, id);
CREATE INDEX grant_rows_expiry ON credits.grant_rows (expires_at);
-- One plan grant per org and period start.  A plan grant that a cycle
-- change ended at its own start is empty and does not count, so the new
-- cycle's period can start at that instant.
CREATE UNIQUE INDEX grant_rows_plan_start ON credits.grant_rows (org, starts_at)
	WHERE kind OPERATOR(pg_catalog.=) 'plan'::credits.grant_kind
	  AND (expires_at IS NULL OR expires_at OPERATOR(pg_catalog.>) starts_at);
CREATE UNIQUE INDEX grant_rows_one_time_ref ON credits.grant_rows (org, ref)
	WHERE kind OPERATOR(pg_catalog.=) 'one_time'::credits.grant_kind;
CREATE UNIQUE INDEX grant_rows_referral_ref ON credits.grant_rows (ref)
	WHERE kind OPERATOR(pg_catalog.=) 'referral'::credits.grant_kind;

-- One row per grant (the extension inserts both rows together)
CREATE TABLE credits.grant_left (
	grant_id bigint NOT NULL,
	amount bigint NOT NULL,
	remaining bigint NOT NULL,
	CHECK (remaining OPERATOR(pg_catalog.>=) 0
		   AND remaining OPERATOR(pg_catalog.<=) amount)
) WITH (fillfactor = 50);
CREATE INDEX grant_left_grant ON credits.grant_left (grant_id);
-- Without a unique key, logged whole for logical replication, so that a
-- publication of all tables can carry its updates (usage too)
ALTER TABLE credits.grant_left REPLICA IDENTITY FULL;

CREATE VIEW credits.grants AS
	SELECT g.id, g.org, g.kind, l.amount, l.remaining, g.starts_at,
		g.expires_at, g.ref, g.created_at
	FROM credits.grant_rows g
	JOIN credits.grant_left l ON l.grant_id OPERATOR(pg_catalog.=) g.id;

COMMENT ON VIEW credits.grants IS
'every lot of credits; remaining changes only through ledger entries';

-- Append-only journal of every change to a grant's remaining credits
CREATE TABLE credits.ledger (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	org text COLLATE "C" NOT NULL,
	at timestamptz NOT NULL,
	recorded_at timestamptz NOT NULL,
	actor text NOT NULL,
	kind credits.ledger_kind NOT NULL,
	amount bigint NOT NULL,
	grant_id bigint NOT NULL,
	member text COLLATE "C",
	prospect text COLLATE "C",
	ref text COLLATE "C",
	note text
);
CREATE INDEX ledger_org_at ON credits.ledger (org, at);

COMMENT ON TABLE credits.ledger IS
'append-only journal of every change to any grant''s remaining credits';

-- Charges per member and usage period, one row per (org, member,
-- period_start).  The key is not a unique index for the reason given at
-- grant_left; only the org's lock holder writes an org's rows, and
-- verify() checks there is one row per key.
CREATE TABLE credits.usage (
	org text COLLATE "C" NOT NULL,
	member text COLLATE "C" NOT NULL,
	period_start timestamptz NOT NULL,
	used bigint NOT NULL
) WITH (fillfactor = 50);
CREATE INDEX usage_key ON credits.usage (org, member, period_start);
ALTER TABLE credits.usage REPLICA IDENTITY FULL;

-- The stored unlocks, behind the view credits.unlocks.  debit_id is the
-- ledger id of the charge; usage_start the usage period it counts in; via
-- the path that unlocked (INSERT through the view, or a function).
CREATE TABLE credits.unlock_rows (
	org text COLLATE "C" NOT NULL,
	prospect text COLLATE "C" NOT NULL,
	member text COLLATE "C",
	unlocked_at timestamptz NOT NULL,
	usage_start timestamptz NOT NULL,
	debit_id bigint NOT NULL,
	via credits.unlock_via NOT NULL DEFAULT 'insert',
	PRIMARY KEY (org, prospect)
);

-- Idempotency records of adjust() and revoke_grant()
CREATE TABLE credits.requests (
	op text NOT NULL
		CHECK (op OPERATOR(pg_catalog.=) ANY (ARRAY['adjust', 'revoke']::text[])),
	org text COLLATE "C" NOT NULL,
	ref text COLLATE "C" NOT NULL,
	amount bigint,
	grant_id bigint,
	note text,
	result bigint NOT NULL,
	PRIMARY KEY (op, org, ref)
);
-- revoke_grant is idempotent by ref alone
CREATE UNIQUE INDEX requests_revoke_ref ON credits.requests (ref)
	WHERE op OPERATOR(pg_catalog.=) 'revoke'::text;

-- What unlocks are: one row per (org, prospect) currently unlocked.
-- INSERT through this view (ON CONFLICT DO NOTHING included) charges.
CREATE VIEW credits.unlocks AS
	SELECT org, prospect, member, unlocked_at
	FROM credits.unlock_rows;

COMMENT ON VIEW credits.unlocks IS
'unlocked prospects; INSERT (org, member, prospect) charges one credit per row inserted';

-- unlocked_at is the clock's: an INSERT that leaves it out gets the
-- default -infinity below, which the trigger replaces; any other value,
-- NULL included, is refused (a trigger cannot tell an explicit NULL from a
-- missing column)
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

SELECT pg_catalog.pg_extension_config_dump('credits.orgs', '');
SELECT pg_catalog.pg_extension_config_dump('credits.members', '');
SELECT pg_catalog.pg_extension_config_dump('credits.org_state', '');
SELECT pg_catalog.pg_extension_config_dump('credits.plan_changes', '');
SELECT pg_catalog.pg_extension_config_dump('credits.plan_changes_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.grant_rows', '');
SELECT pg_catalog.pg_extension_config_dump('credits.grant_rows_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.grant_left', '');
SELECT pg_catalog.pg_extension_config_dump('credits.ledger', '');
SELECT pg_catalog.pg_extension_config_dump('credits.ledger_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.usage', '');
SELECT pg_catalog.pg_extension_config_dump('credits.unlock_rows', '');
SELECT pg_catalog.pg_extension_config_dump('credits.requests', '');

--
-- Spending and granting (SPEC section 5)
--

CREATE FUNCTION credits.unlock(org text, member text, prospect text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_unlock'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.unlock(text, text, text) IS
'unlocks a prospect for an org: true if this call spent one credit, false if it was already unlocked';

CREATE FUNCTION credits.unlock_many(org text, member text, prospects text[],
	partial boolean DEFAULT false)
RETURNS TABLE (prospect text, charged boolean, unlocked boolean, reason text)
AS 'MODULE_PATHNAME', 'credits_unlock_many'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
ROWS 100;

COMMENT ON FUNCTION credits.unlock_many(text, text, text[], boolean) IS
'unlocks many prospects: all new ones or none, or with partial as many as credits and the limit allow';

CREATE FUNCTION credits.is_unlocked(org text, prospect text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_is_unlocked'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.is_unlocked(text, text) IS
'whether a prospect is unlocked for an org';

CREATE FUNCTION credits.balance(org text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_balance'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.balance(text) IS
'credits an org can spend now';

CREATE FUNCTION credits.grant_one_time(org text, ref text, amount bigint,
	expires_at timestamptz DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_grant_one_time'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.grant_one_time(text, text, bigint, timestamptz) IS
'records a credit purchase, idempotent by (org, ref); returns the grant id';

CREATE FUNCTION credits.grant_referral(org text, referred text,
	amount bigint DEFAULT 20, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_grant_referral'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.grant_referral(text, text, bigint, timestamptz) IS
'gives the referral bonus for one referred signup, once per referred customer; returns the grant id';

CREATE FUNCTION credits.adjust(org text, ref text, amount bigint, note text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_adjust'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.adjust(text, text, bigint, text) IS
'support correction, idempotent by (org, ref): adds a never-expiring grant or removes spendable credits';

CREATE FUNCTION credits.revoke_grant(grant_id bigint, ref text, note text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_revoke_grant'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.revoke_grant(bigint, text, text) IS
'removes what is left of one grant, idempotent by ref; returns the credits removed';

CREATE FUNCTION credits.refund(org text, prospect text, note text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_refund'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.refund(text, text, text) IS
'undoes an unlock and returns its credit; false if the prospect is not unlocked';

-- The checks of a key argument (22023 empty, 22001 over 256 bytes), for
-- the functions written in SQL and PL/pgSQL
CREATE FUNCTION credits.check_key(key text, what text) RETURNS void
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'credits_check_key_sql';

COMMENT ON FUNCTION credits.check_key(text, text) IS
'raises the errors of a bad key argument: 22023 if empty, 22001 if over 256 bytes; what names it';

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

CREATE FUNCTION credits.renew_due(max_orgs integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_renew_due'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.renew_due(integer) IS
'creates missing plan grants of current plan periods, skipping locked orgs; returns how many';

CREATE FUNCTION credits.expire_due(max_orgs integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_expire_due'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.expire_due(integer) IS
'writes the expire entries of expired grants with credits left, skipping locked orgs; returns how many';

--
-- Status (SPEC section 3)
--

CREATE FUNCTION credits.org_status_of(org text,
	OUT period tstzrange, OUT plan_period tstzrange, OUT plan_credits bigint,
	OUT credits_left bigint, OUT used_this_period bigint,
	OUT active_members integer, OUT next_expiry timestamptz,
	OUT next_expiry_credits bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'credits_org_status_of'
LANGUAGE C STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.org_status_of(text) IS
'status of one org at the clock (used by the status views)';

CREATE VIEW credits.org_status AS
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

CREATE FUNCTION credits.usage_period(org text, at timestamptz DEFAULT NULL)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'credits_usage_period'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.usage_period(text, timestamptz) IS
'the usage period of an org containing an instant (the clock when NULL)';

COMMENT ON VIEW credits.org_status IS
'per org at the clock: periods, plan credits, credits left, usage, members, monthly goal, next expiry';

CREATE VIEW credits.member_status AS
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

COMMENT ON VIEW credits.member_status IS
'per member at the clock: usage this period, limit, credits left, what the member can spend, monthly goal';

--
-- Invariants
--

-- The checks of verify(), in PL/pgSQL with custom plans only, so that each
-- call is planned for the org it is given: one plan for any org ("$1 IS
-- NULL OR org = $1") can use no index, and verify('acme') would read every
-- org's rows
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

CREATE FUNCTION credits.verify(org text DEFAULT NULL)
RETURNS TABLE (org text, problem text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
SELECT * FROM credits.verify_rows($1) ORDER BY 1, 2
$$;

COMMENT ON FUNCTION credits.verify(text) IS
're-checks every invariant from the ledger (all orgs when org is NULL); no rows means consistent';

--
-- Triggers
--

CREATE FUNCTION credits.protect()
RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_protect'
LANGUAGE C;

CREATE FUNCTION credits.orgs_before()
RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_orgs_before'
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.orgs_after()
RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_orgs_after'
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.orgs_truncate()
RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_orgs_truncate'
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.members_before()
RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_members_before'
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.members_truncate()
RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_members_truncate'
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.unlock_rows_before()
RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_unlock_rows_before'
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION credits.unlock_rows_after()
RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_unlock_rows_after'
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE TRIGGER orgs_before BEFORE INSERT OR UPDATE OR DELETE ON credits.orgs
	FOR EACH ROW EXECUTE FUNCTION credits.orgs_before();
CREATE TRIGGER orgs_after AFTER UPDATE ON credits.orgs
	FOR EACH ROW EXECUTE FUNCTION credits.orgs_after();
-- the low-balance signal of an inserted org (not of rows COPY loads)
CREATE TRIGGER orgs_after_insert AFTER INSERT ON credits.orgs
	FOR EACH ROW WHEN (NEW.low_balance_threshold IS NOT NULL)
	EXECUTE FUNCTION credits.orgs_after();
CREATE TRIGGER orgs_truncate BEFORE TRUNCATE ON credits.orgs
	FOR EACH STATEMENT EXECUTE FUNCTION credits.orgs_truncate();
CREATE TRIGGER members_before BEFORE INSERT OR UPDATE OR DELETE ON credits.members
	FOR EACH ROW EXECUTE FUNCTION credits.members_before();
CREATE TRIGGER members_truncate BEFORE TRUNCATE ON credits.members
	FOR EACH STATEMENT EXECUTE FUNCTION credits.members_truncate();

CREATE TRIGGER ledger_protect BEFORE UPDATE OR DELETE ON credits.ledger
	FOR EACH ROW EXECUTE FUNCTION credits.protect('always');
CREATE TRIGGER ledger_protect_truncate BEFORE TRUNCATE ON credits.ledger
	FOR EACH STATEMENT EXECUTE FUNCTION credits.protect('always');
CREATE TRIGGER grant_rows_protect BEFORE UPDATE OR DELETE ON credits.grant_rows
	FOR EACH ROW EXECUTE FUNCTION credits.protect('internal');
CREATE TRIGGER grant_rows_protect_truncate BEFORE TRUNCATE ON credits.grant_rows
	FOR EACH STATEMENT EXECUTE FUNCTION credits.protect('internal');
CREATE TRIGGER grant_left_protect BEFORE UPDATE OR DELETE ON credits.grant_left
	FOR EACH ROW EXECUTE FUNCTION credits.protect('internal');
CREATE TRIGGER grant_left_protect_truncate BEFORE TRUNCATE ON credits.grant_left
	FOR EACH STATEMENT EXECUTE FUNCTION credits.protect('internal');
CREATE TRIGGER grants_protect INSTEAD OF UPDATE OR DELETE ON credits.grants
	FOR EACH ROW EXECUTE FUNCTION credits.protect('always');
CREATE TRIGGER unlock_rows_protect BEFORE UPDATE OR DELETE ON credits.unlock_rows
	FOR EACH ROW EXECUTE FUNCTION credits.protect('internal');
CREATE TRIGGER unlock_rows_protect_truncate BEFORE TRUNCATE ON credits.unlock_rows
	FOR EACH STATEMENT EXECUTE FUNCTION credits.protect('internal');
-- The internal tables hold records the ledger does not repeat (usage,
-- plan history, restarts, idempotency keys): a TRUNCATE, say by a script
-- that empties every table of the schema, would lose them silently, and
-- only the extension's own operations update or delete their rows
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
-- Only rows inserted through the view are charged by these triggers: the
-- extension's own inserts (and restored rows) carry their ledger id.
CREATE TRIGGER unlock_rows_before BEFORE INSERT ON credits.unlock_rows
	FOR EACH ROW WHEN (NEW.debit_id IS NULL)
	EXECUTE FUNCTION credits.unlock_rows_before();
CREATE TRIGGER unlock_rows_after AFTER INSERT ON credits.unlock_rows
	FOR EACH ROW WHEN (NEW.via OPERATOR(pg_catalog.=) 'insert'::credits.unlock_via)
	EXECUTE FUNCTION credits.unlock_rows_after();

--
-- Charging from the app's own tables (SPEC section 6)
--

CREATE FUNCTION credits.unlock_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'credits_unlock_trigger'
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION credits.unlock_trigger() IS
'AFTER INSERT OR UPDATE row trigger for app tables: charges each row that unlocks a new prospect';

CREATE FUNCTION credits.attach_unlock_trigger(tbl regclass, org_col name,
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

COMMENT ON FUNCTION credits.attach_unlock_trigger(regclass, name, name, name, name, text, name) IS
'checks the columns of an app table, then attaches credits.unlock_trigger() to it';

--
-- Rights (SPEC section 7)
--

-- Roles given rights through the functions below, so that upgrades can
-- extend them to new objects (dumped with the data)
CREATE TABLE credits.rights (
	role_name name NOT NULL,
	level text NOT NULL CHECK (level IN ('app', 'admin')),
	PRIMARY KEY (role_name, level)
);
SELECT pg_catalog.pg_extension_config_dump('credits.rights', '');

-- What each level of rights grants; applied by the functions below, and
-- by update scripts to the objects they add.  A dump carries the rights
-- themselves (as GRANTs, revocations included) and the record of who was
-- given which level.
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

CREATE FUNCTION credits.grant_app_rights(role regrole)
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

CREATE FUNCTION credits.grant_admin_rights(role regrole)
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

-- Nothing is granted to PUBLIC (SPEC section 7).  Revoked whatever the
-- installing role's defaults are, so that the extension's initial
-- privileges are recorded as they are at an update from 1.0
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA credits FROM PUBLIC;
REVOKE ALL ON TYPE credits.cycle, credits.grant_kind, credits.ledger_kind,
	credits.unlock_via FROM PUBLIC;
-- Nor to any other role: the default privileges of the role running this
-- script (ALTER DEFAULT PRIVILEGES) may have given rights to anyone on
-- what it created.  Only the owner's own rights are kept.  (An ACL still
-- null is the default one, the owner's alone: relations and the schema
-- give PUBLIC nothing by default, and the functions and types are revoked
-- from PUBLIC above.)
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT DISTINCT o.kind, o.name, a.grantee
		FROM (SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
					 c.oid::pg_catalog.regclass::pg_catalog.text, c.relowner, c.relacl,
					 'pg_catalog.pg_class'::pg_catalog.regclass, c.oid
			  FROM pg_catalog.pg_class c
			  UNION ALL
			  SELECT 'FUNCTION', p.oid::pg_catalog.regprocedure::pg_catalog.text,
					 p.proowner, p.proacl, 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid
			  FROM pg_catalog.pg_proc p
			  UNION ALL
			  SELECT 'TYPE', t.oid::pg_catalog.regtype::pg_catalog.text,
					 t.typowner, t.typacl, 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid
			  FROM pg_catalog.pg_type t
			  UNION ALL
			  SELECT 'SCHEMA', pg_catalog.quote_ident(n.nspname), n.nspowner, n.nspacl,
					 'pg_catalog.pg_namespace'::pg_catalog.regclass, n.oid
			  FROM pg_catalog.pg_namespace n) AS o(kind, name, owner, acl, classid, objid),
			 pg_catalog.aclexplode(o.acl) AS a
		WHERE a.grantee OPERATOR(pg_catalog.<>) o.owner
		  AND (o.classid, o.objid) IN (
			SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
			WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
			  AND d.refobjid OPERATOR(pg_catalog.=)
				  (SELECT e.oid FROM pg_catalog.pg_extension e
				   WHERE e.extname OPERATOR(pg_catalog.=) 'credits')
			  AND d.deptype OPERATOR(pg_catalog.=) 'e')
	LOOP
		EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s', r.kind, r.name,
			CASE WHEN r.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
				 ELSE r.grantee::pg_catalog.regrole::pg_catalog.text END);
	END LOOP;
END
$$;
