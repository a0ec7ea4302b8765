#!/usr/bin/python3
"""A small sales-prospecting app using credits through its own tables.

It plays the product's story against the database the PG* environment
points at (scripts/run-tests runs it in a throwaway cluster): an org with
two members adds prospects to campaigns in the app's own table, moves
them, lets a colleague reuse one, uploads its own, runs into the member's
limit and out of credits -- handling ZC002 and ZC001 by SQLSTATE, never by
message text -- buys one-time credits, receives the low-balance
notification, and prints the status views.  It checks every outcome and
exits non-zero if one is not what the contract promises.

Uses Debian's python3-psycopg2 with /usr/bin/python3.
"""

import json
import select
import sys

import psycopg2
import psycopg2.extensions

NO_CREDITS = "ZC001"    # not enough spendable credits
LIMIT = "ZC002"         # the member's period limit would be exceeded

checks = {"passed": 0, "failed": 0}


def check(what, got, want):
    ok = got == want
    checks["passed" if ok else "failed"] += 1
    print(f"  {'ok  ' if ok else 'FAIL'} {what}: {got!r}" + ("" if ok else f" (wanted {want!r})"))


def connect(role):
    conn = psycopg2.connect("")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET ROLE %s" % psycopg2.extensions.quote_ident(role, cur))
    return conn


def one(conn, sql, args=()):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()


def run(conn, sql, args=()):
    with conn.cursor() as cur:
        cur.execute(sql, args)


def add_prospect(conn, campaign, member, prospect, source="search"):
    """The app's own INSERT: the database charges if the prospect is new."""
    try:
        run(conn, "INSERT INTO demo_app.campaign_prospects"
                  " (campaign, org_id, added_by, prospect_id, source)"
                  " VALUES (%s, %s, %s, %s, %s)",
            (campaign, "acme", member, prospect, source))
        return "added"
    except psycopg2.Error as e:
        if e.pgcode == LIMIT:
            return "limit reached"
        if e.pgcode == NO_CREDITS:
            return "out of credits"
        raise


def status(conn):
    print("  org_status:")
    with conn.cursor() as cur:
        cur.execute("SELECT credits_left, used_this_period, active_members, monthly_goal"
                    " FROM credits.org_status WHERE org = 'acme'")
        print("    credits_left=%s used_this_period=%s active_members=%s monthly_goal=%s"
              % cur.fetchone())
        cur.execute("SELECT member, used_this_period, period_limit, can_spend"
                    " FROM credits.member_status WHERE org = 'acme' ORDER BY member")
        for row in cur.fetchall():
            print("    member=%s used=%s limit=%s can_spend=%s" % row)


def notifications(listener):
    if select.select([listener], [], [], 1.0) != ([], [], []):
        listener.poll()
    got = [json.loads(n.payload) for n in listener.notifies]
    listener.notifies.clear()
    return got


