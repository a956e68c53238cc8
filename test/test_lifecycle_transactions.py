#!/usr/bin/python3
"""Alias moves are transactional across sessions: a move in an open transaction
is invisible to another session until it commits, and a rolled-back move leaves
no trace. (The scoring tests check the same through predict().)"""
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
finish()
