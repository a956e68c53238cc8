-- ---------------------------------------------------------------------------
-- Functions are not callable by PUBLIC: each concept's file grants what each
-- role needs, and everything else stays with the extension's owner.
-- ---------------------------------------------------------------------------
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mlops FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Default privileges (ALTER DEFAULT PRIVILEGES of the installing role) grant
-- rights on every object this script creates, as they do on the installer's
-- own: an application role given the tables a superuser creates would write
-- the registry and read the audit log, and run every function. Whatever a
-- role outside mlops's own holds on mlops's objects came from them, and is
-- revoked; PUBLIC keeps only the USAGE of types that PostgreSQL gives it.
-- ---------------------------------------------------------------------------
DO $defaults$
DECLARE
    o record;
BEGIN
    FOR o IN
        WITH acl AS (
            SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
                   c.oid::regclass::text AS object, c.relowner AS owner, a.grantee, a.privilege_type
              FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
             WHERE c.relnamespace = 'mlops'::regnamespace
            UNION ALL
            SELECT 'ROUTINE', p.oid::regprocedure::text, p.proowner, a.grantee, a.privilege_type
              FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
             WHERE p.pronamespace = 'mlops'::regnamespace
            UNION ALL
            SELECT 'TYPE', t.oid::regtype::text, t.typowner, a.grantee, a.privilege_type
              FROM pg_catalog.pg_type t, pg_catalog.aclexplode(t.typacl) a
             WHERE t.typnamespace = 'mlops'::regnamespace
            UNION ALL
            SELECT 'SCHEMA', pg_catalog.quote_ident(n.nspname), n.nspowner, a.grantee, a.privilege_type
              FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
             WHERE n.nspname = 'mlops')
        SELECT DISTINCT acl.kind, acl.object,
               CASE acl.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END AS grantee
          FROM acl LEFT JOIN pg_catalog.pg_roles r ON r.oid = acl.grantee
         WHERE acl.grantee <> acl.owner
           AND (r.rolname IS NULL OR r.rolname NOT IN ('mlops_scorer', 'mlops_trainer', 'mlops_admin'))
           AND NOT (acl.kind = 'TYPE' AND acl.grantee = 0 AND acl.privilege_type = 'USAGE')
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s', o.kind, o.object, o.grantee);
    END LOOP;
END
$defaults$;
