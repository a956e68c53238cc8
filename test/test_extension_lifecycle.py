#!/usr/bin/python3
"""The extension's own lifecycle in a cluster of several databases. mlops
installs whatever the installer's search_path (an empty one included) or
standard_conforming_strings, and only
into its own schema (CREATE EXTENSION ... SCHEMA other is refused), where it
stays (ALTER EXTENSION ... SET SCHEMA and ALTER SCHEMA mlops RENAME are
refused, and later DDL still works); the
extension does not depend on a user schema, so DROP SCHEMA public CASCADE
leaves mlops, its registry and its audit log. Installed in two databases, it
shares the cluster-wide roles: DROP EXTENSION in one keeps the roles, their
memberships and the other database's grants, and CREATE EXTENSION there again
gives the same grants. The installer's default privileges give no other role
any right on mlops's objects. On a server without the roles yet, two databases
installing mlops at the same time both succeed."""
import threading
import time

import psycopg2

from mlops_test import (check, connect, expect_error, finish, fresh_database, query, start_server,
                        stop_server)

FIRST = "test_extension_lifecycle"
SECOND = "test_extension_lifecycle_2"

# an installer whose search_path names no existing schema still installs it
conn = fresh_database(FIRST, datasets=False)
query(conn, "DROP EXTENSION mlops")
query(conn, "SET search_path = ''")
try:
    query(conn, "CREATE EXTENSION mlops")
    installed = True
except psycopg2.Error as e:
    installed = False
    print(e)
check(installed, "CREATE EXTENSION mlops works with an empty search_path")
query(conn, "RESET search_path")
if not installed:
    query(conn, "CREATE EXTENSION mlops")
query(conn, "DROP EXTENSION mlops")

# nor does the installer's standard_conforming_strings matter (off: a server
# configured for old applications), which reads a backslash in a plain literal
# as an escape
query(conn, "SET standard_conforming_strings = off")
try:
    query(conn, "CREATE EXTENSION mlops")
    installed = query(conn, "SELECT anchor_hash = decode(repeat('00', 32), 'hex') FROM mlops.audit_chain")
except psycopg2.Error as e:
    installed = f"{e.pgcode}: {e.pgerror.strip()}"
check(installed == [(True,)], f"CREATE EXTENSION mlops works with standard_conforming_strings off ({installed})")
# and a session with it off audits a table and changes an audited one (the
# functions that read the ignored columns compile under the session's setting)
query(conn, "CREATE TABLE scs_audited (a int, b text)")
try:
    query(conn, "SELECT mlops.enable_audit('scs_audited', '{b}')")
    query(conn, "ALTER TABLE scs_audited ADD COLUMN c int")
    audited = query(conn, "SELECT new_row FROM mlops.audit_log WHERE table_name = 'public.scs_audited' ORDER BY id")
except psycopg2.Error as e:
    audited = f"{e.pgcode}: {e.pgerror.strip()}"
check(audited == [({"ignore_columns": ["b"]},)],
      f"and enable_audit and ALTER TABLE of an audited table work with it off ({audited})")
query(conn, "DROP TABLE scs_audited")
query(conn, "RESET standard_conforming_strings")
query(conn, "DROP EXTENSION IF EXISTS mlops")

