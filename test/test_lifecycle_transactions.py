#!/usr/bin/python3
"""Alias moves are transactional across sessions: a move in an open transaction
is invisible to another session until it commits, and a rolled-back move leaves
no trace. (The scoring tests check the same through predict().) So are
they in prepared transactions, and so is a version trained in one: rolled
back, its number is given to another model, whatever the preparing session
scored with it."""
import threading
import time

import psycopg2

from mlops_test import check, connect, finish, fresh_database, query

mover = fresh_database("test_lifecycle_tx", datasets=False)
for i in range(3):
    query(mover, """SELECT mlops._register_version('churn', 'logistic', 'classification', '{a}', 'y', '{0,1}',
                    '{}', '{}', '{}', NULL, NULL, 't', 1, 0, 0, 'fp', %s, 'linear-json')""", (bytes([i]),))
reader = connect("test_lifecycle_tx")


def production(conn):
    return query(conn, "SELECT version FROM mlops.resolve_model('churn')")[0][0]


def history():
    return query(reader, "SELECT count(*) FROM mlops.deployments")[0][0]


before = history()
mover.autocommit = False
query(mover, "SELECT mlops.set_alias('churn', 'production', 2)")
check(production(mover) == 2, "the moving session sees its own move at once")
check(production(reader) == 1, "another session still sees version 1 while the move is uncommitted")
check(history() == before, "the uncommitted move is not in another session's history")
mover.commit()
check(production(reader) == 2, "after COMMIT the other session's next statement sees version 2")
check(history() == before + 1, "the committed move is in the history")

query(mover, "SELECT mlops.set_alias('churn', 'production', 3)")
check(production(reader) == 2, "a second uncommitted move is invisible")
mover.rollback()
check(production(reader) == 2 and production(mover) == 2, "after ROLLBACK nothing changed for anyone")
check(history() == before + 1, "the rolled-back move left no history row")

