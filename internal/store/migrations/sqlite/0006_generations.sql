-- Versioned transitions: every placement (and every operator re-dispatch) starts a
-- new generation of the order, and every provider-side change is a compare-and-set
-- on it. A placement on the wire holds a lease until lease_until, so that no status
-- answer concludes "not found" while it may still land. Existing orders start at
-- generation 0, which is also what check jobs enqueued before this migration carry.
ALTER TABLE orders ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN lease_until INTEGER;
ALTER TABLE orders ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
