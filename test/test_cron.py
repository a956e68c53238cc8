#!/usr/bin/python3
"""End to end with the real pg_cron: a retraining job scheduled for the next
minute fires, a new version appears, the gate decides, and the version's run is
linked to the pg_cron job run. pg_cron works in one database per server (the
throwaway server's cron.database_name is "mlops"), so this test uses it."""
import subprocess
import threading
import time

import psycopg2

from mlops_test import BINDIR, check, connect, expect_error, finish, psql, query

conn = connect("mlops")
query(conn, "DROP EXTENSION IF EXISTS mlops CASCADE")
query(conn, "CREATE EXTENSION mlops")
query(conn, "CREATE EXTENSION IF NOT EXISTS pg_cron")
psql("mlops", "-f", "test/data/load.sql")
query(conn, "SELECT * FROM mlops.train('cron_diabetes', 'diabetes', 'target', 'linear')")

# pg_cron loaded for this database but not created here (or dropped): the hint says only what is missing
query(conn, "DROP EXTENSION pg_cron")
error = expect_error(conn, "SELECT mlops.schedule_retrain('cron_diabetes', '* * * * *')", "42704") or ""
check("CREATE EXTENSION pg_cron" in error and "shared_preload_libraries" not in error and "restart" not in error,
      f"the hint asks for CREATE EXTENSION pg_cron alone ({error.strip()})")
query(conn, "CREATE EXTENSION pg_cron")

# bad input leaves no job behind
jobs = query(conn, "SELECT count(*) FROM cron.job")[0][0]
expect_error(conn, "SELECT mlops.schedule_retrain('cron_diabetes', 'every minute')", "22023")
expect_error(conn, "SELECT mlops.schedule_retrain('no_such_model', '* * * * *')", "42704")
expect_error(conn, "SELECT mlops.schedule_monitor('no_such_monitor', '* * * * *')", "42704")
expect_error(conn, "SELECT mlops.unschedule('mlops:retrain:no_such_model')", "42704")
check(query(conn, "SELECT count(*) FROM cron.job")[0][0] == jobs, "no job was left half-created by the errors")

job = query(conn, "SELECT mlops.schedule_retrain('cron_diabetes', '* * * * *')")[0][0]
row = query(conn, "SELECT jobname, username FROM cron.job WHERE jobid = %s", (job,))
check(row == [("mlops:retrain:cron_diabetes", "postgres")], f"job {job} is mlops:retrain:cron_diabetes, run as its scheduler")

deadline = time.time() + 75
versions = 1
while time.time() < deadline and versions < 2:
    time.sleep(2)
    versions = query(conn, "SELECT count(*) FROM mlops.model_versions WHERE name = 'cron_diabetes'")[0][0]
check(versions == 2, f"the job fired within 75 s and trained version 2 ({versions} versions)")

query(conn, "SELECT mlops.unschedule('mlops:retrain:cron_diabetes')")
check(query(conn, "SELECT count(*) FROM cron.job WHERE jobid = %s", (job,))[0][0] == 0, "unschedule removed the job")
if versions == 2:
    run_id, cron_job, cron_run = query(conn, """SELECT v.run_id, r.cron_job_id, r.cron_run_id
                                                  FROM mlops.model_versions v JOIN mlops.runs r USING (run_id)
                                                 WHERE v.name = 'cron_diabetes' AND v.version = 2""")[0]
    check(cron_job == job, f"the new version's run {run_id} is linked to job {job} (got {cron_job})")
    details = query(conn, "SELECT jobid, command FROM cron.job_run_details WHERE runid = %s", (cron_run,))
    check(len(details) == 1 and details[0][0] == job and "_scheduled_retrain" in details[0][1],
          f"and to its row {cron_run} in cron.job_run_details")
    gate = query(conn, """SELECT action, to_version, gate FROM mlops.deployments
                           WHERE model = 'cron_diabetes' AND (to_version = 2 OR gate->>'candidate_version' = '2')""")
    check(len(gate) == 1 and gate[0][0] in ("promote", "refused") and gate[0][2] is not None,
          f"the gate decided and its decision is recorded: {gate}")
    # wait for pg_cron to record the end of the run
    status = None
    for _ in range(20):
        status = query(conn, "SELECT status FROM cron.job_run_details WHERE runid = %s", (cron_run,))[0][0]
        if status != "running":
            break
        time.sleep(0.5)
    check(status == "succeeded", f"the job run succeeded ({status})")

