--
-- Hostile input to every public function: NULLs, empty strings, 1 MB keys,
-- zero, negative and overflowing amounts, bigint max, unknown zones, dates
-- beyond the timestamp range.  Each gets its documented SQLSTATE, and the
-- ledger stays consistent.
--
\i test/helpers.sql
SET credits.clock = '2026-01-10T00:00:00Z';
INSERT INTO orgs (org, cycle, plan_credits) VALUES ('x1', 'R/2026-01-01/P1M', 10);
INSERT INTO members (org, member) VALUES ('x1', 'm');
SELECT unlock('x1', 'm', 'known');

CREATE TEMP TABLE hostile (sql text);
INSERT INTO hostile VALUES
	-- keys: NULL 22004, empty 22023, 1 MB 22001
	($$SELECT credits.unlock(NULL, 'm', 'p')$$),
	($$SELECT credits.unlock('', 'm', 'p')$$),
	($$SELECT credits.unlock(repeat('o', 1048576), 'm', 'p')$$),
	($$SELECT credits.unlock('x1', repeat('m', 1048576), 'p')$$),
	($$SELECT credits.unlock('x1', 'm', repeat('p', 1048576))$$),
	($$SELECT credits.unlock('x1', '', 'p')$$),
	($$SELECT * FROM credits.unlock_many(NULL, 'm', ARRAY['p'])$$),
	($$SELECT * FROM credits.unlock_many('x1', 'm', ARRAY[repeat('p', 1048576)])$$),
	($$SELECT * FROM credits.unlock_many('x1', 'm', ARRAY['p'], NULL)$$),
	($$SELECT * FROM credits.unlock_many('x1', 'm', ARRAY[['a', 'b'], ['c', 'd']])$$),
	($$SELECT credits.is_unlocked(NULL, NULL)$$),
	($$SELECT credits.is_unlocked('x1', repeat('p', 1048576))$$),
	($$SELECT credits.balance('')$$),
	($$SELECT credits.refund(NULL, 'known')$$),
	($$SELECT credits.refund('x1', '')$$),
	($$SELECT * FROM credits.verify('')$$),
	($$SELECT * FROM credits.verify(repeat('o', 257))$$),
	-- amounts: zero, negative 22023; beyond 10^12, bigint max 22003
	($$SELECT credits.grant_one_time('x1', 'r', 0)$$),
	($$SELECT credits.grant_one_time('x1', 'r', -1)$$),
	($$SELECT credits.grant_one_time('x1', 'r', 1000000000001)$$),
	($$SELECT credits.grant_one_time('x1', 'r', 9223372036854775807)$$),
	($$SELECT credits.grant_one_time('x1', 'r', -9223372036854775808)$$),
	($$SELECT credits.grant_one_time('x1', 'r', 5, 'infinity')$$),
	($$SELECT credits.grant_one_time('x1', repeat('r', 1048576), 5)$$),
	($$SELECT credits.grant_referral('x1', 'n', 0)$$),
	($$SELECT credits.grant_referral('x1', 'n', 9223372036854775807)$$),
	($$SELECT credits.grant_referral('x1', '')$$),
	($$SELECT credits.adjust('x1', 'a', 9223372036854775807, 'n')$$),
	($$SELECT credits.adjust('x1', 'a', -9223372036854775808, 'n')$$),
	($$SELECT credits.adjust('x1', 'a', NULL, 'n')$$),
	($$SELECT credits.revoke_grant(-1, 'r', 'n')$$),
	($$SELECT credits.revoke_grant(9223372036854775807, 'r', 'n')$$),
	($$SELECT credits.revoke_grant(1, '', 'n')$$),
	($$SELECT credits.renew_due(-2147483648)$$),
	($$SELECT credits.expire_due(-1)$$),
	-- orgs and members
	($$INSERT INTO credits.orgs (org, cycle, plan_credits) VALUES ('x2', 'R/2026-01-01/P1M', 9223372036854775807)$$),
	($$INSERT INTO credits.orgs (org, cycle, plan_credits) VALUES ('x2', NULL, 1)$$),
	($$INSERT INTO credits.orgs (org, cycle, plan_credits) VALUES (repeat('o', 1048576), 'R/2026-01-01/P1M', 1)$$),
	($$INSERT INTO credits.members (org, member, period_limit) VALUES ('x1', 'z', -9223372036854775808)$$),
	-- cycles: unknown zones, dates beyond the range, garbage
	($$SELECT 'R/2026-01-01[Nowhere/Land]/P1M'::credits.cycle$$),
	($$SELECT ('R/2026-01-01[' || repeat('A', 1048576) || ']/P1M')::credits.cycle$$),
	($$SELECT repeat('R', 1048576)::credits.cycle$$),
	($$SELECT 'R2147483647/9999-12-31/P1M'::credits.cycle$$),
	($$SELECT credits.cycle('294276-12-31', '1 month')$$),
	($$SELECT credits.cycle('2026-01-01', '2147483647 months')$$),
	($$SELECT credits.cycle('2026-01-01', '1 month', 2147483647)$$),
	($$SELECT credits.cycle('2026-01-01', '1 month', NULL, repeat('z', 1048576))$$),
	($$SELECT credits.cycle_from('294276-12-31 23:59:59+00', '1 month')$$),
	($$SELECT credits.period('R/2026-01-01/P1M', 2147483647)$$),
	($$SELECT credits.period('R/2026-01-01/P1M', -2147483648)$$),
	($$SELECT credits.period_at('R/2026-01-01/P1M', '294276-12-31 23:59:59+00')$$),
	($$SELECT count(*) FROM credits.periods('R/2026-01-01/P1M', '[2026-01-01, 294276-12-31)')$$),
	-- the clock
	($$SET credits.clock = '294277-01-01T00:00:00Z'$$),
	(format('SET credits.clock = %L', repeat('9', 1048576))),
	($$SET credits.clock = '-infinity'$$),
	($$SELECT credits.grant_one_time('x1', 'r2', 5, '-infinity')$$);

SELECT left(pg_temp.err(sql), 120) AS result FROM hostile;

SELECT * FROM verify('x1');
SELECT balance('x1'), (SELECT count(*) FROM ledger WHERE org = 'x1') AS ledger_rows;
