-- The engine's bookkeeping on orders: when the next status check is due (batch checks
-- pick due orders of one provider account) and how many references were used.
ALTER TABLE orders ADD COLUMN next_check_at INTEGER;
ALTER TABLE orders ADD COLUMN dispatch_count INTEGER NOT NULL DEFAULT 0;

-- Batch checks: a provider account's due orders, soonest first.
CREATE INDEX orders_due_check_idx ON orders (provider_account_id, next_check_at)
    WHERE status = 'pending' AND next_check_at IS NOT NULL;
-- The sweeper: pending orders by provider state, oldest first, and by deadline.
CREATE INDEX orders_sweep_idx ON orders (provider_state, created_at, id) WHERE status = 'pending';
CREATE INDEX orders_deadline_idx ON orders (deadline) WHERE status = 'pending' AND deadline IS NOT NULL;