# A job outlives nothing it works on: it runs while mlops is there, and its
# next run after DROP EXTENSION removes it (its command is run here as pg_cron would).
query(conn, "SELECT mlops.create_monitor('cron_mon', 'cron_diabetes', 'diabetes')")

# roles that are not superusers schedule the jobs their mlops role allows (with USAGE on schema cron);
# each job runs as its scheduler, who alone can remove it
query(conn, "CREATE ROLE cron_trainer LOGIN IN ROLE mlops_trainer")
query(conn, "CREATE ROLE cron_admin LOGIN IN ROLE mlops_admin")
query(conn, "GRANT USAGE ON SCHEMA cron TO cron_trainer, cron_admin")
# pg_cron connects as the job's role: a role that cannot log in is refused a
# job that would fail at every run
query(conn, "CREATE ROLE cron_group NOLOGIN IN ROLE mlops_admin")
query(conn, "SET ROLE cron_group")
# without USAGE on schema cron: 42501, saying which GRANT is missing
error = expect_error(conn, "SELECT mlops.schedule_monitor('cron_mon', '0 4 * * *')", "42501")
check(error is not None and "GRANT USAGE ON SCHEMA cron TO cron_group" in error, f"with a hint ({error})")
expect_error(conn, "SELECT mlops.unschedule('mlops:monitor:cron_mon')", "42501")
query(conn, "RESET ROLE")
query(conn, "GRANT USAGE ON SCHEMA cron TO cron_group")
query(conn, "SET ROLE cron_group")
for call in ("mlops.schedule_monitor('cron_mon', '0 4 * * *')", "mlops.schedule_retrain('cron_diabetes', '0 4 * * *')"):
    expect_error(conn, f"SELECT {call}", "55000")
query(conn, "RESET ROLE")
check(query(conn, "SELECT count(*) FROM cron.job WHERE username = 'cron_group'")[0][0] == 0,
      "no job was made for the role that cannot log in")
query(conn, "DROP OWNED BY cron_group")
query(conn, "DROP ROLE cron_group")
for role, call, name in (("cron_trainer", "mlops.schedule_monitor('cron_mon', '0 4 * * *')", "mlops:monitor:cron_mon"),
                         ("cron_admin", "mlops.schedule_retrain('cron_diabetes', '0 4 * * *')", "mlops:retrain:cron_diabetes")):
    query(conn, f"SET ROLE {role}")
    try:
        job = query(conn, f"SELECT {call}")[0][0]
        who = query(conn, "SELECT username FROM cron.job WHERE jobid = %s", (job,))
        # pg_cron finds a job by name among the caller's own: not even a superuser removes it by name
        query(conn, "RESET ROLE")
        expect_error(conn, "SELECT mlops.unschedule(%s)", "42704", (name,))
        query(conn, f"SET ROLE {role}")
        removed = query(conn, "SELECT mlops.unschedule(%s)", (name,))[0][0]
        check(who == [(role,)] and removed, f"{role} schedules {name}, run as {role} ({who}), and removes it")
    except psycopg2.Error as e:
        check(False, f"{role} schedules and removes {name}: {e}")
    query(conn, "RESET ROLE")