# a REPEATABLE READ transaction keeps the version it first saw
reader.autocommit = False
query(reader, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
check(production(reader) == 2, "a repeatable-read reader starts on version 2")
query(mover, "SELECT mlops.set_alias('churn', 'production', 3)")
mover.commit()
check(production(reader) == 2, "it keeps version 2 to the end of its transaction")
reader.commit()
check(production(reader) == 3, "and sees version 3 in its next transaction")
reader.commit()
reader.autocommit = True


def in_thread(conn, sql, outcome):
    """Runs sql on conn in a thread (it may wait for a lock); outcome gets 'ok' or the SQLSTATE."""
    def run():
        try:
            query(conn, sql)
            conn.commit()
            outcome.append("ok")
        except psycopg2.Error as e:
            conn.rollback()
            outcome.append(e.pgcode)
    t = threading.Thread(target=run)
    t.start()
    return t


# delete_version racing a set_alias to the same version that has not committed
# yet: it waits for it, then refuses because of the alias (55000), not with the
# alias's foreign key (23503)
query(mover, "SELECT mlops._register_version('churn', 'logistic', 'classification', '{a}', 'y', '{0,1}', "
             "'{}', '{}', '{}', NULL, NULL, 't', 1, 0, 0, 'fp', '\\x07', 'linear-json')")
mover.commit()
query(mover, "SELECT mlops.set_alias('churn', 'canary', 4)")
deleter = connect("test_lifecycle_tx")
deleter.autocommit = False
outcome = []
t = in_thread(deleter, "SELECT mlops.delete_version('churn', 4)", outcome)
time.sleep(0.5)
check(t.is_alive(), "delete_version waits for the uncommitted set_alias to the version")
mover.commit()
t.join()
check(outcome == ["55000"], "then refuses: the version is aliased (55000), got %s" % outcome)
check(query(reader, "SELECT count(*) FROM mlops.model_versions WHERE name = 'churn' AND version = 4")[0][0] == 1,
      "version 4 is still there")
# the other order: the set_alias waits for the uncommitted deletion, then finds no version (42704)
query(mover, "SELECT mlops.delete_alias('churn', 'canary')")
mover.commit()
query(deleter, "SELECT mlops.delete_version('churn', 4)")
outcome = []
t = in_thread(mover, "SELECT mlops.set_alias('churn', 'canary', 4)", outcome)
time.sleep(0.5)
deleter.commit()
t.join()
check(outcome == ["42704"], "a set_alias to a version deleted meanwhile is 42704, got %s" % outcome)
# at REPEATABLE READ, an alias to the version committed after the deleting
# transaction's snapshot (which does not show it) is a serialization failure
# (40001: run the transaction again, which then sees the alias), not the
# alias's foreign key (23503)
query(mover, "SELECT mlops._register_version('churn', 'logistic', 'classification', '{a}', 'y', '{0,1}', "
             "'{}', '{}', '{}', NULL, NULL, 't', 1, 0, 0, 'fp', '\\x08', 'linear-json')")
mover.commit()
deleter.set_session(isolation_level="REPEATABLE READ")
query(deleter, "SELECT count(*) FROM mlops.models")  # takes the snapshot
query(mover, "SELECT mlops.set_alias('churn', 'canary', 5)")
mover.commit()
outcome = []
in_thread(deleter, "SELECT mlops.delete_version('churn', 5)", outcome).join()
check(outcome == ["40001"], "a deletion that an alias committed after its snapshot forbids is 40001, got %s" % outcome)
check(query(reader, "SELECT count(*) FROM mlops.model_versions WHERE name = 'churn' AND version = 5")[0][0] == 1,
      "version 5 is still there")
outcome = []
in_thread(deleter, "SELECT mlops.delete_version('churn', 5)", outcome).join()
check(outcome == ["55000"], "run again, it sees the alias (55000), got %s" % outcome)
# At REPEATABLE READ, a move of an alias that another transaction moved after
# the snapshot is 40001 (run it again), whatever the snapshot shows: a
# set_alias to the version the alias pointed at then did nothing (the alias
# stayed where the other transaction moved it), a rollback refused for want of
# an earlier version (55000), a promote for an alias already at the candidate
# (55000). Each on an alias of its own, whose snapshot history is one move.
for alias, sql in (("s1", "SELECT mlops.set_alias('churn', 's1', 1)"),
                   ("s2", "SELECT mlops.rollback('churn', 's2')"),
                   ("s3", "SELECT mlops.promote('churn', 1, 's3', force => true)")):
    query(mover, "SELECT mlops.set_alias('churn', %s, 1)", (alias,))
    mover.commit()
    query(deleter, "SELECT count(*) FROM mlops.models")  # takes the snapshot
    query(mover, "SELECT mlops.set_alias('churn', %s, 2)", (alias,))
    mover.commit()
    outcome = []
    in_thread(deleter, sql, outcome).join()
    check(outcome == ["40001"], "at REPEATABLE READ, %s of an alias moved since the snapshot: 40001, got %s"
          % (sql.split("(")[0].split(".")[1], outcome))
    check(query(reader, "SELECT (aliases->>%s)::int FROM mlops.models WHERE name = 'churn'", (alias,))[0][0] == 2,
          "alias %s is where the other transaction moved it" % alias)
outcome = []
in_thread(deleter, "SELECT mlops.set_alias('churn', 's1', 1)", outcome).join()
check(outcome == ["ok"] and query(reader, "SELECT aliases->>'s1' FROM mlops.models WHERE name = 'churn'")[0][0] == "1",
      "run again, the set_alias moves the alias (got %s)" % outcome)
# and a delete_version that the snapshot's alias would refuse, the alias
# removed since: 40001, not 55000 naming an alias that is gone
query(mover, "SELECT mlops._register_version('churn', 'logistic', 'classification', '{a}', 'y', '{0,1}', "
             "'{}', '{}', '{}', NULL, NULL, 't', 1, 0, 0, 'fp', '\\x09', 'linear-json')")
query(mover, "SELECT mlops.set_alias('churn', 's4', 6)")
mover.commit()
query(deleter, "SELECT count(*) FROM mlops.models")  # takes the snapshot
query(mover, "SELECT mlops.delete_alias('churn', 's4')")
mover.commit()
outcome = []
in_thread(deleter, "SELECT mlops.delete_version('churn', 6)", outcome).join()
check(outcome == ["40001"], "at REPEATABLE READ, delete_version of a version unaliased since the snapshot: 40001, got %s"
      % outcome)
outcome = []
in_thread(deleter, "SELECT mlops.delete_version('churn', 6)", outcome).join()
check(outcome == ["ok"], "run again, it deletes the version (got %s)" % outcome)
deleter.set_session(isolation_level="READ COMMITTED")
query(mover, "SELECT mlops.delete_alias('churn', 'canary')")
mover.commit()

# An alias move in a prepared transaction: invisible until COMMIT PREPARED
# (from another session), another move of the model waits for it, and
# ROLLBACK PREPARED leaves nothing; the audit chain holds throughout.
mover.commit()
mover.autocommit = True
query(mover, "BEGIN")
query(mover, "SELECT mlops.set_alias('churn', 'production', 1)")
query(mover, "PREPARE TRANSACTION 'move'")
check(production(reader) == 3 and production(mover) == 3, "the prepared move is invisible, to its session too")
outcome = []
t = in_thread(deleter, "SELECT mlops.set_alias('churn', 'production', 2)", outcome)
time.sleep(0.5)
check(t.is_alive(), "another move of the model waits for the prepared one")
query(reader, "COMMIT PREPARED 'move'")
t.join()
check(outcome == ["ok"] and production(reader) == 2, "then moves the alias after it (%s)" % outcome)
check(query(reader, "SELECT from_version, to_version FROM mlops.deployments ORDER BY id DESC LIMIT 2")
      == [(1, 2), (3, 1)], "the history records the prepared move, then the waiting one")
query(mover, "BEGIN")
query(mover, "SELECT mlops.set_alias('churn', 'production', 3)")
query(mover, "PREPARE TRANSACTION 'move'")
query(reader, "ROLLBACK PREPARED 'move'")
check(production(mover) == 2, "ROLLBACK PREPARED leaves the alias where it was")
check(query(reader, "SELECT ok FROM mlops.verify_audit()") == [(True,)], "the audit chain holds")

# A version trained and scored in a transaction that is prepared, then rolled
# back: its number is given again to another training, which the session that
# scored the first one (and cached it) now scores, not the one it remembers.
TRAIN = """SELECT * FROM mlops.train('twice', 'SELECT g::float8 AS x, %s * g::float8 AS y
                                          FROM generate_series(1, 50) g', 'y', 'linear')"""
query(reader, TRAIN % 2)
query(mover, "BEGIN")
query(mover, TRAIN % 3)
check(query(mover, "SELECT round(mlops.predict('twice:2', ARRAY[10]::float8[]))") == [(30,)],
      "the preparing session scores the version it trained")
query(mover, "PREPARE TRANSACTION 'train'")
query(reader, "ROLLBACK PREPARED 'train'")
query(reader, TRAIN % 5)
check(query(mover, "SELECT round(mlops.predict('twice:2', ARRAY[10]::float8[])), "
                   "round(mlops.predict_version('twice', 2, ARRAY[10]::float8[]))") == [(50, 50)],
      "after ROLLBACK PREPARED, version 2 of another training is scored in that session, not the one it cached")
finish()
