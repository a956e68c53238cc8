/*
 * progress.h — NOTICEs that tell a session how a long piece of work advances
 * (a training's passes over its source, its rounds or iterations): at most
 * one every mlops.progress_interval, the first once that much time has
 * passed, so that short work stays quiet.
 *
 *     Progress progress;
 *     double elapsed;
 *
 *     ProgressStart(&progress);
 *     ... each step:
 *     if (ProgressDue(&progress, &elapsed))
 *         ereport(NOTICE, (errmsg("... %.1f s elapsed", ..., elapsed)));
 */
#ifndef MLOPS_PROGRESS_H
#define MLOPS_PROGRESS_H

#include "datatype/timestamp.h"

typedef struct Progress
{
	TimestampTz start;			/* when the work began */
	TimestampTz last;			/* the last NOTICE, or the start */
} Progress;

/* Starts the clock of a piece of work. */
extern void ProgressStart(Progress *progress);

/*
 * True when a NOTICE is due (counted as given), with the seconds elapsed
 * since the start; false while mlops.progress_interval has not passed since
 * the last one, and always when it is -1.
 */
extern bool ProgressDue(Progress *progress, double *elapsed);

#endif