query(conn, "DELETE FROM cron.job WHERE username IN ('cron_trainer', 'cron_admin')")
query(conn, "DROP OWNED BY cron_trainer, cron_admin")
query(conn, "DROP ROLE cron_trainer, cron_admin")
query(conn, "SELECT mlops.schedule_monitor('cron_mon', '0 4 * * *')")
command = query(conn, "SELECT command FROM cron.job WHERE jobname = 'mlops:monitor:cron_mon'")[0][0]
query(conn, command)
check(query(conn, "SELECT count(*) FROM mlops.drift_results WHERE monitor = 'cron_mon'")[0][0] > 0,
      "the monitor job's command runs the monitor")
# a monitor name holding the job's dollar-quote tag and quotes still makes a command that runs
odd = "odd$job$'name\\"
query(conn, "SELECT mlops.create_monitor(%s, 'cron_diabetes', 'diabetes')", (odd,))
query(conn, "SELECT mlops.schedule_monitor(%s, '0 4 * * *')", (odd,))
odd_command = query(conn, "SELECT command FROM cron.job WHERE jobname = %s", ("mlops:monitor:" + odd,))[0][0]
try:
    query(conn, odd_command)
    ran = query(conn, "SELECT count(*) FROM mlops.drift_results WHERE monitor = %s", (odd,))[0][0] > 0
except psycopg2.Error as e:
    ran = False
    print(e)
check(ran, "the job of a monitor named %r runs it" % odd)
query(conn, "SELECT mlops.unschedule(%s)", ("mlops:monitor:" + odd,))

# dropping a monitor removes its job: a monitor created again under its name
# is not run by the old job (of whoever scheduled it)
query(conn, "SELECT mlops.schedule_monitor(%s, '0 4 * * *')", (odd,))
query(conn, "SELECT mlops.drop_monitor(%s)", (odd,))
query(conn, "SELECT mlops.create_monitor(%s, 'cron_diabetes', 'diabetes')", (odd,))
check(query(conn, "SELECT count(*) FROM cron.job WHERE jobname = %s", ("mlops:monitor:" + odd,))[0][0] == 0,
      "drop_monitor removes the monitor's job; the monitor created again has none")
query(conn, "SELECT mlops.drop_monitor(%s)", (odd,))

# drop_monitor removes the jobs schedule_monitor made for the monitor, of any
# role (under any search_path), and no other job of that name: one another
# role made by hand, nor the job of a monitor whose long name gives the same
# job name as the dropped monitor's own (which looks like a shortened one)
query(conn, "CREATE ROLE cron_other LOGIN IN ROLE mlops_trainer")
query(conn, "GRANT USAGE ON SCHEMA cron TO cron_other")
long_monitor = "w" * 60
short_monitor = query(conn, "SELECT substr(mlops._cron_job_name(%s), 15)", ("mlops:monitor:" + long_monitor,))[0][0]
for name in ("cron_gone", "cron_kept", long_monitor, short_monitor):
    query(conn, "SELECT mlops.create_monitor(%s, 'cron_diabetes', 'diabetes')", (name,))
query(conn, "SET ROLE cron_other")
query(conn, "SET search_path = \"o'brien\\\\\", public")  # a quote and a backslash
others = [query(conn, "SELECT mlops.schedule_monitor('cron_gone', '0 4 * * *')")[0][0],
          query(conn, "SELECT cron.schedule('mlops:monitor:cron_kept', '0 4 * * *', 'SELECT 1')")[0][0]]
query(conn, "RESET search_path")
query(conn, "RESET ROLE")
mine = [query(conn, "SELECT mlops.schedule_monitor('cron_gone', '0 4 * * *')")[0][0],
        query(conn, "SELECT mlops.schedule_monitor(%s, '0 4 * * *')", (long_monitor,))[0][0]]
for name in ("cron_gone", "cron_kept", short_monitor):
    query(conn, "SELECT mlops.drop_monitor(%s)", (name,))
left = [r[0] for r in query(conn, "SELECT jobid FROM cron.job WHERE jobid = ANY(%s) ORDER BY jobid", (others + mine,))]
check(left == sorted([others[1], mine[1]]),
      f"drop_monitor removes the monitor's jobs of both roles, not another role's job of the same name nor "
      f"another monitor's job of the same name (jobs {others + mine}, left {left})")
