#!/usr/bin/python3
#
# A model check of the spending rules: random operations (unlocks by
# function, batch, INSERT into credits.unlocks and an app table's trigger;
# refunds, purchases, referrals, adjustments, revocations, plan and cycle
# changes, limits, deactivations, members leaving and coming back, freezes,
# renewal, expiry) on three orgs,
# with credits.clock moving forward by minutes or weeks.  After every
# operation it checks, against the tables and a model of its own:
#   - verify() finds nothing;
#   - balance() = org_status.credits_left = the remaining credits of the
#     grants spendable at the clock (plus the plan grant not yet created);
#   - used_this_period, per org and per member, = the unlocks whose
#     unlocked_at lies in the period; can_spend follows SPEC section 3;
#   - next_expiry is the soonest expiry of a spendable grant with credits;
#   - plan_credits is the entitlement: the largest plan_credits in force
#     from the plan period's start (or the org's creation, or the plan's
#     restart) until now, as the model records them; a plan grant holds it;
#   - an unlock charges one credit exactly when the prospect was not
#     unlocked, from the first grant in consumption order, and never
#     past the member's limit;
#   - unlock_many: a row per distinct prospect in input order; the new
#     ones paid all or none (with SPEC's error, leaving no trace), or with
#     partial in input order while credits and the limit last, the rest
#     with reason 'limit' or 'credits';
#   - INSERT into credits.unlocks (ON CONFLICT DO NOTHING) and into an app
#     table with the trigger charge each new prospect once, or fail and
#     leave nothing;
#   - a refund returns the credit to the debited grant if it is spendable
#     at the clock, else to a new 1-credit adjustment grant, ref
#     refund:<debit id>, ending with the usage period;
#   - expire_due() leaves no credits in expired grants, renew_due() no org
#     without its current plan grant, and neither finds work a second time.
# Errors other than the refusals SPEC lists fail the run.
#
#   test/model/model.py seed steps   (libpq's PG* variables name the
#   database, where CREATE EXTENSION credits has run and credits.clock
#   writes are allowed)
#
import random, sys, datetime as dt
import psycopg2

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
rnd = random.Random(seed)
conn = psycopg2.connect('')
conn.autocommit = True
cur = conn.cursor()

def q(sql, args=()):
    cur.execute(sql, args)
    try:
        return cur.fetchall()
    except psycopg2.ProgrammingError:
        return None

def q1(sql, args=()):
    r = q(sql, args)
    return r[0][0] if r else None

clock = dt.datetime(2025, 1, 1, 9, 0, tzinfo=dt.timezone.utc)
def setclock():
    q("SET credits.clock = %s", (clock.strftime('%Y-%m-%dT%H:%M:%SZ'),))
setclock()

orgs = ['o1', 'o2', 'o3']
cycles = ['R/2025-01-31/P1M', 'R/2025-01-01/P1Y', 'R3/2025-01-15/P1M',
          'R/2025-01-31T10:00[Europe/Stockholm]/P1M', 'R/2025-02-28/P2M']
members = ['a', 'b', 'c']
hist = {}
restart = {}
seq = [0]
def nextseq():
    seq[0] += 1
    return seq[0]
for o in orgs:
    v0 = rnd.choice([0, 3, 10, 30])
    q("INSERT INTO credits.orgs (org, cycle, plan_credits, low_balance_threshold) VALUES (%s, %s, %s, %s)",
      (o, rnd.choice(cycles), v0, rnd.choice([None, 2, 5])))
    hist[o] = [(clock, nextseq(), v0)]
    restart[o] = None
    for m in members:
        q("INSERT INTO credits.members (org, member, period_limit) VALUES (%s, %s, %s)",
          (o, m, rnd.choice([None, None, 2, 5, 20])))
prospects = ['p%d' % i for i in range(60)]
q("CREATE TABLE model_app (org_id text, member_id text, prospect_id text)")
q("SELECT credits.attach_unlock_trigger('model_app', 'org_id', 'member_id', 'prospect_id')")
refno = [0]

def newref():
    refno[0] += 1
    return 'r%d-%d' % (seed, refno[0])

def unlocked(o):
    return set(x[0] for x in q("SELECT prospect FROM credits.unlocks WHERE org = %s", (o,)))

