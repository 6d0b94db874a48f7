-- Timeline entries as a message code and its parameters, so that the dashboard
-- shows each in its reader's language; message keeps the English text for the API.
-- Entries written before have no code and are read back from their text.
ALTER TABLE order_events ADD COLUMN code TEXT NOT NULL DEFAULT '';
ALTER TABLE order_events ADD COLUMN params TEXT;
