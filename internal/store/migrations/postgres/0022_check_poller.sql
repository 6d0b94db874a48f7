-- The check poller claims due status checks across tenants and accounts, soonest
-- first, and sleeps until the next one: both read this index. Only orders their
-- provider holds and nobody has decided are in it, so it stays as small as the
-- set of orders being watched.
CREATE INDEX orders_poll_idx ON orders (next_check_at)
    WHERE status = 'pending' AND provider_state = 'sent' AND next_check_at IS NOT NULL;
