/*
 * import_model.c — import_model(): an XGBoost model trained elsewhere (JSON
 * or UBJ, as Python's Booster.save_raw writes them) checked by our own reader
 * and by libxgboost, then registered as a new version of a model, stored as
 * UBJ, with a run that records the import.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/scansup.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "mlops/args.h"
#include "mlops/source.h"
#include "mlops/trees.h"
#include "mlops/xgb.h"

/* Whether an XGBoost objective predicts classes (mlops scores it as a classifier). */
static bool
ClassificationObjective(const char *objective)
{
	return strcmp(objective, "binary:logistic") == 0 || strcmp(objective, "binary:logitraw") == 0 ||
		strcmp(objective, "multi:softprob") == 0 || strcmp(objective, "multi:softmax") == 0;
}

/* Whether an XGBoost objective predicts values that mlops scores as a regression. */
static bool
RegressionObjective(const char *objective)
{
	return strncmp(objective, "reg:", 4) == 0 || strncmp(objective, "count:", 6) == 0 ||
		strncmp(objective, "survival:", 9) == 0 || strncmp(objective, "rank:", 5) == 0;
}

/* Runs a query through SPI with arguments, returning the first column of its row. */
static Datum
SpiValue(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	bool		isnull;

	if (SPI_execute_with_args(sql, nargs, types, values, nulls, false, 1) < 0 || SPI_processed != 1)
		elog(ERROR, "query failed: %s", sql);
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
}

PG_FUNCTION_INFO_V1(import_model);
/*
 * import_model(model, artifact, format, features, task, target): validates an
 * XGBoost model with our own reader and by loading it with libxgboost, then
 * registers it as a new version (stored as UBJ) with a run that records the
 * import.
 */