def can_pay(o, m):
    """credits spendable now, and what the member may still use (None: no cap)"""
    r = q("SELECT period_limit, used_this_period FROM credits.member_status "
          "WHERE org = %s AND member = %s", (o, m))
    lim, used = r[0] if r else (None, 0)     # a member who left: blocked() says ZC004
    return (q1("SELECT credits.balance(%s)", (o,)),
            None if lim is None else max(0, lim - used))

def blocked(o, m):
    """what refuses any charge for member m: ZC008 or ZC004, or None"""
    if q1("SELECT frozen FROM credits.orgs WHERE org = %s", (o,)):
        return 'ZC008'
    if not q1("SELECT active FROM credits.members WHERE org = %s AND member = %s", (o, m)):
        return 'ZC004'
    return None

def batch(o, m):
    """unlock_many: one row per distinct prospect in input order; new ones
    paid all or none, or (partial) in input order while credits and the
    member's limit last"""
    ps = [rnd.choice(prospects) for _ in range(rnd.randint(1, 6))]
    partial = rnd.random() < 0.5
    had = unlocked(o)
    left, room = can_pay(o, m)
    stop = blocked(o, m)
    distinct = list(dict.fromkeys(ps))
    new = [p for p in distinct if p not in had]
    payable = len(new) if room is None else min(len(new), room)
    payable = min(payable, left)
    try:
        res = q("SELECT prospect, charged, unlocked, reason FROM credits.unlock_many(%s, %s, %s, %s)",
                (o, m, ps, partial))
    except psycopg2.Error as e:
        assert new, ('error with nothing to pay', e.pgcode)
        want = stop or (('ZC002' if room is not None and room < len(new) else 'ZC001')
                        if not partial else None)
        assert e.pgcode == want, ('unlock_many error', e.pgcode, want, left, room, len(new), partial)
        assert unlocked(o) == had and can_pay(o, m)[0] == left, 'a refused batch left a trace'
        raise
    assert not (new and stop), ('charged despite', stop)
    assert [r[0] for r in res] == distinct, ('rows', res, distinct)
    if not partial:
        assert payable == len(new), ('all or none', payable, len(new))
    paid = new[:payable]
    for (p, charged, unl, reason) in res:
        assert charged == (p in paid), ('charged', p, charged, paid)
        assert unl == (p in had or p in paid), ('unlocked', p, unl)
        if unl:
            assert reason is None, ('reason', p, reason)
        elif room is not None and room < left:
            assert reason == 'limit', ('reason', p, reason, room, left)
        elif room is None or left < room:
            assert reason == 'credits', ('reason', p, reason, room, left)
    assert unlocked(o) == had | set(paid)
    assert q1("SELECT credits.balance(%s)", (o,)) == left - len(paid)
    return 'unlock_many'

def rows(o, m):
    """INSERT INTO credits.unlocks ... ON CONFLICT DO NOTHING, or rows of an
    app table with the trigger: each new prospect charged once, or the
    statement fails and leaves nothing"""
    ps = [rnd.choice(prospects) for _ in range(rnd.randint(1, 4))]
    had = unlocked(o)
    left, room = can_pay(o, m)
    new = set(ps) - had
    via = rnd.choice(['unlocks', 'app'])
    values = ', '.join(cur.mogrify('(%s, %s, %s)', (o, m, p)).decode() for p in ps)
    try:
        if via == 'unlocks':
            q("INSERT INTO credits.unlocks (org, member, prospect) VALUES " + values +
              " ON CONFLICT DO NOTHING")
        else:
            q("INSERT INTO model_app (org_id, member_id, prospect_id) VALUES " + values)
    except psycopg2.Error as e:
        assert new, ('error with nothing to pay', e.pgcode)
        assert unlocked(o) == had and can_pay(o, m)[0] == left, 'a refused statement left a trace'
        raise
    assert unlocked(o) == had | new, ('rows unlocked', via)
    assert q1("SELECT credits.balance(%s)", (o,)) == left - len(new), ('rows charged', via)
    assert room is None or len(new) <= room, ('past the limit', via, room, len(new))
    return 'rows ' + via

