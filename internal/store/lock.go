package store

import (
	"errors"
	"fmt"

	"github.com/gofrs/flock"
)

// ErrFileInUse is returned by LockFile when another process holds the embedded
// database file: a running serve, or a move copying it.
var ErrFileInUse = errors.New("the database file is in use by another watan process (serve or move)")

// LockFile takes an exclusive, advisory lock on an embedded database for the life of
// the process or until release is called: serve holds it while it runs, and move
// holds it while it copies, so that the two never run on one file at once. It is a
// separate PATH.lock file rather than the database file itself, because SQLite's
// own POSIX locks are dropped when a process closes any descriptor of the file. A
// killed process's lock goes with it. On PostgreSQL, and for an in-memory
// database, there is nothing to lock and release does nothing.
func (s *Store) LockFile() (release func() error, err error) {
	if s.engine != EngineSQLite || s.path == "" {
		return func() error { return nil }, nil
	}
	l := flock.New(s.path + ".lock")
	ok, err := l.TryLock()
	if err != nil {
		return nil, fmt.Errorf("store: lock %s: %w", l.Path(), err)
	}
	if !ok {
		return nil, fmt.Errorf("store: %s: %w", s.path, ErrFileInUse)
	}
	return l.Unlock, nil
}

// Path is the embedded database's file, or "" on PostgreSQL and in memory.
func (s *Store) Path() string { return s.path }
