\set ECHO none
-- Included by the regression suites: pg_temp.sqlstate(query) runs a statement
-- and returns 'ok', or the SQLSTATE and message of the error it raised, so that
-- expected outputs pin error codes as well as messages; with show_hint, the
-- error's hint too, and with show_detail its detail.
CREATE FUNCTION pg_temp.sqlstate(query text, show_hint boolean DEFAULT false, show_detail boolean DEFAULT false)
    RETURNS text
    LANGUAGE plpgsql
AS $$
DECLARE
    hint text;
    detail text;
BEGIN
    EXECUTE query;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT, detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || CASE WHEN show_detail THEN ' (detail: ' || detail || ')' ELSE '' END
           || CASE WHEN show_hint THEN ' (hint: ' || hint || ')' ELSE '' END;
END
$$;
\set ECHO all
