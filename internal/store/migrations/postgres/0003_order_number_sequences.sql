-- Order numbers come from one SEQUENCE per tenant, order_number_<tenant_id>, instead
-- of the order_counters row: the row stayed locked from the order's INSERT until
-- commit and so serialised all of a tenant's order creation, while nextval neither
-- locks nor waits. A sequence is never rolled back, so a create that fails after
-- taking its number leaves a gap (see Store.CreateOrderWith).
--
-- Each sequence is created unqualified, in the current schema next to the tables,
-- and is later named unqualified too, so it resolves through search_path as they do.
-- CACHE 1 (the default, spelt out): a per-connection cache would hand out numbers
-- out of order across connections.
--
-- Every existing tenant's sequence continues after the highest number it has used:
-- its counter, or its highest order number should the two ever disagree. The block
-- only creates what is missing and only ever moves a sequence forward, and it reads
-- order_counters only while that table exists, so running this file again is
-- harmless.
DO $$
DECLARE
    tid       BIGINT;
    seq       TEXT;
    last_used BIGINT;
BEGIN
    FOR tid IN SELECT id FROM tenants ORDER BY id LOOP
        seq := 'order_number_' || tid;
        EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I AS BIGINT CACHE 1', seq);

        SELECT COALESCE(MAX(o.number), 0) INTO last_used FROM orders o WHERE o.tenant_id = tid;
        IF to_regclass('order_counters') IS NOT NULL THEN
            EXECUTE 'SELECT GREATEST($1, COALESCE(MAX(last_number), 0)) FROM order_counters WHERE tenant_id = $2'
                INTO last_used USING last_used, tid;
        END IF;
        -- last_value is NULL until the sequence first hands out a number.
        last_used := GREATEST(last_used, COALESCE((SELECT s.last_value FROM pg_sequences s
            WHERE s.schemaname = current_schema() AND s.sequencename = seq), 0));
        IF last_used > 0 THEN
            PERFORM setval(seq::regclass, last_used); -- the next nextval returns last_used + 1
        END IF;
    END LOOP;
END
$$;

-- Nothing reads the counters on PostgreSQL any more. Dropping them, rather than
-- leaving rows that silently go stale, makes a binary from before this migration
-- fail loudly on order creation instead of issuing numbers the sequences also issue.
DROP TABLE IF EXISTS order_counters;