def refund(o):
    """the credit goes back to the debited grant if it is spendable at the
    clock, else to a new 1-credit adjustment grant ending with the usage
    period (ref refund:<debit id>)"""
    ps = q("SELECT u.prospect, l.id, l.grant_id FROM credits.unlocks u "
           "JOIN credits.ledger l ON l.org = u.org AND l.prospect = u.prospect AND l.kind = 'debit' "
           "WHERE u.org = %s ORDER BY l.id", (o,))
    if not ps:
        return 'refund'
    last = {}
    for (p, debit, g) in ps:
        last[p] = (debit, g)
    p = rnd.choice(sorted(last))
    debit, g = last[p]
    back = q1("SELECT count(*) FROM credits.grants WHERE id = %s "
              "AND (kind <> 'plan' OR starts_at <= credits.clock()) "
              "AND (expires_at IS NULL OR credits.clock() < expires_at)", (g,)) == 1
    before = q1("SELECT credits.balance(%s)", (o,))
    assert q1("SELECT credits.refund(%s, %s)", (o, p)) is True
    assert q1("SELECT credits.balance(%s)", (o,)) == before + 1, 'refund'
    assert p not in unlocked(o)
    # the refund's own entry: a 'refund' on the debited grant, or the
    # 'grant' entry of a new adjustment grant
    kind, rg = q("SELECT kind, grant_id FROM credits.ledger WHERE org = %s "
                 "ORDER BY id DESC LIMIT 1", (o,))[0]
    if back:
        assert (kind, rg) == ('refund', g), ('refund to its grant', kind, rg, g)
    else:
        gk, ref, exp, amount = q("SELECT kind, ref, expires_at, amount FROM credits.grants "
                                 "WHERE id = %s", (rg,))[0]
        period = q1("SELECT period FROM credits.org_status WHERE org = %s", (o,))
        assert (kind, gk, ref, exp, amount) == ('grant', 'adjustment', 'refund:%d' % debit,
                                                period.upper, 1), \
            ('refund grant', kind, gk, ref, exp, amount, debit, period)
    return 'refund'