# the objects always go to schema mlops: another schema is refused, and none is left
query(conn, "CREATE SCHEMA elsewhere")
expect_error(conn, "CREATE EXTENSION mlops SCHEMA elsewhere", "0A000")
check(query(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'mlops'")[0][0] == 0
      and query(conn, "SELECT to_regnamespace('mlops')")[0][0] is None,
      "a refused SCHEMA leaves no extension and no schema mlops")
query(conn, "DROP EXTENSION IF EXISTS mlops")

# a trigger that already has the name of an audit trigger, reserved to them
# once mlops is installed, is refused at install: it would be taken for one
# (every ALTER TABLE of its table refused, its drop logged as DISABLE)
query(conn, "CREATE TABLE named_early (x int)")
query(conn, "CREATE FUNCTION named_early_nop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$")
for name in ("mlops_audit", "mlops_audit_truncate"):
    query(conn, f"CREATE TRIGGER {name} AFTER INSERT ON named_early FOR EACH ROW EXECUTE FUNCTION named_early_nop()")
    expect_error(conn, "CREATE EXTENSION mlops", "42939")
    query(conn, f"DROP TRIGGER {name} ON named_early")
check(query(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'mlops'")[0][0] == 0,
      "a trigger named as an audit trigger leaves no extension")
query(conn, "CREATE TRIGGER named_early AFTER INSERT ON named_early FOR EACH ROW EXECUTE FUNCTION named_early_nop()")
query(conn, "CREATE EXTENSION mlops")
query(conn, "ALTER TABLE named_early ADD COLUMN y int")
check(query(conn, "SELECT count(*) FROM mlops.audit_log WHERE table_name = 'public.named_early'") == [(0,)],
      "renamed, it is no audit trigger: its table is altered, nothing is logged")
query(conn, "DROP TABLE named_early")
query(conn, "DROP FUNCTION named_early_nop()")

# nor can the installed objects move: not with the extension, not by renaming its schema,
# which mlops names in its queries (renamed, every later DDL of the database would fail)
expect_error(conn, "ALTER EXTENSION mlops SET SCHEMA elsewhere", "0A000")
expect_error(conn, "ALTER SCHEMA mlops RENAME TO mlops_moved", "0A000")
check(query(conn, "SELECT to_regnamespace('mlops') IS NOT NULL, (mlops.verify_audit()).ok") == [(True, True)],
      "a refused rename leaves schema mlops as it was")
query(conn, "CREATE TABLE after_rename (x int)")
query(conn, "DROP TABLE after_rename")
query(conn, "ALTER SCHEMA elsewhere RENAME TO elsewhere_too")
query(conn, "DROP SCHEMA elsewhere_too")

# a user schema going with CASCADE takes none of mlops with it
query(conn, "CREATE TABLE public.numbers AS SELECT i::float8 AS x, 2 * i::float8 + 1 AS y FROM generate_series(1, 50) i")
query(conn, "SELECT mlops.train('lifecycle', 'public.numbers', 'y', 'linear')")
query(conn, "DROP SCHEMA public CASCADE")
left = query(conn, """SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'mlops'),
                             (SELECT count(*) FROM mlops.model_versions WHERE name = 'lifecycle'),
                             (mlops.verify_audit()).ok""") if query(conn, "SELECT to_regnamespace('mlops')")[0][0] else None
check(left == [(1, 1, True)], f"DROP SCHEMA public CASCADE leaves mlops, its registry and its audit log ({left})")
check(abs(query(conn, "SELECT mlops.predict('lifecycle', ARRAY[3.0])")[0][0] - 7.0) < 1e-9,
      "and the model still scores")
query(conn, "CREATE SCHEMA public")

# two databases share the roles; dropping the extension in one keeps them for the other
other = fresh_database(SECOND, datasets=False)
query(other, "CREATE TABLE numbers AS SELECT i::float8 AS x, 3 * i::float8 AS y FROM generate_series(1, 50) i")
query(other, "DROP ROLE IF EXISTS lifecycle_trainer")
query(other, "CREATE ROLE lifecycle_trainer LOGIN IN ROLE mlops_trainer")
query(other, "GRANT SELECT ON numbers TO lifecycle_trainer")
TRAIN = ("mlops.train(text,text,text,text,text,text[],jsonb,double precision,integer,text)")


def grants(c):
    """What each mlops role may do in the database of connection c."""
    return query(c, f"""SELECT has_function_privilege('mlops_trainer', '{TRAIN}', 'EXECUTE'),
                                has_function_privilege('mlops_scorer', '{TRAIN}', 'EXECUTE'),
                                has_function_privilege('mlops_scorer', 'mlops.predict(text,record)', 'EXECUTE'),
                                has_function_privilege('mlops_admin', 'mlops.retrain(text)', 'EXECUTE'),
                                has_function_privilege('mlops_trainer', 'mlops.retrain(text)', 'EXECUTE'),
                                pg_has_role('mlops_admin', 'mlops_scorer', 'USAGE'),
                                pg_has_role('lifecycle_trainer', 'mlops_scorer', 'USAGE')""")


expected = [(True, False, True, True, False, True, True)]
check(grants(other) == expected, f"the second database's grants are the roles' ({grants(other)})")
query(conn, "DROP EXTENSION mlops")
check(grants(other) == expected, f"DROP EXTENSION in the first database keeps the roles and their grants in the second "
                                 f"({grants(other)})")
query(other, "SET ROLE lifecycle_trainer")
try:
    trained = query(other, "SELECT version FROM mlops.train('third', 'numbers', 'y', 'linear')")
except psycopg2.Error as e:
    trained = str(e)
query(other, "RESET ROLE")
check(trained == [(1,)], f"and a member of mlops_trainer trains there ({trained})")
query(conn, "CREATE EXTENSION mlops")
check(grants(conn) == expected, f"CREATE EXTENSION again gives the same grants ({grants(conn)})")

# default privileges of the installer (ALTER DEFAULT PRIVILEGES, a common way to
# give an application role the tables a superuser creates) give no role outside
# mlops's own any right on what CREATE EXTENSION creates: no table, view,
# sequence, function, type, nor the schema; mlops's roles keep theirs
query(conn, "DROP EXTENSION mlops")
query(conn, "DROP ROLE IF EXISTS lifecycle_app")
query(conn, "CREATE ROLE lifecycle_app")
for objects in ("TABLES", "SEQUENCES", "FUNCTIONS", "TYPES", "SCHEMAS"):
    query(conn, f"ALTER DEFAULT PRIVILEGES GRANT ALL ON {objects} TO lifecycle_app, PUBLIC")
try:
    query(conn, "CREATE EXTENSION mlops")
finally:
    # PUBLIC's EXECUTE of functions and USAGE of types are PostgreSQL's own defaults
    for objects in ("TABLES", "SEQUENCES", "FUNCTIONS", "TYPES", "SCHEMAS"):
        query(conn, f"ALTER DEFAULT PRIVILEGES REVOKE ALL ON {objects} FROM lifecycle_app"
                    + ("" if objects in ("FUNCTIONS", "TYPES") else ", PUBLIC"))
check(query(conn, "SELECT count(*) FROM pg_default_acl")[0][0] == 0, "the default privileges are back to none")
outsiders = query(conn, """
    WITH acl AS (
        SELECT c.oid::regclass::text AS object, a.grantee, a.privilege_type
          FROM pg_class c, aclexplode(c.relacl) a WHERE c.relnamespace = 'mlops'::regnamespace
        UNION ALL
        SELECT p.oid::regprocedure::text, a.grantee, a.privilege_type
          FROM pg_proc p, aclexplode(p.proacl) a WHERE p.pronamespace = 'mlops'::regnamespace
        UNION ALL
        SELECT t.oid::regtype::text, a.grantee, a.privilege_type
          FROM pg_type t, aclexplode(t.typacl) a
         WHERE t.typnamespace = 'mlops'::regnamespace AND NOT (a.grantee = 0 AND a.privilege_type = 'USAGE')
        UNION ALL
        SELECT n.nspname::text, a.grantee, a.privilege_type
          FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = 'mlops')
    SELECT coalesce(r.rolname, 'PUBLIC'), count(*)
      FROM acl LEFT JOIN pg_roles r ON r.oid = acl.grantee
     WHERE coalesce(r.rolname, 'PUBLIC') NOT IN ('postgres', 'mlops_scorer', 'mlops_trainer', 'mlops_admin')
     GROUP BY 1 ORDER BY 1""")
check(outsiders == [], f"the installer's default privileges grant no other role anything of mlops ({outsiders})")
check(grants(conn) == expected, f"and mlops's roles have their grants ({grants(conn)})")
query(conn, "DROP ROLE lifecycle_app")

other.close()
conn.close()

# the first two installs of a server, at the same time in two databases:
# the second waits for the first's roles, then uses them
directory = start_server()
try:
    server = psycopg2.connect(host=directory, user="postgres", dbname="postgres")
    server.autocommit = True
    query(server, "CREATE DATABASE first_install")
    query(server, "CREATE DATABASE second_install")
    first = psycopg2.connect(host=directory, user="postgres", dbname="first_install")
    second = psycopg2.connect(host=directory, user="postgres", dbname="second_install")
    query(first, "CREATE EXTENSION mlops")               # not committed yet
    outcome = {}

    def install_second():
        try:
            query(second, "CREATE EXTENSION mlops")
            second.commit()
            outcome["second"] = "installed"
        except psycopg2.Error as e:
            outcome["second"] = f"{e.pgcode}: {e.pgerror.strip()}"

    installer = threading.Thread(target=install_second)
    installer.start()
    waiting = False
    for _ in range(100):
        waiting = query(server, "SELECT count(*) FROM pg_stat_activity "
                                "WHERE datname = 'second_install' AND wait_event_type = 'Lock'")[0][0] > 0
        if waiting:
            break
        time.sleep(0.1)
    first.commit()
    installer.join()
    check(waiting and outcome.get("second") == "installed",
          f"two databases installing mlops at once both succeed (waited: {waiting}, second: {outcome})")
    check(query(server, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'mlops%'")[0][0] == 3,
          "with one set of roles")
    first.close()
    second.close()
    server.close()
finally:
    stop_server(directory)
admin = connect("postgres")
query(admin, f'DROP DATABASE "{SECOND}"')
query(admin, f'DROP DATABASE "{FIRST}"')
query(admin, "DROP ROLE lifecycle_trainer")
finish()
