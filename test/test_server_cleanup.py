#!/usr/bin/python3
"""A test script that starts servers of its own stops them whichever way it
ends: after an exception, on TERM (what scripts/run-tests sends a test it is
told to stop, and timeout(1) sends every process of the run), or when TERM
comes while a server is still starting. A script killed outright (SIGKILL)
cannot: scripts/run-tests stops what it recorded in MLOPS_TEST_SERVERS.
Before, a TERM ended a test at once, and the servers it had started (the
shards of test_shards, a standby, a publisher) stayed running."""
import os
import signal
import subprocess
import sys
import tempfile
import time

from mlops_test import ROOT, check, finish

CLUSTER = os.path.join(ROOT, "scripts", "cluster")

# What a test does: start a server, say where, then work (or fail).
CHILD = """
import sys, time
from mlops_test import start_server
print(start_server(), flush=True)
if sys.argv[1] == "fail":
    raise RuntimeError("the test failed")
if sys.argv[1] == "second":
    print("starting", flush=True)
    start_server()
time.sleep(600)
"""

children = []    # (process, its servers file)


def running(directory):
    """True while a server runs in directory (its postmaster's process exists)."""
    pid_file = os.path.join(directory, "data", "postmaster.pid")
    if not os.path.exists(pid_file):
        return False
    with open(pid_file) as f:
        pid = int(f.readline())
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def child(mode, servers_file):
    """Starts the CHILD script in `mode`, recording its servers in servers_file."""
    env = dict(os.environ, MLOPS_TEST_SERVERS=servers_file)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env, cwd=ROOT)
    children.append((proc, servers_file))
    return proc


def recorded(servers_file):
    """The directories recorded in servers_file."""
    if not os.path.exists(servers_file):
        return []
    with open(servers_file) as f:
        return f.read().split()


def checks(tmp):
    """The children's ways to end, one by one."""
    for mode in ("fail", "term"):
        servers = os.path.join(tmp, f"{mode}.servers")
        proc = child(mode, servers)
        directory = proc.stdout.readline().strip()
        check(running(directory) and recorded(servers) == [directory],
              f"{mode}: the script's server runs, recorded for scripts/run-tests ({directory})")
        if mode == "term":
            proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=120)
        check(status != 0 and not running(directory) and not os.path.exists(directory),
              f"{mode}: the script ends ({status}) having stopped and removed its server")

    # TERM while the second server starts: scripts/cluster is told to stop,
    # removes what it made, and the script stops the first one
    servers = os.path.join(tmp, "second.servers")
    proc = child("second", servers)
    proc.stdout.readline()
    proc.stdout.readline()
    deadline = time.monotonic() + 60
    while len(recorded(servers)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    status = proc.wait(timeout=120)
    both = recorded(servers)
    check(len(both) == 2 and status != 0 and not any(os.path.exists(d) for d in both),
          f"TERM while a second server starts: neither is left ({both})")

    # SIGKILL: the script stops nothing; what it recorded tells which to stop
    servers = os.path.join(tmp, "kill.servers")
    proc = child("kill", servers)
    directory = proc.stdout.readline().strip()
    proc.kill()
    proc.wait()
    check(running(directory) and recorded(servers) == [directory], "a killed script leaves its server running, recorded")


with tempfile.TemporaryDirectory() as tmp:
    try:
        checks(tmp)
    finally:
        # what the children left (the killed one's; any, if this script is interrupted)
        for proc, servers in children:
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
            for directory in recorded(servers):
                if os.path.exists(directory):
                    subprocess.run([CLUSTER, "stop", directory], check=False)
finish()
