-- Nodes on one database learn of catalog changes at once instead of at the end of
-- their cache's lifetime: any change to packages, mappings or provider accounts
-- (an operator's pause among them), from any node or command, notifies channel
-- watan_catalog with the schema it happened in, once per statement and only when
-- the transaction commits. Each node drops its cached catalog on it.
CREATE FUNCTION watan_notify_catalog() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('watan_catalog', current_schema());
    RETURN NULL;
END
$$;

CREATE TRIGGER packages_notify_catalog AFTER INSERT OR UPDATE OR DELETE ON packages
    FOR EACH STATEMENT EXECUTE FUNCTION watan_notify_catalog();
CREATE TRIGGER mappings_notify_catalog AFTER INSERT OR UPDATE OR DELETE ON mappings
    FOR EACH STATEMENT EXECUTE FUNCTION watan_notify_catalog();
CREATE TRIGGER provider_accounts_notify_catalog AFTER INSERT OR UPDATE OR DELETE ON provider_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION watan_notify_catalog();
