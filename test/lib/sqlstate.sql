\set ECHO none
-- Included by the regression suites: pg_temp.sqlstate(query) runs a statement
-- and returns 'ok', or the SQLSTATE and message of the error it raised, so that
-- expected outputs pin error codes as well as messages.
CREATE FUNCTION pg_temp.sqlstate(query text) RETURNS text
    LANGUAGE plpgsql
AS $$
BEGIN
    EXECUTE query;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
\set ECHO all
