/*
 * spi_plan.h — the fixed queries mlops runs on every call, prepared once per
 * backend and kept.
 */
#ifndef MLOPS_SPI_PLAN_H
#define MLOPS_SPI_PLAN_H

#include "postgres.h"

#include "executor/spi.h"

/* The kept plan of sql in *plan, prepared at its first use (inside SPI_connect()). */
extern SPIPlanPtr SpiKeptPlan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types);

#endif