def op():
    global clock
    o = rnd.choice(orgs)
    m = rnd.choice(members)
    k = rnd.random()
    if k < 0.28:
        p = rnd.choice(prospects)
        before = q1("SELECT credits.balance(%s)", (o,))
        was = q1("SELECT credits.is_unlocked(%s, %s)", (o, p))
        order_sql = ("SELECT id FROM credits.grants g WHERE org = %s AND remaining > 0 "
                     "AND (g.kind <> 'plan' OR g.starts_at <= credits.clock()) "
                     "AND (g.expires_at IS NULL OR credits.clock() < g.expires_at) "
                     "ORDER BY g.expires_at NULLS LAST, g.starts_at, g.id")
        cand_before = [x[0] for x in q(order_sql, (o,))]
        ids_before = set(x[0] for x in q("SELECT id FROM credits.grants WHERE org = %s", (o,)))
        r = q1("SELECT credits.unlock(%s, %s, %s)", (o, m, p))
        after = q1("SELECT credits.balance(%s)", (o,))
        assert r == (not was), ('unlock result', o, p, r, was)
        if r:
            assert after == before - 1, ('charge', before, after)
            gd = q1("SELECT grant_id FROM credits.ledger WHERE org = %s AND kind = 'debit' "
                    "AND prospect = %s ORDER BY id DESC LIMIT 1", (o, p))
            # the debited grant comes first in consumption order among the
            # grants spendable before (and any plan grant made by the call)
            new_ids = [x[0] for x in q("SELECT id FROM credits.grants WHERE org = %s", (o,))
                       if x[0] not in ids_before]
            full = [x[0] for x in q(order_sql.replace("AND remaining > 0 ", ""), (o,))]
            eligible = [g for g in full if g in cand_before or g in new_ids]
            assert eligible and eligible[0] == gd, ('consumption order', o, gd, eligible, cand_before, new_ids)
            lim, used = q("SELECT period_limit, used_this_period FROM credits.member_status "
                          "WHERE org = %s AND member = %s", (o, m))[0]
            assert lim is None or used <= lim, ('limit', o, m, lim, used)
        else:
            assert after == before, ('free', before, after)
        return 'unlock'
    if k < 0.38:
        return batch(o, m)
    if k < 0.44:
        return rows(o, m)
    if k < 0.52:
        return refund(o)
    if k < 0.56:
        exp = None if rnd.random() < 0.5 else clock + dt.timedelta(days=rnd.randint(1, 90))
        q("SELECT credits.grant_one_time(%s, %s, %s, %s)", (o, newref(), rnd.randint(1, 8), exp))
        return 'buy'
    if k < 0.60:
        exp = None if rnd.random() < 0.7 else clock + dt.timedelta(days=rnd.randint(1, 90))
        q("SELECT credits.grant_referral(%s, %s, %s, %s)", (o, newref(), rnd.randint(1, 5), exp))
        return 'referral'
    if k < 0.64:
        q("SELECT credits.adjust(%s, %s, %s, 'n')", (o, newref(), rnd.choice([-3, -1, 1, 4])))
        return 'adjust'
    if k < 0.66:
        g = q("SELECT id FROM credits.grants WHERE org = %s AND remaining > 0", (o,))
        if g:
            q("SELECT credits.revoke_grant(%s, %s, 'n')", (rnd.choice(g)[0], newref()))
        return 'revoke'
    if k < 0.71:
        v = rnd.choice([0, 2, 5, 10, 30, 50])
        q("UPDATE credits.orgs SET plan_credits = %s WHERE org = %s", (v, o))
        hist[o].append((clock, nextseq(), v))
        return 'plan'
    if k < 0.73:
        # a restart is recorded in the org's state: its instant, and the
        # plan change in force then (two restarts at one instant differ
        # by the second)
        # (an org not written to yet has no state row: no restart)
        cut_sql = ("SELECT s.cycle_cut, s.cut_seq FROM credits.orgs o LEFT JOIN "
                   "credits.org_state s ON s.org = o.org WHERE o.org = %s")
        cut0 = q(cut_sql, (o,))[0]
        q("UPDATE credits.orgs SET cycle = %s WHERE org = %s", (rnd.choice(cycles), o))
        cut1 = q(cut_sql, (o,))[0]
        if cut1 != cut0:
            assert cut1[0] == clock, ('cut at the clock', cut1, clock)
            restart[o] = (clock, nextseq())
        return 'cycle'
    if k < 0.76:
        q("UPDATE credits.members SET period_limit = %s WHERE org = %s AND member = %s",
          (rnd.choice([None, 0, 1, 3, 10]), o, m))
        return 'limit'
    if k < 0.77:
        q("UPDATE credits.members SET active = NOT active WHERE org = %s AND member = %s", (o, m))
        return 'active'
    if k < 0.78:
        # a member leaves, or comes back under the same key: history keeps
        # the key, and a returning member's usage this period counts again
        if q1("SELECT count(*) FROM credits.members WHERE org = %s AND member = %s", (o, m)):
            q("DELETE FROM credits.members WHERE org = %s AND member = %s", (o, m))
        else:
            q("INSERT INTO credits.members (org, member, period_limit) VALUES (%s, %s, %s)",
              (o, m, rnd.choice([None, 3, 10])))
        return 'member'
    if k < 0.80:
        q("UPDATE credits.orgs SET frozen = %s WHERE org = %s", (rnd.random() < 0.2, o))
        return 'frozen'
    if k < 0.83:
        n = q1("SELECT credits.expire_due()")
        # nothing left in an expired grant; each expiry written once, dated
        # at the grant's expiry (verify() checks the dates)
        assert q1("SELECT count(*) FROM credits.grants WHERE expires_at <= credits.clock() "
                  "AND remaining > 0") == 0, 'expired credits left after expire_due()'
        assert q1("SELECT credits.expire_due()") == 0, ('expire_due() twice', n)
        return 'expire_due'
    if k < 0.85:
        q("SELECT credits.renew_due()")
        # every org in a plan period with credits to give has its grant
        missing = q("SELECT s.org FROM credits.org_status s WHERE s.plan_period IS NOT NULL "
                    "AND s.plan_credits > 0 AND NOT EXISTS (SELECT 1 FROM credits.grants g "
                    "WHERE g.org = s.org AND g.kind = 'plan' "
                    "AND g.starts_at = lower(s.plan_period) AND g.expires_at > g.starts_at)")
        assert not missing, ('renew_due() left out', missing)
        assert q1("SELECT credits.renew_due()") == 0, 'renew_due() twice'
        return 'renew_due'
    # the clock moves forward
    clock += rnd.choice([dt.timedelta(minutes=rnd.randint(1, 600)),
                         dt.timedelta(days=rnd.randint(1, 40))])
    setclock()
    return 'clock'