query(conn, "DELETE FROM cron.job WHERE jobid = ANY(%s)", (others + mine,))
query(conn, "SELECT mlops.drop_monitor(%s)", (long_monitor,))
query(conn, "DROP OWNED BY cron_other")
query(conn, "DROP ROLE cron_other")

# a drop_monitor while another transaction schedules the monitor's job waits
# for it, then removes the job rather than leaving it behind
query(conn, "SELECT mlops.create_monitor('cron_race', 'cron_diabetes', 'diabetes')")
scheduler = connect("mlops")
scheduler.autocommit = False
race_job = query(scheduler, "SELECT mlops.schedule_monitor('cron_race', '0 4 * * *')")[0][0]
dropper = connect("mlops")
dropper_pid = dropper.get_backend_pid()
dropped = threading.Thread(target=query, args=(dropper, "SELECT mlops.drop_monitor('cron_race')"))
dropped.start()
while dropped.is_alive() and query(conn, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                                   (dropper_pid,)) != [(True,)]:
    time.sleep(0.01)
drop_waited = dropped.is_alive()
scheduler.commit()
dropped.join()
check(drop_waited and query(conn, "SELECT count(*) FROM cron.job WHERE jobid = %s", (race_job,)) == [(0,)],
      f"drop_monitor waits for a transaction scheduling the monitor's job, then removes it (waited: {drop_waited})")
query(conn, "DELETE FROM cron.job WHERE jobid = %s", (race_job,))
scheduler.close()
dropper.close()

# pg_cron keeps job names to 63 bytes: two models whose names share their first
# 49 characters still get a job each, and each unschedule removes its own
long_models = ["m" * 60 + "_one", "m" * 60 + "_two"]
for name in long_models:
    query(conn, "SELECT * FROM mlops.train(%s, 'diabetes', 'target', 'linear')", (name,))
long_jobs = [query(conn, "SELECT mlops.schedule_retrain(%s, '0 4 * * *')", (name,))[0][0] for name in long_models]
commands = [r[0] for r in query(conn, "SELECT command FROM cron.job WHERE jobid = ANY(%s) ORDER BY jobid", (long_jobs,))]
check(len(set(long_jobs)) == 2 and len(commands) == 2 and all(n in c for n, c in zip(long_models, commands)),
      f"two long model names get a job each ({long_jobs})")
check(query(conn, "SELECT mlops.unschedule(%s)", ("mlops:retrain:" + long_models[0],))[0][0]
      and query(conn, "SELECT count(*) FROM cron.job WHERE command LIKE %s", ("%" + long_models[1] + "%",))[0][0] == 1,
      "unscheduling the first long name leaves the second's job")
try:
    query(conn, "SELECT mlops.unschedule(%s)", ("mlops:retrain:" + long_models[1],))
except psycopg2.Error as e:
    print(e)
check(query(conn, "SELECT count(*) FROM cron.job WHERE command LIKE '%mmmmmmmmmm%'")[0][0] == 0,
      "and unscheduling the second removes it")

# a job retrains the version behind the default alias in effect when it was
# scheduled, and promotes to it (pg_cron runs it with the server's defaults);
# the model's creation time it carries reads the same under other DateStyle
# and TimeZone settings than the scheduler's
query(conn, "SET mlops.default_alias = 'live'")
query(conn, "SELECT * FROM mlops.train('cron_live', 'diabetes', 'target', 'linear')")
query(conn, "SET DateStyle = 'SQL, DMY'")
query(conn, "SET TimeZone = 'Asia/Kolkata'")
query(conn, "SELECT mlops.schedule_retrain('cron_live', '0 4 * * *')")
query(conn, "RESET mlops.default_alias")
query(conn, "SET DateStyle = 'SQL, MDY'")
query(conn, "SET TimeZone = 'America/St_Johns'")
live_command = query(conn, "SELECT command FROM cron.job WHERE jobname = 'mlops:retrain:cron_live'")[0][0]
query(conn, live_command)
failures = query(conn, "SELECT message FROM mlops.alerts WHERE model = 'cron_live'")
check(failures == [] and query(conn, "SELECT version FROM mlops.resolve_model('cron_live@live')")[0][0] == 2,
      f"the job of a model scheduled under another default alias retrains and promotes to it ({failures})")
