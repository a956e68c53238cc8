#!/usr/bin/python3
"""scripts/cluster, the throwaway servers of the tests and the demo: a server
started in a relative directory (scripts/cluster start mycluster) and a
standby of it given relatively too. The socket directory was that relative
path, which libpq reads as a host name: the start failed (the server could
not create its socket's lock file) and the PGHOST it would print was no
socket directory."""
import os
import re
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
finish()
