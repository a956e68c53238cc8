\set ECHO none
-- Included by the regression suites: pg_temp.pass_rows(counter, n, later, dup)
-- yields 1..n the first time it runs, 1..later and dup (when not NULL) the
-- next times (counting its runs in the setting counter): a source whose rows
-- change between the passes of a training.
CREATE FUNCTION pg_temp.pass_rows(counter text, n int, later int, dup int DEFAULT NULL) RETURNS SETOF int
    LANGUAGE plpgsql VOLATILE AS $f$
DECLARE
    pass int := coalesce(nullif(current_setting(counter, true), ''), '0')::int + 1;
BEGIN
    PERFORM set_config(counter, pass::text, false);
    RETURN QUERY SELECT generate_series(1, CASE WHEN pass = 1 THEN n ELSE later END);
    IF pass > 1 AND dup IS NOT NULL THEN
        RETURN NEXT dup;
    END IF;
END
$f$;
\set ECHO all