def check(step, what):
    probs = q("SELECT * FROM credits.verify()")
    assert not probs, ('verify', probs)
    for o in orgs:
        st = q("SELECT period, plan_period, plan_credits, credits_left, used_this_period, "
               "active_members, monthly_goal, next_expiry, next_expiry_credits, "
               "credits.balance(org) FROM credits.org_status WHERE org = %s", (o,))[0]
        (period, plan_period, plan_credits, left, used, active, goal, nexp, nexpc, bal) = st
        assert left == bal, ('balance vs status', o, left, bal)
        if plan_period is not None:
            start = plan_period.lower
            h = hist[o]
            rs = restart[o]
            at_restart = rs is not None and rs[0] == start
            def before_start(t, sq):
                if t < start:
                    return True
                if t == start:
                    return (sq < rs[1]) if at_restart else True
                return False
            prior = [v for (t, sq, v) in h if before_start(t, sq)]
            v_start = prior[-1] if prior else h[0][2]
            later = [v for (t, sq, v) in h if not before_start(t, sq)]
            ent = max([v_start] + later)
            assert plan_credits == ent, ('entitlement', o, plan_credits, ent, start, h[-6:], rs)
            g = q("SELECT amount FROM credits.grants WHERE org = %s AND kind = 'plan' "
                  "AND starts_at = %s AND expires_at > starts_at", (o, start))
            if g:
                assert g[0][0] == ent, ('plan grant amount', o, g[0][0], ent)
        # used_this_period: unlocks with unlocked_at in period
        n = q1("SELECT count(*) FROM credits.unlocks u, credits.org_status s WHERE s.org = %s "
               "AND u.org = s.org AND u.unlocked_at <@ s.period", (o,))
        assert n == used, ('used_this_period', o, n, used)
        # spendable grants at the clock (plan grants from their start)
        sp = q1("SELECT coalesce(sum(remaining), 0) FROM credits.grants g WHERE org = %s "
                "AND (g.kind <> 'plan' OR g.starts_at <= credits.clock()) "
                "AND (g.expires_at IS NULL OR credits.clock() < g.expires_at)", (o,))
        has_plan = q1("SELECT count(*) FROM credits.grants g, credits.org_status s WHERE s.org = %s "
                      "AND g.org = s.org AND g.kind = 'plan' AND g.starts_at = lower(s.plan_period) "
                      "AND g.expires_at > g.starts_at", (o,))
        if plan_period is None or has_plan:
            assert sp == left, ('spendable vs credits_left', o, sp, left, plan_period, has_plan)
        else:
            assert left == sp + plan_credits, ('uncreated plan grant', o, sp, plan_credits, left)
        # member_status
        for (mm, act, mused, lim, mleft, can) in q(
                "SELECT member, active, used_this_period, period_limit, credits_left, can_spend "
                "FROM credits.member_status WHERE org = %s", (o,)):
            n = q1("SELECT count(*) FROM credits.unlocks u, credits.org_status s WHERE s.org = %s "
                   "AND u.org = s.org AND u.member = %s AND u.unlocked_at <@ s.period", (o, mm))
            assert n == mused, ('member used', o, mm, n, mused)
            frozen = q1("SELECT frozen FROM credits.orgs WHERE org = %s", (o,))
            if not act or frozen:
                exp_can = 0
            else:
                exp_can = max(0, mleft if lim is None else min(lim - mused, mleft))
            assert can == exp_can, ('can_spend', o, mm, can, exp_can)
        # next expiry: among spendable grants with credits left
        ne = q("SELECT min(expires_at) FROM credits.grants g WHERE org = %s AND remaining > 0 "
               "AND (g.kind <> 'plan' OR g.starts_at <= credits.clock()) "
               "AND g.expires_at IS NOT NULL AND credits.clock() < g.expires_at", (o,))[0][0]
        if plan_period is None or has_plan:
            assert ne == nexp, ('next_expiry', o, ne, nexp)

errors = {}
for step in range(steps):
    try:
        what = op()
    except AssertionError as e:
        print('seed', seed, 'step', step, 'at', clock, 'FAILED:', e)
        sys.exit(1)
    except psycopg2.Error as e:
        code = e.pgcode
        errors[code] = errors.get(code, 0) + 1
        if code not in ('ZC001', 'ZC002', 'ZC004', 'ZC008', '22023', '22003'):
            print('seed', seed, 'step', step, 'unexpected error', code, e.pgerror)
            sys.exit(1)
        what = 'error ' + code
    try:
        check(step, what)
    except AssertionError as e:
        print('seed', seed, 'step', step, 'after', what, 'at', clock, 'FAILED:', e)
        sys.exit(1)
print('seed', seed, 'ok', steps, 'steps; errors', errors)
