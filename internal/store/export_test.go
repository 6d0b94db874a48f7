package store

import "context"

// MigrateTo applies watan's migrations up to version and not River's, leaving the
// database as a binary that knew only those migrations would have: tests use it to
// check that a later migration carries existing data over.
func (s *Store) MigrateTo(ctx context.Context, version int) error {
	return s.migrate(ctx, version, false)
}

// WithConnectTimeout is withConnectTimeout, for tests.
var WithConnectTimeout = withConnectTimeout
