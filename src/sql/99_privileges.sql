-- ---------------------------------------------------------------------------
-- Functions are not callable by PUBLIC: each concept's file grants what each
-- role needs, and everything else stays with the extension's owner.
-- ---------------------------------------------------------------------------
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA mlops FROM PUBLIC;
