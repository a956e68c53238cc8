/*
 * settings.h — the mlops.* configuration parameters (GUCs).
 */
#ifndef MLOPS_SETTINGS_H
#define MLOPS_SETTINGS_H

extern int	mlops_threads;				/* training threads; 0 = every core */

/* The most threads a training may ask for (mlops.threads, XGBoost's nthread). */
#define MLOPS_MAX_THREADS 1024
extern int	mlops_max_training_memory;	/* in kB */
extern int	mlops_model_cache_size;		/* compiled models kept per backend */
extern char *mlops_default_alias;		/* alias a bare model name resolves to */
extern int	mlops_progress_interval;	/* ms between progress NOTICEs; -1 = none */

/* The number of training threads to use: mlops.threads, or every core for 0. */
extern int	MlopsTrainingThreads(void);

/* Raises 53200 when `held` bytes exceed mlops.max_training_memory (see mlops.c). */
extern void MlopsRequireMemory(Size held, const char *work, const char *what, const char *fewer);

#endif
