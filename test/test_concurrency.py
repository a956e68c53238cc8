#!/usr/bin/python3
"""Sessions racing each other on the registry: what one session commits is
seen by another from its next statement on, in every case the snapshot
machinery allows, and racing writers get clean results or documented errors."""
import threading
import time

import psycopg2

from mlops_test import check, connect, finish, fresh_database, query

DB = "test_concurrency"
admin = fresh_database(DB)
query(admin, "CREATE TABLE filler (i int)")
v1 = query(admin, "SELECT version FROM mlops.train('m', 'diabetes', 'target', 'linear', "
                  "features => '{age,bmi}', seed => 1)")[0][0]
v2 = query(admin, "SELECT version FROM mlops.train('m', 'diabetes', 'target', 'linear', "
                  "features => '{age,bmi}', seed => 7)")[0][0]
P = {v: query(admin, "SELECT mlops.predict(%s, ARRAY[0.05, 0.05])", ("m:%d" % v,))[0][0] for v in (v1, v2)}
check(P[v1] != P[v2], "the two versions score differently")


def sqlstate(conn, sql, params=None):
    """Runs a statement; 'ok', or the SQLSTATE it failed with."""
    try:
        query(conn, sql, params)
        return "ok"
    except psycopg2.Error as e:
        return e.pgcode


def commit_outcome(conn):
    """Commits conn's transaction; 'ok', or the SQLSTATE it failed with (rolled back)."""
    try:
        conn.commit()
        return "ok"
    except psycopg2.Error as e:
        conn.rollback()
        return e.pgcode


def scoring_loop(conn):
    """Scores 'm' in a PL/pgSQL loop (one call site, a new snapshot per
    statement) until a statement sees production on v2, then once more with
    the same call site; returns the version that last score belongs to."""
    query(conn, """CREATE OR REPLACE FUNCTION pg_temp.score_until_moved(target int) RETURNS float8
        LANGUAGE plpgsql AS $$
        DECLARE p float8; seen boolean := false;
        BEGIN
            LOOP
                p := mlops.predict('m', ARRAY[0.05, 0.05]);
                EXIT WHEN seen;
                seen := (SELECT version FROM mlops.resolve_model('m')) = target;
                PERFORM pg_sleep(0.01);
            END LOOP;
            RETURN p;
        END $$""")
    p = query(conn, "SELECT pg_temp.score_until_moved(%s)", (v2,))[0][0]
    return [v for v in P if P[v] == p]


def stale_after_commit(overflow):
    """A commit that leaves the snapshot's xmin and xmax as they were (the
    mover's xid is older than a transaction that completed before it) must
    still be seen by the next statement. overflow: another session holds more
    subtransactions than a snapshot lists (a suboverflowed snapshot)."""
    query(admin, "SELECT mlops.set_alias('m', 'production', %s)", (v1,))
    old = connect(DB)
    old.autocommit = False
    query(old, "SELECT pg_current_xact_id()")  # the oldest running xid: xmin stays
    if overflow:
        for i in range(70):
            query(old, "SAVEPOINT s%d; INSERT INTO filler VALUES (%d)" % (i, i))
    mover = connect(DB)
    mover.autocommit = False
    query(mover, "SELECT pg_current_xact_id()")
    younger = connect(DB)
    query(younger, "BEGIN; SELECT pg_current_xact_id(); COMMIT")  # completes after the mover's xid
    query(mover, "SELECT mlops.set_alias('m', 'production', %s)", (v2,))
    scorer = connect(DB)
    out = []
    t = threading.Thread(target=lambda: out.append(scoring_loop(scorer)))
    t.start()
    t.join(0.3)
    mover.commit()
    t.join()
    old.rollback()
    for c in (old, mover, younger, scorer):
        c.close()
    return out[0]


for overflow in (False, True):
    got = stale_after_commit(overflow)
    check(got == [v2], "%s: the statement after the move's commit scores v2 (got version %s)"
          % ("suboverflowed snapshots" if overflow else "ordinary snapshots", got))


