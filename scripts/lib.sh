# Shell helpers shared by the scripts in this folder (sourced, not run).

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# The server's programs: the system's PostgreSQL 15, or a private copy of it made
# by scripts/stage-pg when MLOPS_PG_STAGE names one (for working on several
# checkouts at once without installing into the system), or any directory named
# by MLOPS_PG_BINDIR (scripts/valgrind's wrappers).
if [ -n "${MLOPS_PG_BINDIR:-}" ]; then
    PG_BINDIR=$MLOPS_PG_BINDIR
elif [ -n "${MLOPS_PG_STAGE:-}" ]; then
    PG_BINDIR=$MLOPS_PG_STAGE/usr/lib/postgresql/15/bin
else
    PG_BINDIR=/usr/lib/postgresql/15/bin
fi
PYTHON=/usr/bin/python3
