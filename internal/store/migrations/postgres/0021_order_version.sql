-- Every write of an order bumps its version. The engine changes an order as a
-- compare-and-set on the version it read, so that a transition needs no locking
-- read inside its transaction: the UPDATE itself checks that nobody wrote the order
-- since, and the transition is redone from a locked read when somebody did.
ALTER TABLE orders ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