def main():
    setup = psycopg2.connect("")
    setup.autocommit = True
    for sql in [
        "DROP SCHEMA IF EXISTS demo_app CASCADE",
        "DROP ROLE IF EXISTS demo_app_user",
        "DROP ROLE IF EXISTS demo_admin",
        "CREATE ROLE demo_app_user",
        "CREATE ROLE demo_admin",
        "CREATE EXTENSION IF NOT EXISTS credits",
        "SELECT credits.grant_app_rights('demo_app_user')",
        "SELECT credits.grant_admin_rights('demo_admin')",
        "CREATE SCHEMA demo_app AUTHORIZATION demo_app_user",
    ]:
        run(setup, sql)

    admin = connect("demo_admin")
    app = connect("demo_app_user")
    listener = psycopg2.connect("")
    listener.autocommit = True
    run(listener, "LISTEN credits_low_balance")

    print("== the admin signs up an org: monthly plan of 5 credits, alice capped at 3")
    run(admin, "INSERT INTO credits.orgs (org, cycle, plan_credits, low_balance_threshold)"
               " VALUES ('acme', credits.cycle_from(now(), '1 month', NULL, 'Europe/Stockholm'), 5, 1)")
    run(admin, "INSERT INTO credits.members (org, member, period_limit)"
               " VALUES ('acme', 'alice', 3), ('acme', 'bob', NULL)")

    print("== the app creates its campaign table and lets the database charge")
    run(app, "CREATE TABLE demo_app.campaign_prospects ("
             " id serial PRIMARY KEY, campaign text NOT NULL, org_id text NOT NULL,"
             " added_by text, prospect_id uuid, source text NOT NULL DEFAULT 'search')")
    run(app, "SELECT credits.attach_unlock_trigger('demo_app.campaign_prospects',"
             " 'org_id', 'added_by', 'prospect_id', 'source', 'upload')")
    p = ["00000000-0000-4000-8000-%012d" % i for i in range(10)]

    print("== alice adds two prospects to her campaign")
    check("alice adds p0", add_prospect(app, "spring", "alice", p[0]), "added")
    check("alice adds p1", add_prospect(app, "spring", "alice", p[1]), "added")
    check("credits left", one(app, "SELECT credits.balance('acme')")[0], 3)

    print("== she moves p0 to another campaign; bob adds p0 to his: both free")
    run(app, "UPDATE demo_app.campaign_prospects SET campaign = 'summer' WHERE prospect_id = %s",
        (p[0],))
    check("bob adds p0", add_prospect(app, "bobs", "bob", p[0]), "added")
    check("credits left", one(app, "SELECT credits.balance('acme')")[0], 3)
    check("p0 unlocked", one(app, "SELECT credits.is_unlocked('acme', %s)", (p[0],))[0], True)

    print("== alice uploads her own prospect: not an unlock, free")
    check("alice uploads p2", add_prospect(app, "own", "alice", p[2], "upload"), "added")
    check("p2 unlocked", one(app, "SELECT credits.is_unlocked('acme', %s)", (p[2],))[0], False)

    print("== alice reaches her limit of 3")
    check("alice adds p3", add_prospect(app, "spring", "alice", p[3]), "added")
    check("alice adds p4", add_prospect(app, "spring", "alice", p[4]), "limit reached")
    check("the refused row is not stored",
          one(app, "SELECT count(*) FROM demo_app.campaign_prospects WHERE prospect_id = %s",
              (p[4],))[0], 0)
    check("low-balance notifications so far", notifications(listener), [])

    print("== bob unlocks the last credits, gets the low-balance signal, then runs out")
    check("bob adds p5", add_prospect(app, "bobs", "bob", p[5]), "added")
    check("low-balance notification",
          notifications(listener), [{"org": "acme", "credits_left": 1, "threshold": 1}])
    check("bob adds p6", add_prospect(app, "bobs", "bob", p[6]), "added")
    check("bob adds p7", add_prospect(app, "bobs", "bob", p[7]), "out of credits")
    check("signals once below the threshold", notifications(listener), [])
    status(app)

    print("== the org buys 10 one-time credits (a retry of the same order is harmless)")
    g1 = one(admin, "SELECT credits.grant_one_time('acme', 'order-1001', 10)")[0]
    g2 = one(admin, "SELECT credits.grant_one_time('acme', 'order-1001', 10)")[0]
    check("the retried purchase is the same grant", g1, g2)
    check("bob adds p7", add_prospect(app, "bobs", "bob", p[7]), "added")
    check("credits left", one(app, "SELECT credits.balance('acme')")[0], 9)
    status(app)

    print("== the ledger is consistent")
    check("verify() problems", one(admin, "SELECT count(*) FROM credits.verify('acme')")[0], 0)

    for conn in (app, admin, listener):
        conn.close()
    for sql in ["DROP SCHEMA demo_app CASCADE",
                "DROP OWNED BY demo_app_user, demo_admin",
                "DROP ROLE demo_app_user", "DROP ROLE demo_admin"]:
        run(setup, sql)
    setup.close()

    print("app: %(passed)d passed, %(failed)d failed" % checks)
    return 1 if checks["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