check(query(conn, "SELECT current_setting('mlops.default_alias')")[0][0] == "production",
      "and the session running the job keeps its own default alias")
query(conn, "SELECT mlops.unschedule('mlops:retrain:cron_live')")
query(conn, "RESET DateStyle")
query(conn, "RESET TimeZone")

# a job reads its sources under the search_path it was scheduled under, not
# its session's (pg_cron's has the role's default): a model and a monitor of a
# table found through it retrain and run (a schema whose name has a quote and
# the job's dollar-quote tag: the path is quoted into the job's command)
query(conn, """CREATE SCHEMA "o'brien $job$" """)
query(conn, """CREATE TABLE "o'brien $job$".visits AS SELECT * FROM diabetes""")
query(conn, """SET search_path = "o'brien $job$", public""")
query(conn, "SELECT * FROM mlops.train('cron_path', 'visits', 'target', 'linear')")
query(conn, "SELECT mlops.create_monitor('cron_path_mon', 'cron_path', 'visits')")
query(conn, "SELECT mlops.schedule_retrain('cron_path', '0 4 * * *')")
query(conn, "SELECT mlops.schedule_monitor('cron_path_mon', '0 4 * * *')")
query(conn, "RESET search_path")
for name in ("mlops:retrain:cron_path", "mlops:monitor:cron_path_mon"):
    query(conn, query(conn, "SELECT command FROM cron.job WHERE jobname = %s", (name,))[0][0])
    query(conn, "SELECT mlops.unschedule(%s)", (name,))
failures = query(conn, "SELECT message FROM mlops.alerts WHERE model = 'cron_path' AND kind IN ('error', 'retrain')"
                       "   AND message LIKE '%%does not exist%%'")
check(failures == [] and query(conn, "SELECT count(*) FROM mlops.model_versions WHERE name = 'cron_path'")[0][0] == 2
      and query(conn, "SELECT count(*) FROM mlops.drift_results WHERE monitor = 'cron_path_mon'")[0][0] > 0,
      f"jobs scheduled under search_path \"o'brien $job$\" retrain and monitor from its visits ({failures})")
check(query(conn, "SHOW search_path")[0][0] == '"$user", public', "and the session running the jobs keeps its search_path")

# scheduling again replaces a job paused with cron.alter_job(active => false):
# the job runs again, on the new schedule
paused = query(conn, "SELECT mlops.schedule_retrain('cron_diabetes', '0 4 * * *')")[0][0]
query(conn, "SELECT cron.alter_job(%s, active => false)", (paused,))
again = query(conn, "SELECT mlops.schedule_retrain('cron_diabetes', '0 5 * * *')")[0][0]
row = query(conn, "SELECT schedule, active FROM cron.job WHERE jobid = %s", (again,))
check(again == paused and row == [("0 5 * * *", True)], f"a paused job scheduled again is active ({row})")
query(conn, "SELECT mlops.unschedule('mlops:retrain:cron_diabetes')")

