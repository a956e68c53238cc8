#!/usr/bin/python3
"""scripts/cluster, the throwaway servers of the tests and the demo: a server
started in a relative directory (scripts/cluster start mycluster) and a
standby of it given relatively too. The socket directory was that relative
path, which libpq reads as a host name: the start failed (the server could
not create its socket's lock file) and the PGHOST it would print was no
socket directory. And a server that does not stop is not left running without
its directory."""
import os
import re
import signal
import subprocess
import tempfile

from mlops_test import ROOT, check, finish, query, server_connection

CLUSTER = os.path.join(ROOT, "scripts", "cluster")

with tempfile.TemporaryDirectory() as tmp:
    os.chmod(tmp, 0o755)    # the server's user (postgres, under root) goes through it
    started = subprocess.run([CLUSTER, "start", "rel", "port = 5441"], cwd=tmp, capture_output=True, text=True)
    env = dict(re.findall(r"(\w+)=([^;]+);", started.stdout))
    try:
        check(started.returncode == 0 and env.get("PGHOST") == os.path.join(tmp, "rel"),
              f"a server starts in a relative directory, its PGHOST that directory's absolute path "
              f"({env} {started.stderr.strip()[-300:]})")
        if started.returncode == 0:
            check(query(server_connection(env["PGHOST"], 5441), "SELECT current_database()") == [("mlops",)],
                  "and answers there")
            standby = subprocess.run([CLUSTER, "standby", "rel", "sb"], cwd=tmp, capture_output=True, text=True)
            check(standby.returncode == 0 and f"PGHOST={os.path.join(tmp, 'sb')};" in standby.stdout,
                  f"a standby of it, both given relatively, starts ({standby.stderr.strip()[-300:]})")
    finally:
        for d in ("sb", "rel"):
            subprocess.run([CLUSTER, "stop", os.path.join(tmp, d)], check=False)

    # A server that does not stop keeps its directory: removed, it would run
    # on without its files. Its postmaster is suspended (SIGSTOP) and pg_ctl
    # given 2 s for each of the fast and the immediate shutdown.
    stuck = os.path.join(tmp, "stuck")
    started = subprocess.run([CLUSTER, "start", stuck, "port = 5442"], capture_output=True, text=True)
    check(started.returncode == 0, f"a second server starts ({started.stderr.strip()[-300:]})")
    if started.returncode == 0:
        with open(os.path.join(stuck, "data", "postmaster.pid")) as f:
            postmaster = int(f.readline())
        os.kill(postmaster, signal.SIGSTOP)
        try:
            stopped = subprocess.run([CLUSTER, "stop", stuck], capture_output=True, text=True,
                                     env=dict(os.environ, PGCTLTIMEOUT="2"))
            check(stopped.returncode != 0 and os.path.isdir(os.path.join(stuck, "data"))
                  and "did not stop" in stopped.stderr,
                  f"a server that does not stop keeps its directory, and stop says so "
                  f"({stopped.returncode} {stopped.stderr.strip()[-300:]})")
        finally:
            os.kill(postmaster, signal.SIGCONT)
            subprocess.run([CLUSTER, "stop", stuck], check=False)
        check(not os.path.exists(stuck), "and once it can stop, stop removes it")
finish()
