# Shell helpers shared by the scripts in this folder (sourced, not run).

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

PG_BINDIR=$(/usr/lib/postgresql/15/bin/pg_config --bindir)
PYTHON=/usr/bin/python3
