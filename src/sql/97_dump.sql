-- ---------------------------------------------------------------------------
-- Backups: mlops's tables are members of the extension, and pg_dump leaves
-- out the rows of member tables unless they are registered here; a database
-- dumped and restored would come back with an empty registry. Every table of
-- user data is registered, and so is every identity sequence, so that ids
-- continue after a restore instead of colliding with restored rows. None of
-- these tables is filled by CREATE EXTENSION, so no filter is needed: on
-- restore, CREATE EXTENSION creates them empty and pg_restore loads the rows
-- (in foreign-key order, which pg_dump works out for registered tables).
--
-- Deliberately not registered: mlops.audit_log and mlops.audit_chain. The
-- install fills both (the anchor, the ENABLE rows of the registry tables), and
-- their guard refuses every INSERT but the audit trigger's, so they cannot be
-- reloaded; a chain copied into another database would not be its history
-- anyway. The restored database starts its own chain: the registry tables are
-- audited ALWAYS, so the rows pg_restore loads into them are logged as INSERTs
-- of the restore, and verify_audit() holds. The old log is kept with COPY
-- (README, "Audit").
-- ---------------------------------------------------------------------------

-- One call per statement: each call updates the extension's catalog row.
DO $$
DECLARE
    t regclass;
BEGIN
    FOREACH t IN ARRAY ARRAY['mlops.experiment', 'mlops.run', 'mlops.run_param', 'mlops.run_tag', 'mlops.run_metric',
                             'mlops.model', 'mlops.model_version', 'mlops.alias', 'mlops.deployment',
                             'mlops.monitor', 'mlops.monitor_run', 'mlops.drift_result', 'mlops.alert',
                             'mlops.prediction_log', 'mlops.outcome']::regclass[] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(t, '');
        -- the identity sequence of the id column, if any (pg_dump dumps its setval)
        IF EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid = t AND attname = 'id' AND attidentity <> '') THEN
            PERFORM pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence(t::text, 'id')::regclass, '');
        END IF;
    END LOOP;
END
$$;
