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

# Runs pg_regress suite $1 (sql/$1.sql against expected/$1.out), its results in
# directory $2, against the server PGHOST/PGPORT/PGUSER name, in a database of
# its own. Progress notices are off: a training slower than their interval (a
# loaded machine, valgrind) would add them to the output.
run_suite() {
    PGOPTIONS="${PGOPTIONS:-} -c mlops.progress_interval=-1" \
        "$(dirname "$(/usr/lib/postgresql/15/bin/pg_config --pgxs)")/../test/regress/pg_regress" \
        --inputdir=. --outputdir="$2" --bindir="$PG_BINDIR" \
        --host="$PGHOST" --port="$PGPORT" --user="$PGUSER" --dbname="regress_$1" "$1"
}
