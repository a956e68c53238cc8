/*
 * progress.c — when a long piece of work reports how it advances; see
 * progress.h.
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "mlops/progress.h"
#include "mlops/settings.h"

/* Starts the clock of a piece of work. */
void
ProgressStart(Progress *progress)
{
	progress->start = progress->last = GetCurrentTimestamp();
}

/* True when a NOTICE is due, by mlops.progress_interval; see progress.h. */
bool
ProgressDue(Progress *progress, double *elapsed)
{
	TimestampTz now;

	if (mlops_progress_interval < 0)
		return false;
	now = GetCurrentTimestamp();
	if (!TimestampDifferenceExceeds(progress->last, now, mlops_progress_interval))
		return false;
	progress->last = now;
	*elapsed = (double) (now - progress->start) / USECS_PER_SEC;
	return true;
}