# pg_cron's tables have row-level security, which pg_dump does not bypass for
# a member of pg_read_all_data: such a dumper, the README's, dumps without
# them (-N cron, or --exclude-table-data='cron.*'), and gets mlops's rows
query(conn, "SELECT mlops.schedule_retrain('cron_diabetes', '0 4 * * *')")
query(conn, "CREATE ROLE cron_dumper LOGIN IN ROLE pg_read_all_data")
for options in ([], ["-N", "cron"], ["--exclude-table-data=cron.*"]):
    dumped = subprocess.run([f"{BINDIR}/pg_dump", "-U", "cron_dumper", "-d", "mlops", *options],
                            capture_output=True, text=True)
    if not options:
        check(dumped.returncode != 0 and "row-level security" in dumped.stderr,
              f"pg_dump as a member of pg_read_all_data fails on pg_cron's tables ({dumped.stderr.strip()[:200]})")
    else:
        check(dumped.returncode == 0 and "COPY mlops.model_version " in dumped.stdout
              and "COPY cron.job " not in dumped.stdout,
              f"pg_dump {' '.join(options)} as a member of pg_read_all_data dumps mlops's rows but no job "
              f"({dumped.stderr.strip()[:200]})")
query(conn, "DROP ROLE cron_dumper")
query(conn, "SELECT mlops.unschedule('mlops:retrain:cron_diabetes')")

# jobs outlive DROP EXTENSION (pg_cron has no hook for it): after CREATE
# EXTENSION again, a model and a monitor created again under their names are
# other ones, which the old jobs neither retrain nor run
job = query(conn, "SELECT mlops.schedule_retrain('cron_diabetes', '0 4 * * *')")[0][0]
retrain_command = query(conn, "SELECT command FROM cron.job WHERE jobid = %s", (job,))[0][0]
query(conn, "DROP EXTENSION mlops CASCADE")
query(conn, "CREATE EXTENSION mlops")
query(conn, "SELECT * FROM mlops.train('cron_diabetes', 'diabetes', 'target', 'linear')")
query(conn, "SELECT mlops.create_monitor('cron_mon', 'cron_diabetes', 'diabetes')")
query(conn, retrain_command)
query(conn, command)
done = query(conn, """SELECT (SELECT count(*) FROM mlops.model_versions WHERE name = 'cron_diabetes'),
                              (SELECT count(*) FROM mlops.drift_results WHERE monitor = 'cron_mon')""")
check(done == [(1, 0)], f"the jobs of the dropped mlops leave the model and monitor made again alone "
                        f"(versions, drift results: {done})")

# so are a model and a monitor dropped with the extension and made again in
# the very transaction that created and scheduled them
query(conn, "BEGIN")
query(conn, "SELECT * FROM mlops.train('cron_again', 'diabetes', 'target', 'linear')")
query(conn, "SELECT mlops.create_monitor('cron_again_mon', 'cron_again', 'diabetes')")
again_jobs = [query(conn, "SELECT mlops.schedule_retrain('cron_again', '0 4 * * *')")[0][0],
              query(conn, "SELECT mlops.schedule_monitor('cron_again_mon', '0 4 * * *')")[0][0]]
query(conn, "DROP EXTENSION mlops CASCADE")
query(conn, "CREATE EXTENSION mlops")
query(conn, "SELECT * FROM mlops.train('cron_again', 'diabetes', 'target', 'linear')")
query(conn, "SELECT mlops.create_monitor('cron_again_mon', 'cron_again', 'diabetes')")
query(conn, "COMMIT")
for again_command in [r[0] for r in query(conn, "SELECT command FROM cron.job WHERE jobid = ANY(%s)", (again_jobs,))]:
    query(conn, again_command)
done = query(conn, """SELECT (SELECT count(*) FROM mlops.model_versions WHERE name = 'cron_again'),
                              (SELECT count(*) FROM mlops.drift_results WHERE monitor = 'cron_again_mon')""")
check(done == [(1, 0)], f"the jobs of objects dropped and made again in their creating transaction leave the new "
                        f"ones alone (versions, drift results: {done})")

query(conn, "DROP EXTENSION mlops CASCADE")
query(conn, command)
query(conn, retrain_command)
check(query(conn, "SELECT count(*) FROM cron.job WHERE jobname IN ('mlops:monitor:cron_mon', 'mlops:retrain:cron_diabetes')")[0][0] == 0,
      "after DROP EXTENSION mlops, a job's next run removes it")
finish()
