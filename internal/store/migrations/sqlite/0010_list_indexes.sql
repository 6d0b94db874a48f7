-- Cursor paging reads each page from an index: a code group's codes in id order
-- (code_items_available_idx covers only the unused ones), and a tenant's webhook
-- deliveries in one state, newest first (the unfiltered listing reads the
-- (tenant_id, id) unique index).
CREATE INDEX code_items_group_idx ON code_items (group_id, id);
CREATE INDEX webhook_deliveries_state_idx ON webhook_deliveries (tenant_id, state, id);
