package engine

import (
	"context"
	"testing"
	"time"

	"watan"
)

// countingStore counts catalog reads; the other Store methods are not used.
type countingStore struct {
	Store
	accounts int
	missing  bool
}

func (s *countingStore) FindProviderAccount(ctx context.Context, tenantID, id int64) (watan.ProviderAccount, error) {
	s.accounts++
	if s.missing {
		return watan.ProviderAccount{}, watan.Errorf(watan.ECodeNotFound, "no")
	}
	return watan.ProviderAccount{ID: id, TenantID: tenantID}, nil
}

func TestCatalogCacheReusesUntilTTLOrForget(t *testing.T) {
	s := &countingStore{}
	c := newCatalogCache(s, 2*time.Second)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	read := func() {
		t.Helper()
		if _, err := c.account(ctx, 1, 7); err != nil {
			t.Fatal(err)
		}
	}
	read()
	read()
	if s.accounts != 1 {
		t.Fatalf("two reads within the TTL hit the store %d times", s.accounts)
	}
	c.forgetAccount(1, 7)
	read()
	if s.accounts != 2 {
		t.Fatalf("read after forget hit the store %d times in all, want 2", s.accounts)
	}
	now = now.Add(3 * time.Second)
	read()
	if s.accounts != 3 {
		t.Fatalf("read after the TTL hit the store %d times in all, want 3", s.accounts)
	}
	// Another tenant's account of the same id is a different entry.
	if _, err := c.account(ctx, 2, 7); err != nil || s.accounts != 4 {
		t.Fatalf("other tenant: %v, %d reads", err, s.accounts)
	}
	// Not found is remembered too; other errors are not (none here).
	s.missing = true
	if _, err := c.account(ctx, 3, 1); !watan.IsNotFound(err) {
		t.Fatal(err)
	}
	if _, err := c.account(ctx, 3, 1); !watan.IsNotFound(err) || s.accounts != 5 {
		t.Fatalf("not found was not cached: %d reads", s.accounts)
	}
}