Datum
import_model(PG_FUNCTION_ARGS)
{
	const char *argnames[] = {"model", "artifact", "format", "features", "task"};
	char	   *format,
			   *task,
			   *target = NULL,
			   *objective,
			   *num_class_text,
			   *booster_name;
	bytea	   *artifact;
	ArrayType  *features;
	Datum	   *feature_elems;
	bool	   *feature_nulls;
	char	  **given_names;
	char	  **truncated;		/* given_names truncated as identifiers are */
	int			nfeatures;
	MemoryContext scratch;
	BoosterHandle booster;
	Jsonb	   *cfg;
	int			num_class,
				num_feature,
				noutputs,
				rounds;
	bytea	   *ubj;
	bytea	   *json;
	StringInfoData spec,
				params;
	Datum	   *class_elems;
	int			nclasses;
	Datum		run_id,
				version;

	for (int i = 0; i < lengthof(argnames); i++)
		RequireArg(fcinfo, i, argnames[i]);
	CheckModelName(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	artifact = PG_GETARG_BYTEA_PP(1);
	format = text_to_cstring(PG_GETARG_TEXT_PP(2));
	features = PG_GETARG_ARRAYTYPE_P(3);
	task = text_to_cstring(PG_GETARG_TEXT_PP(4));

	if (strcmp(format, "xgboost-json") != 0 && strcmp(format, "xgboost-ubj") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown model format \"%s\"", format),
				 errhint("The formats are xgboost-json and xgboost-ubj.")));
	if (strcmp(task, "regression") != 0 && strcmp(task, "classification") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown task \"%s\"", task),
				 errhint("The tasks are regression and classification.")));
	if (ARR_NDIM(features) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must be a one-dimensional array")));
	deconstruct_array(features, TEXTOID, -1, false, TYPALIGN_INT, &feature_elems, &feature_nulls, &nfeatures);
	if (nfeatures == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must name at least one feature")));
	/*
	 * A name longer than an identifier is truncated as PostgreSQL truncates
	 * an identifier (with its NOTICE), or no row's column could ever match it
	 * in the row forms of predict; the model's own names are compared with
	 * the names as given (given_names).
	 */
	given_names = palloc(sizeof(char *) * nfeatures);
	truncated = palloc(sizeof(char *) * nfeatures);
	for (int i = 0; i < nfeatures; i++)
	{
		CHECK_FOR_INTERRUPTS();	/* the comparisons below are quadratic in the features */
		if (feature_nulls[i] || VARSIZE_ANY_EXHDR(DatumGetTextPP(feature_elems[i])) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature names must not be null or empty")));
		given_names[i] = TextDatumGetCString(feature_elems[i]);
		truncated[i] = pstrdup(given_names[i]);
		truncate_identifier(truncated[i], strlen(truncated[i]), true);
		feature_elems[i] = CStringGetTextDatum(truncated[i]);
		for (int j = 0; j < i; j++)
			if (strcmp(truncated[i], truncated[j]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature \"%s\" is named twice", truncated[i]),
						 strcmp(given_names[i], given_names[j]) != 0 ?
						 errdetail("Feature names are truncated to %d bytes, as identifiers are.", NAMEDATALEN - 1) : 0));
	}

	/*
	 * The target names the column that evaluate and promote's gate read a
	 * source's actual values from: truncated as the features are (a longer
	 * name names no column), and neither empty nor a feature, which no source
	 * could be evaluated with (as train() refuses a target among its features).
	 */
	if (!PG_ARGISNULL(5))
	{
		target = text_to_cstring(PG_GETARG_TEXT_PP(5));
		if (*target == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("target must not be empty"),
					 errhint("Give the name of the column that holds the actual values, or leave target NULL.")));
		truncate_identifier(target, strlen(target), true);
		for (int i = 0; i < nfeatures; i++)
			if (strcmp(truncated[i], target) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the target \"%s\" cannot also be a feature", target)));
	}

	features = construct_array(feature_elems, nfeatures, TEXTOID, -1, false, TYPALIGN_INT);

	/* what libxgboost refuses, or would crash the backend on, is not a model */
	scratch = AllocSetContextCreate(CurrentMemoryContext, "mlops import", ALLOCSET_DEFAULT_SIZES);
	booster = XgbLoad(format, VARDATA_ANY(artifact), VARSIZE_ANY_EXHDR(artifact), TREE_MAX_DEPTH, scratch);
	cfg = XgbConfig(booster);
	{
		const char *obj_path[] = {"learner", "objective", "name"};
		const char *class_path[] = {"learner", "learner_model_param", "num_class"};
		const char *booster_path[] = {"learner", "gradient_booster", "name"};

		objective = XgbConfigValue(cfg, obj_path, 3);
		num_class_text = XgbConfigValue(cfg, class_path, 3);
		booster_name = XgbConfigValue(cfg, booster_path, 3);
	}
	if (objective == NULL || num_class_text == NULL || booster_name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("artifact is not a complete xgboost model"),
				 errdetail("Its configuration lacks the objective, num_class or booster.")));
	num_class = atoi(num_class_text);
	num_feature = XgbNumFeatures(booster);
	rounds = XgbBoostedRounds(booster);
	if (num_feature != nfeatures)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model takes %d features but %d feature names were given", num_feature, nfeatures),
				 errdetail("The model's num_feature is %d.", num_feature)));
	/*
	 * A name the model knows (Python sets them from a DataFrame's columns)
	 * given at another position would score every row with its inputs in the
	 * wrong order; names the model does not have rename its inputs. The
	 * model's names are UTF-8, the given ones in the database's encoding.
	 */
	{
		int			nnames;
		char	  **names = XgbFeatureNames(booster, &nnames);

		for (int i = 0; i < nfeatures && nnames == nfeatures; i++)
		{
			char	   *given = ColumnNameToUtf8(given_names[i]);

			CHECK_FOR_INTERRUPTS();

			for (int j = 0; j < nnames; j++)
				if (j != i && strcmp(names[j], given) == 0)
				{
					StringInfoData list;

					initStringInfo(&list);
					for (int k = 0; k < nnames; k++)
						appendStringInfo(&list, "%s%s", k ? ", " : "", ColumnNameFromUtf8(names[k]));
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("feature \"%s\" is input %d of the model, not input %d",
									given_names[i], j + 1, i + 1),
							 errdetail("The model's features are, in order: %s.", list.data),
							 errhint("Give the features in the model's order.")));
				}
		}
	}
	if (!ClassificationObjective(objective) && !RegressionObjective(objective))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("objective \"%s\" is not supported", objective),
				 errhint("Classification objectives: binary:logistic, binary:logitraw, multi:softprob, multi:softmax; "
						 "regression: reg:*, count:*, survival:*, rank:*.")));
	noutputs = XgbNumOutputs(cfg);
	if (num_class <= 1 && noutputs > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("multi-output models are not supported"),
				 errdetail("The model predicts %d targets per row; mlops scores one value, or one probability per class.",
						   noutputs),
				 errhint("Import one model per target.")));
	if (ClassificationObjective(objective) != (strcmp(task, "classification") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("task \"%s\" does not match objective \"%s\"", task, objective)));
	if (strncmp(objective, "multi:", 6) == 0 && num_class < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("multiclass model has num_class %d", num_class)));

	/* store as UBJ; check that its trees compile, as loading will (for scoring or explain), before registering */
	ubj = XgbSave(booster, "ubj");
	json = XgbSave(booster, "json");
	(void) TreeModelCompile(VARDATA(json), VARSIZE(json) - VARHDRSZ, true);

	nclasses = ClassificationObjective(objective) ? (num_class > 1 ? num_class : 2) : 0;
	class_elems = palloc(Max(nclasses, 1) * sizeof(Datum));
	for (int c = 0; c < nclasses; c++)
		class_elems[c] = Float8GetDatum((double) c);

	initStringInfo(&spec);
	appendStringInfoString(&spec, "{\"inputs\": [");
	for (int i = 0; i < nfeatures; i++)
	{
		appendStringInfoString(&spec, i ? ", {\"name\": " : "{\"name\": ");
		escape_json(&spec, TextDatumGetCString(feature_elems[i]));
		appendStringInfoString(&spec, ", \"kind\": \"numeric\"}");
	}
	appendStringInfoString(&spec, "]}");
	initStringInfo(&params);
	appendStringInfoString(&params, "{\"format\": ");
	escape_json(&params, format);
	appendStringInfoString(&params, ", \"objective\": ");
	escape_json(&params, objective);
	appendStringInfoString(&params, ", \"booster\": ");
	escape_json(&params, booster_name);
	appendStringInfo(&params, ", \"num_feature\": %d, \"num_class\": %d, \"rounds\": %d}",
					 num_feature, num_class, rounds);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	{
		Oid			types[3] = {TEXTOID, TEXTOID, JSONBOID};
		Datum		values[3] = {PG_GETARG_DATUM(0), CStringGetTextDatum("import"),
		DirectFunctionCall1(jsonb_in, CStringGetDatum(params.data))};

		run_id = SpiValue("SELECT mlops.start_run($1, $2, $3)", 3, types, values, NULL);
	}
	{
		Oid			types[9] = {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTOID, FLOAT8ARRAYOID,
		JSONBOID, JSONBOID, INT8OID, BYTEAOID};
		Datum		values[9] = {
			PG_GETARG_DATUM(0), PG_GETARG_DATUM(4), PointerGetDatum(features),
			target ? CStringGetTextDatum(target) : (Datum) 0,
			PointerGetDatum(construct_array(class_elems, nclasses, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)),
			DirectFunctionCall1(jsonb_in, CStringGetDatum(params.data)),
			DirectFunctionCall1(jsonb_in, CStringGetDatum(spec.data)),
			run_id, PointerGetDatum(ubj)
		};
		char		nulls[9] = {' ', ' ', ' ', target ? ' ' : 'n', nclasses ? ' ' : 'n',
		' ', ' ', ' ', ' '};

		version = SpiValue("SELECT mlops._register_version($1, 'xgboost', $2, $3, $4, $5, $6, '{}', $7, "
						   "NULL, $8, NULL, NULL, NULL, NULL, NULL, $9, 'xgboost-ubj')",
						   9, types, values, nulls);
	}
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {run_id};

		if (SPI_execute_with_args("SELECT mlops.end_run($1)", 1, types, values, NULL, false, 1) < 0)
			elog(ERROR, "could not end the import run");
	}
	SPI_finish();
	MemoryContextDelete(scratch);
	PG_RETURN_INT32(DatumGetInt32(version));
}