# Alias moves of one model happen one at a time. A trigger makes a set_alias
# pause after it has taken the alias (before its history row's foreign key
# locks the model) while another move of the same alias runs.
query(admin, """CREATE FUNCTION pg_temp.nap() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('test.nap', true) = 'on' THEN PERFORM pg_sleep(0.5); END IF;
        RETURN NEW;
    END $$""")
query(admin, "CREATE TRIGGER nap BEFORE INSERT ON mlops.deployment FOR EACH ROW EXECUTE FUNCTION pg_temp.nap()")
v3 = query(admin, "SELECT version FROM mlops.train('m', 'diabetes', 'target', 'linear', "
                  "features => '{age,bmi}', seed => 9)")[0][0]


def racing(first, second):
    """Runs `first` in a session that pauses in it, and `second` in another
    session meanwhile; returns each one's outcome ('ok' or the SQLSTATE)."""
    outcome = {}

    def run(name, sql, nap):
        conn = connect(DB)
        if nap:
            query(conn, "SET test.nap = on")
        outcome[name] = sqlstate(conn, sql)
        conn.close()
    a = threading.Thread(target=run, args=("first", first, True))
    a.start()
    a.join(0.2)
    b = threading.Thread(target=run, args=("second", second, False))
    b.start()
    a.join()
    b.join()
    return outcome["first"], outcome["second"]


def history(alias):
    return query(admin, "SELECT action, from_version, to_version FROM mlops.deployments "
                        "WHERE model = 'm' AND alias = %s ORDER BY id", (alias,))


query(admin, "SELECT mlops.set_alias('m', 'staging', %s)", (v1,))
query(admin, "SELECT mlops.set_alias('m', 'staging', %s)", (v2,))
got = racing("SELECT mlops.set_alias('m', 'staging', %d)" % v3, "SELECT mlops.rollback('m', 'staging')")
check(got == ("ok", "ok"), "a rollback racing a set_alias of the same alias waits for it, no deadlock (got %s)"
      % (got,))
check(history("staging")[-2:] == [("set", v2, v3), ("rollback", v3, v2)],
      "the rollback undid the move that committed before it: %s" % history("staging")[-2:])

got = racing("SELECT mlops.set_alias('m', 'canary', %d)" % v1, "SELECT mlops.set_alias('m', 'canary', %d)" % v2)
check(got == ("ok", "ok"), "two set_alias creating the same alias both succeed (got %s)" % (got,))
check(history("canary") == [("set", None, v1), ("set", v1, v2)],
      "the second move records where the first left the alias: %s" % history("canary"))
query(admin, "DROP TRIGGER nap ON mlops.deployment")

