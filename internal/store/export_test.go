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

// SetCommitBarrier turns the asynchronous commit of order creation on PostgreSQL
// (with its barrier) on or off, as Open would find the privilege for it.
func (s *Store) SetCommitBarrier(on bool) { s.commitBarrier = on }

// CommitBarrier reports whether order creation commits asynchronously with a
// barrier.
func (s *Store) CommitBarrier() bool { return s.commitBarrier }

// UnlistedTables is unlistedTables, for the test that every table is moved.
func (s *Store) UnlistedTables(ctx context.Context) ([]string, error) { return s.unlistedTables(ctx) }

// CheckMoveTables is checkMoveTables, for the test that every table is moved.
var CheckMoveTables = checkMoveTables
