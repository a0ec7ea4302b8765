/* credits--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION credits" to load this file. \quit

--
-- The type credits.cycle: an anchored recurring period
--

CREATE TYPE @extschema@.cycle;

CREATE FUNCTION @extschema@.cycle_in(cstring)
RETURNS @extschema@.cycle
AS 'MODULE_PATHNAME', 'credits_cycle_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.cycle_out(@extschema@.cycle)
RETURNS cstring
AS 'MODULE_PATHNAME', 'credits_cycle_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.cycle_recv(internal)
RETURNS @extschema@.cycle
AS 'MODULE_PATHNAME', 'credits_cycle_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION @extschema@.cycle_send(@extschema@.cycle)
RETURNS bytea
AS 'MODULE_PATHNAME', 'credits_cycle_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE @extschema@.cycle (
	INTERNALLENGTH = VARIABLE,
	INPUT = @extschema@.cycle_in,
	OUTPUT = @extschema@.cycle_out,
	RECEIVE = @extschema@.cycle_recv,
	SEND = @extschema@.cycle_send,
	ALIGNMENT = double,
	STORAGE = plain
);

COMMENT ON TYPE @extschema@.cycle IS
'anchored recurring period, text form R[n]/<anchor>[zone]/P<n>M|P<n>Y';

-- Constructors

CREATE FUNCTION @extschema@.cycle(anchor timestamp, step interval,
	periods integer DEFAULT NULL, zone text DEFAULT 'UTC')
RETURNS @extschema@.cycle
AS 'MODULE_PATHNAME', 'credits_cycle_make'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cycle(timestamp, interval, integer, text) IS
'cycle from a local anchor, a whole-month step, an optional period count and a zone';

CREATE FUNCTION @extschema@.cycle_from(start timestamptz, step interval,
	periods integer DEFAULT NULL, zone text DEFAULT 'UTC')
RETURNS @extschema@.cycle
AS 'MODULE_PATHNAME', 'credits_cycle_from'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.cycle_from(timestamptz, interval, integer, text) IS
'cycle anchored at the local time of an instant in a zone, fractional seconds dropped';

-- Periods

CREATE FUNCTION @extschema@.period_at(c @extschema@.cycle, t timestamptz)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'credits_period_at'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.period_at(@extschema@.cycle, timestamptz) IS
'contract period containing an instant, NULL outside the contract';

CREATE FUNCTION @extschema@.period_index(c @extschema@.cycle, t timestamptz)
RETURNS integer
AS 'MODULE_PATHNAME', 'credits_period_index'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.period_index(@extschema@.cycle, timestamptz) IS
'index (from 0) of the contract period containing an instant, NULL outside the contract';

CREATE FUNCTION @extschema@.period(c @extschema@.cycle, k integer)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'credits_period'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.period(@extschema@.cycle, integer) IS
'k-th contract period (from 0), NULL outside the contract';

CREATE FUNCTION @extschema@.periods(c @extschema@.cycle, r tstzrange)
RETURNS SETOF tstzrange
AS 'MODULE_PATHNAME', 'credits_periods'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
ROWS 12;

COMMENT ON FUNCTION @extschema@.periods(@extschema@.cycle, tstzrange) IS
'contract periods overlapping a range, in order';

-- Accessors

CREATE FUNCTION @extschema@.anchor(c @extschema@.cycle)
RETURNS timestamp
AS 'MODULE_PATHNAME', 'credits_cycle_anchor'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.anchor(@extschema@.cycle) IS
'local wall-clock anchor of a cycle';

CREATE FUNCTION @extschema@.zone(c @extschema@.cycle)
RETURNS text
AS 'MODULE_PATHNAME', 'credits_cycle_zone'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.zone(@extschema@.cycle) IS
'time zone name of a cycle, as listed in pg_timezone_names';

CREATE FUNCTION @extschema@.step(c @extschema@.cycle)
RETURNS interval
AS 'MODULE_PATHNAME', 'credits_cycle_step'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.step(@extschema@.cycle) IS
'length of one period of a cycle';

CREATE FUNCTION @extschema@.period_count(c @extschema@.cycle)
RETURNS integer
AS 'MODULE_PATHNAME', 'credits_cycle_period_count'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.period_count(@extschema@.cycle) IS
'number of periods in the contract, NULL when open-ended';

CREATE FUNCTION @extschema@.months(c @extschema@.cycle)
RETURNS integer
AS 'MODULE_PATHNAME', 'credits_cycle_months'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.months(@extschema@.cycle) IS
'months per period of a cycle';

CREATE FUNCTION @extschema@.contract(c @extschema@.cycle)
RETURNS tstzrange
AS 'MODULE_PATHNAME', 'credits_cycle_contract'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.contract(@extschema@.cycle) IS
'whole contract of a cycle, unbounded above when open-ended';

-- Comparison, operators and operator classes

CREATE FUNCTION @extschema@.cycle_eq(@extschema@.cycle, @extschema@.cycle)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_cycle_eq'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION @extschema@.cycle_ne(@extschema@.cycle, @extschema@.cycle)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_cycle_ne'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION @extschema@.cycle_lt(@extschema@.cycle, @extschema@.cycle)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_cycle_lt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION @extschema@.cycle_le(@extschema@.cycle, @extschema@.cycle)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_cycle_le'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION @extschema@.cycle_gt(@extschema@.cycle, @extschema@.cycle)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_cycle_gt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION @extschema@.cycle_ge(@extschema@.cycle, @extschema@.cycle)
RETURNS boolean
AS 'MODULE_PATHNAME', 'credits_cycle_ge'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION @extschema@.cycle_cmp(@extschema@.cycle, @extschema@.cycle)
RETURNS integer
AS 'MODULE_PATHNAME', 'credits_cycle_cmp'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION @extschema@.cycle_hash(@extschema@.cycle)
RETURNS integer
AS 'MODULE_PATHNAME', 'credits_cycle_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION @extschema@.cycle_hash_extended(@extschema@.cycle, bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_cycle_hash_extended'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR @extschema@.= (
	LEFTARG = @extschema@.cycle,
	RIGHTARG = @extschema@.cycle,
	FUNCTION = @extschema@.cycle_eq,
	COMMUTATOR = OPERATOR(@extschema@.=),
	NEGATOR = OPERATOR(@extschema@.<>),
	RESTRICT = pg_catalog.eqsel,
	JOIN = pg_catalog.eqjoinsel,
	HASHES,
	MERGES
);

CREATE OPERATOR @extschema@.<> (
	LEFTARG = @extschema@.cycle,
	RIGHTARG = @extschema@.cycle,
	FUNCTION = @extschema@.cycle_ne,
	COMMUTATOR = OPERATOR(@extschema@.<>),
	NEGATOR = OPERATOR(@extschema@.=),
	RESTRICT = pg_catalog.neqsel,
	JOIN = pg_catalog.neqjoinsel
);

CREATE OPERATOR @extschema@.< (
	LEFTARG = @extschema@.cycle,
	RIGHTARG = @extschema@.cycle,
	FUNCTION = @extschema@.cycle_lt,
	COMMUTATOR = OPERATOR(@extschema@.>),
	NEGATOR = OPERATOR(@extschema@.>=),
	RESTRICT = pg_catalog.scalarltsel,
	JOIN = pg_catalog.scalarltjoinsel
);

CREATE OPERATOR @extschema@.<= (
	LEFTARG = @extschema@.cycle,
	RIGHTARG = @extschema@.cycle,
	FUNCTION = @extschema@.cycle_le,
	COMMUTATOR = OPERATOR(@extschema@.>=),
	NEGATOR = OPERATOR(@extschema@.>),
	RESTRICT = pg_catalog.scalarlesel,
	JOIN = pg_catalog.scalarlejoinsel
);

CREATE OPERATOR @extschema@.> (
	LEFTARG = @extschema@.cycle,
	RIGHTARG = @extschema@.cycle,
	FUNCTION = @extschema@.cycle_gt,
	COMMUTATOR = OPERATOR(@extschema@.<),
	NEGATOR = OPERATOR(@extschema@.<=),
	RESTRICT = pg_catalog.scalargtsel,
	JOIN = pg_catalog.scalargtjoinsel
);

CREATE OPERATOR @extschema@.>= (
	LEFTARG = @extschema@.cycle,
	RIGHTARG = @extschema@.cycle,
	FUNCTION = @extschema@.cycle_ge,
	COMMUTATOR = OPERATOR(@extschema@.<=),
	NEGATOR = OPERATOR(@extschema@.<),
	RESTRICT = pg_catalog.scalargesel,
	JOIN = pg_catalog.scalargejoinsel
);

CREATE OPERATOR CLASS @extschema@.cycle_ops
DEFAULT FOR TYPE @extschema@.cycle USING btree AS
	OPERATOR 1 @extschema@.<,
	OPERATOR 2 @extschema@.<=,
	OPERATOR 3 @extschema@.=,
	OPERATOR 4 @extschema@.>=,
	OPERATOR 5 @extschema@.>,
	FUNCTION 1 @extschema@.cycle_cmp(@extschema@.cycle, @extschema@.cycle);

CREATE OPERATOR CLASS @extschema@.cycle_hash_ops
DEFAULT FOR TYPE @extschema@.cycle USING hash AS
	OPERATOR 1 @extschema@.=,
	FUNCTION 1 @extschema@.cycle_hash(@extschema@.cycle),
	FUNCTION 2 @extschema@.cycle_hash_extended(@extschema@.cycle, bigint);