# log_param at REPEATABLE READ: a param another session committed after the
# snapshot is a serialization failure, not the primary key's raw 23505
logger = connect(DB)
run = query(logger, "SELECT mlops.start_run('params')")[0][0]
late = connect(DB)
late.autocommit = False
query(late, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
query(late, "SELECT count(*) FROM mlops.runs")  # the snapshot
query(logger, "SELECT mlops.log_param(%s, 'k', 'v')", (run,))
got = sqlstate(late, "SELECT mlops.log_param(%s, 'k', 'v')", (run,))
late.rollback()
check(got == "40001", "log_param of a param committed after a REPEATABLE READ snapshot: 40001 (got %s)" % got)
query(late, "SELECT mlops.log_param(%s, 'k', 'v')", (run,))
late.commit()
check(query(logger, "SELECT params FROM mlops.runs WHERE run_id = %s", (run,))[0][0] == {"k": "v"},
      "run again, it is the no-op a same value is")

# a monitor dropped while it runs: 42704 and nothing recorded, whether the drop
# commits before the run records or is still open when it does
query(admin, "CREATE VIEW slow_diabetes AS SELECT d.* FROM diabetes d, pg_sleep(0.4)")


def run_while_dropped(drop_open, sql, recreate=False):
    """Runs sql (which runs monitor 'mon') in a session while another drops
    the monitor; recreate: its transaction creates a monitor 'mon' again, with
    another metric and threshold (dropped afterwards). Returns sql's rows or
    SQLSTATE."""
    query(admin, "SELECT mlops.create_monitor('mon', 'm', 'slow_diabetes', 'psi')")
    out = []

    def run():
        try:
            out.append(query(connect(DB), sql))
        except psycopg2.Error as e:
            out.append(e.pgcode)
    t = threading.Thread(target=run)
    t.start()
    t.join(0.2)
    dropper = connect(DB)
    dropper.autocommit = False
    query(dropper, "SELECT mlops.drop_monitor('mon')")
    if recreate:
        query(dropper, "SELECT mlops.create_monitor('mon', 'm', 'diabetes', 'wasserstein', 5)")
    if drop_open:
        t.join(0.5)  # the run waits at its recording for the open drop
    dropper.commit()
    t.join()
    dropper.close()
    if recreate:
        query(admin, "SELECT mlops.drop_monitor('mon')")
    return out[0]


for drop_open in (False, True):
    when = "open while the run records" if drop_open else "committed before the run records"
    got = run_while_dropped(drop_open, "SELECT mlops.run_monitor('mon')")
    check(got == "42704", "run_monitor of a monitor dropped meanwhile (%s): 42704 (got %s)" % (when, got))
    got = run_while_dropped(drop_open, "SELECT * FROM mlops.run_monitors()")
    check(got == [], "run_monitors leaves a monitor dropped meanwhile out (%s), got %s" % (when, got))
check(query(admin, "SELECT count(*) FROM mlops.monitor_run")[0][0] == 0, "no run of a dropped monitor is left")

# a monitor dropped and created again under its name (with another metric and
# threshold) while a run measures it: the run measured the old one, so it
# records nothing rather than its psi values as the new one's wasserstein ones
got = run_while_dropped(False, "SELECT mlops.run_monitor('mon')", recreate=True)
check(got == "42704", "run_monitor of a monitor dropped and created again meanwhile: 42704 (got %s)" % got)
got = run_while_dropped(False, "SELECT * FROM mlops.run_monitors()", recreate=True)
check(got == [], "run_monitors leaves a monitor dropped and created again meanwhile out (got %s)" % got)

# The registry is audited: a transaction that wrote it (model "other") holds
# the audit log's lock, then moves "m". A single move or training of "m" that
# started meanwhile waits for it without having locked "m" first: no deadlock.
query(admin, "SELECT mlops.train('other', 'diabetes', 'target', 'linear', features => '{age,bmi}')")
vd = query(admin, "SELECT version FROM mlops.train('m', 'diabetes', 'target', 'linear', "
                  "features => '{age,bmi}', seed => 11)")[0][0]
for i, (sql, target) in enumerate((("SELECT mlops.set_alias('m', 'staging', %d)" % v1, v2),
                                   ("SELECT version FROM mlops.train('m', 'diabetes', 'target', 'linear', "
                                    "features => '{age,bmi}', seed => 3)", v2),
                                   ("SELECT mlops.delete_version('m', %d)" % vd, vd))):
    several = connect(DB)
    several.autocommit = False
    query(several, "SELECT mlops.set_alias('other', %s, 1)", ("canary-%d" % i,))  # a write: a new alias
    out = []
    conn = connect(DB)
    pid = conn.get_backend_pid()

    def single():
        out.append(sqlstate(conn, sql))
    t = threading.Thread(target=single)
    t.start()
    for _ in range(500):  # until it waits for the audit log's lock
        if query(admin, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (pid,)) == [(True,)]:
            break
        time.sleep(0.01)
    try:
        query(several, "SELECT mlops.set_alias('m', %s, %s)", ("shadow-%d" % i, target))
        out.append(commit_outcome(several))
    except psycopg2.Error as e:
        several.rollback()
        out.append(e.pgcode)
    t.join()
    several.close()
    # (in the order they end) the deletion waits for the transaction, then
    # finds the version aliased
    want = ["ok", "55000"] if "delete_version" in sql else ["ok", "ok"]
    check(out == want, "%s racing a transaction that moved another model first: %s (got %s)"
          % (sql.split("(")[0].split(".")[1], want, out))

# predict_logged racing a move of its alias and the deletion of the version it
# resolved: the deletion waits for the scoring transaction, which logs the
# version that scored (not a 23503 from the log row's foreign key). A trigger
# makes the log insert pause, as a slow scoring would.
vl = query(admin, "SELECT version FROM mlops.train('m', 'diabetes', 'target', 'linear', "
                  "features => '{age,bmi}', seed => 13)")[0][0]
query(admin, "SELECT mlops.set_alias('m', 'live', %s)", (vl,))
query(admin, "CREATE TRIGGER nap BEFORE INSERT ON mlops.prediction_log FOR EACH ROW EXECUTE FUNCTION pg_temp.nap()")
out = []


def logged():
    conn = connect(DB)
    query(conn, "SET test.nap = on")
    try:
        out.append(query(conn, "SELECT mlops.predict_logged('m@live', 'k1', ARRAY[0.05, 0.05])")[0][0])
    except psycopg2.Error as e:
        out.append(e.pgcode)
    conn.close()


t = threading.Thread(target=logged)
t.start()
t.join(0.2)
query(admin, "SELECT mlops.set_alias('m', 'live', %s)", (v1,))
deleted = sqlstate(admin, "SELECT mlops.delete_version('m', %s)", (vl,))
t.join()
query(admin, "DROP TRIGGER nap ON mlops.prediction_log")
check(deleted == "ok", "the version is deleted once the scoring transaction ends (got %s)" % deleted)
check(len(out) == 1 and not isinstance(out[0], str),
      "predict_logged of a version deleted meanwhile scores it and logs it (got %s)" % out)


# predict_logged holds the version it scored until its transaction ends; that
# transaction then writes an audited table (here an application's), which
# takes the audit log's lock. A delete_version of the version meanwhile waits
# for the scorer without holding that lock, so neither is cancelled as a
# deadlock (40P01): the write goes on, the deletion follows the commit. The
# other order (the audited write first, then predict_logged) too. The
# deletion is known to wait (pg_stat_activity) before the scorer goes on.
query(admin, "CREATE TABLE orders (id int)")
query(admin, "SELECT mlops.enable_audit('orders')")
for audited_first in (False, True):
    vs = query(admin, "SELECT version FROM mlops.train('m', 'diabetes', 'target', 'linear', "
                      "features => '{age,bmi}', seed => 17)")[0][0]
    scorer = connect(DB)
    scorer.autocommit = False
    if audited_first:
        query(scorer, "INSERT INTO orders VALUES (1)")
    query(scorer, "SELECT mlops.predict_logged(%s, 'k-order', ARRAY[0.05, 0.05])", ("m:%d" % vs,))
    deleter = connect(DB)
    deleter_pid = deleter.get_backend_pid()
    out = []
    t = threading.Thread(target=lambda: out.append(sqlstate(deleter, "SELECT mlops.delete_version('m', %s)", (vs,))))
    t.start()
    waiting = False
    for _ in range(1000):
        waiting = query(admin, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                        (deleter_pid,)) == [(True,)]
        if waiting:
            break
        time.sleep(0.01)
    try:
        if not audited_first:
            query(scorer, "INSERT INTO orders VALUES (2)")
        scorer.commit()
        scored = "ok"
    except psycopg2.Error as e:
        scorer.rollback()
        scored = e.pgcode
    t.join()
    scorer.close()
    deleter.close()
    order = "an audited write, then predict_logged" if audited_first else "predict_logged, then an audited write"
    check(waiting and scored == "ok" and out == ["ok"],
          "%s racing delete_version of the scored version: the deletion waits, then both succeed "
          "(waited: %s, scorer: %s, deletion: %s)" % (order, waiting, scored, out))
check(query(admin, "SELECT ok FROM mlops.verify_audit()") == [(True,)], "the audit chain holds")

# purge_predictions racing predict_logged of a key whose outcome is old (an
# outcome recorded before its key is scored): the outcome must survive, as
# the key has a prediction once the scorer commits. At READ COMMITTED the
# scorer has not committed when the purge runs; at REPEATABLE READ it commits
# after the purge's snapshot was taken. Two scorers of the same key do not wait
# for each other.
def old_outcome(key):
    """Records an outcome of key for model m, two days old (older than the purge's limit)."""
    query(admin, "SELECT mlops.record_outcome('m', %s, 1)", (key,))
    query(admin, "UPDATE mlops.outcome SET recorded_at = now() - interval '2 days' WHERE key = %s", (key,))


def outcome_kept(key):
    """Whether key still has its outcome."""
    return query(admin, "SELECT count(*) FROM mlops.outcome WHERE key = %s", (key,))[0][0] == 1


LOG = "SELECT mlops.predict_logged(%s, %s, ARRAY[0.05, 0.05])"
PURGE = "SELECT mlops.purge_predictions(now() - interval '1 day')"
old_outcome("early")
scorers = [connect(DB), connect(DB)]
for s in scorers:
    s.autocommit = False
    query(s, "SET lock_timeout = '2s'")
scored = [sqlstate(s, LOG, ("m:%d" % v1, "early")) for s in scorers]
check(scored == ["ok", "ok"],
      "two open transactions score the same key with an outcome without waiting for each other (got %s)" % scored)
purged = []
t = threading.Thread(target=lambda: purged.append(sqlstate(admin, PURGE)))
t.start()
t.join(1)
for s in scorers:
    s.commit()
t.join()
check(purged == ["ok"], "the purge runs while the key is being scored (got %s)" % purged)
check(outcome_kept("early"), "READ COMMITTED: the purge keeps the old outcome of a key scored by a transaction in progress")

old_outcome("early_rr")
purger = connect(DB)
purger.autocommit = False
query(purger, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
query(purger, "SELECT count(*) FROM mlops.outcome")  # takes the snapshot
query(scorers[0], LOG, ("m:%d" % v1, "early_rr"))
scorers[0].commit()
query(purger, PURGE)
purger.commit()
check(outcome_kept("early_rr"), "REPEATABLE READ: the purge keeps the old outcome of a key scored since its snapshot")
for c in scorers + [purger]:
    c.close()


# SERIALIZABLE: a transaction that scored with the version behind an alias
# read that alias, whichever earlier statement of the session resolved it
# under the same snapshot contents. A write skew through the alias (the scorer
# writes what the mover reads, the mover moves the alias the scorer read) is
# then a serialization failure for one of them, as it is when the scorer's
# resolution is its own.
def write_skew(warm):
    query(admin, "SELECT mlops.set_alias('m', 'production', %s)", (v1,))
    query(admin, "DROP TABLE IF EXISTS decisions; CREATE TABLE decisions (p float8)")
    scorer, mover = connect(DB), connect(DB)
    if warm:  # an autocommit statement resolves 'm' under the snapshot the transaction then gets
        query(scorer, "SELECT mlops.predict('m', ARRAY[0.05, 0.05])")
    for c in (scorer, mover):
        c.autocommit = False
        query(c, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
    query(scorer, "INSERT INTO decisions SELECT mlops.predict('m', ARRAY[0.05, 0.05])")
    query(mover, "SELECT count(*) FROM decisions")
    query(mover, "SELECT mlops.set_alias('m', 'production', %s)", (v2,))
    out = [commit_outcome(mover), commit_outcome(scorer)]
    mover.close()
    scorer.close()
    return out


for warm in (False, True):
    got = write_skew(warm)
    check(got == ["ok", "40001"], "SERIALIZABLE write skew through the alias a transaction scored with (%s): "
          "the scorer's commit fails with 40001 (got %s)"
          % ("resolved by an earlier statement" if warm else "resolved in the transaction", got))


# delete_version under session_replication_role = replica (no foreign key
# checks) at REPEATABLE READ does not see an alias committed after its
# snapshot, and deletes the version that alias points at. Whatever goes
# through the alias is then 42704: not a crash of the backend (and of every
# session) as predict and report were, not predict_logged resolving again and
# again until a timeout, not drift's 55000 "no profile".
vr = query(admin, "SELECT version FROM mlops.train('m', 'diabetes', 'target', 'linear', "
                  "features => '{age,bmi}', seed => 17)")[0][0]
deleter = connect(DB)
deleter.autocommit = False
query(deleter, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
query(deleter, "SET LOCAL session_replication_role = replica")
query(deleter, "SELECT count(*) FROM mlops.alias")  # the snapshot
query(admin, "SELECT mlops.set_alias('m', 'dangling', %s)", (vr,))
query(deleter, "SELECT mlops.delete_version('m', %s)", (vr,))
deleter.commit()
deleter.close()
calls = ("SELECT mlops.predict('m@dangling', ARRAY[0.05, 0.05])", "SELECT mlops.evaluate('m@dangling', 'diabetes')",
         "SELECT mlops.report('m@dangling')", "SELECT mlops.predict_logged('m@dangling', 'k', ARRAY[0.05, 0.05])",
         "SELECT * FROM mlops.drift('m@dangling', 'diabetes')")
for sql in calls:
    conn = connect(DB)
    query(conn, "SET statement_timeout = '5s'")
    got = sqlstate(conn, sql)
    check(got == "42704", "%s through an alias whose version is gone: 42704 (got %s)" % (sql.split("(")[0][13:], got))
    conn.close()
query(admin, "SET mlops.default_alias = dangling")
got = sqlstate(admin, "SELECT mlops.report('m')")
check(got == "42704", "report of the model whose default alias's version is gone: 42704 (got %s)" % got)
query(admin, "RESET mlops.default_alias")
# An unattended retraining that waits for another one to commit (two jobs of
# the same model: a monitor's and a schedule's, or two roles') is judged by
# the gate against the version that other one promoted: its alert names that
# version as the one the gate kept, not the version it retrained from.
query(admin, "CREATE TABLE moving AS SELECT * FROM diabetes")
query(admin, "SELECT mlops.train('moving', 'moving', 'target', 'linear')")
first = connect(DB)
first.autocommit = False
query(first, "UPDATE moving SET target = 100 + 2 * bmi")    # what the first retraining learns
kept = query(first, "SELECT (mlops.retrain('moving')->>'version')::int")[0][0]
second = connect(DB)
result = {}


def retrain_second():
    result["outcome"] = query(second, """SELECT mlops._scheduled_retrain('moving', false, 'production',
                                              (SELECT created_at FROM mlops.models WHERE name = 'moving'))""")[0][0]


waiter = threading.Thread(target=retrain_second)
waiter.start()
for _ in range(100):
    if query(admin, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
             (second.get_backend_pid(),))[0][0] == "Lock":
        break
    time.sleep(0.05)
first.commit()
waiter.join()
first.close()
second.close()
outcome = result["outcome"]
check(outcome["promoted"] is False and outcome["incumbent_version"] == kept and outcome["retrained_from"] == kept - 1,
      "the waiting retraining is refused against the version the first one promoted (%s)" % outcome)
message = query(admin, "SELECT message FROM mlops.alerts WHERE model = 'moving' AND kind = 'retrain'")
check(len(message) == 1 and message[0][0].startswith('the gate kept version %d of "moving" in production:' % kept),
      "its alert names the version the gate kept (%s)" % message)
finish()
