package store_test

import (
	"database/sql"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"watan"
	"watan/internal/store"
)

// pager is one listing that pages with a cursor, as the tests call it.
type pager[T any] func(limit int, cursor string) ([]T, string, error)

// walkPages follows a listing's cursors to the end with pages of size (0: the
// default) and returns the keys of the rows in the order read. It fails on a page
// larger than size, on a short page that is not the last, and on a walk that does
// not end.
func walkPages[T any](t *testing.T, size int, list pager[T], key func(T) string) []string {
	t.Helper()
	var keys []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("limit %d: the walk does not end", size)
		}
		rows, next, err := list(size, cursor)
		if err != nil {
			t.Fatalf("limit %d, page %d: %v", size, pages, err)
		}
		if size > 0 && (len(rows) > size || next != "" && len(rows) != size) {
			t.Fatalf("limit %d, page %d: %d rows, next %q", size, pages, len(rows), next)
		}
		if next != "" && len(rows) == 0 {
			t.Fatalf("limit %d, page %d: an empty page with a next cursor", size, pages)
		}
		for _, r := range rows {
			keys = append(keys, key(r))
		}
		if next == "" {
			return keys
		}
		cursor = next
	}
}

// checkPaging walks a listing with several page sizes and wants the rows of want,
// in its order, each once; it then checks that malformed cursors and cursors of
// other listings are refused as invalid input.
func checkPaging[T any](t *testing.T, name string, list pager[T], key func(T) string, want []string, foreign string) {
	t.Helper()
	for _, size := range []int{1, 2, 3, len(want), len(want) + 1, 0, store.MaxPage + 1} {
		if got := walkPages(t, size, list, key); !slices.Equal(got, want) {
			t.Errorf("%s, limit %d: walk read %v, want %v", name, size, got, want)
		}
	}
	for _, bad := range []string{"%%%", "bm9wZQ", foreign,
		base64.RawURLEncoding.EncodeToString([]byte("x.1")),
		base64.RawURLEncoding.EncodeToString([]byte("pkg.\x00")), base64.RawURLEncoding.EncodeToString([]byte("acct.\xff")),
		base64.RawURLEncoding.EncodeToString([]byte("key.-1")), base64.RawURLEncoding.EncodeToString([]byte("key.")),
	} {
		if bad == "" {
			continue
		}
		_, _, err := list(2, bad)
		if watan.ErrorCode(err) != watan.ECodeValidation {
			t.Errorf("%s with cursor %q: err = %v, want %s", name, bad, err, watan.ECodeValidation)
		}
	}
}

// firstCursor returns the cursor after the first row of a listing.
func firstCursor[T any](t *testing.T, list pager[T]) string {
	t.Helper()
	_, next, err := list(1, "")
	if err != nil || next == "" {
		t.Fatalf("first page: next %q, %v", next, err)
	}
	return next
}

func idStr(id int64) string { return strconv.FormatInt(id, 10) }

// TestPagedListings walks every listing keyed on one column to the end, in its
// order, on both engines; one tenant's cursor shows another tenant only its own rows.
func TestPagedListings(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		a := b.tenant.ID
		other := b.newTenant(t, "other").ID

		// Codes created out of order, so that code order is not creation order.
		var accts, pkgs []string
		for _, i := range []int{7, 3, 11, 1, 9, 5, 2, 10, 4, 8, 6} {
			code := fmt.Sprintf("c%02d", i)
			b.account(t, a, code, 0, 0)
			accts = append(accts, code)
			if i%2 == 1 {
				b.pkg(t, a, "p-"+code, 100)
				pkgs = append(pkgs, "p-"+code)
			}
		}
		slices.Sort(accts)
		slices.Sort(pkgs)
		b.account(t, other, "c05b", 0, 0)
		b.pkg(t, other, "p-c05b", 100)
		b.pkg(t, other, "a-other", 100) // sorts before A's first package

		var provs, groups, keys, mapped []string
		pkg := b.pkg(t, a, "mapped", 100)
		for i := range 7 {
			p := b.provider(t, a, fmt.Sprintf("znet %d", i))
			provs = append(provs, idStr(p.ID))
			g := b.codeGroup(t, a, fmt.Sprintf("group %d", i))
			groups = append(groups, idStr(g.ID))
			k, _ := b.apiKey(t, a, fmt.Sprintf("key %d", i))
			keys = append(keys, idStr(k.ID))
			b.provider(t, other, fmt.Sprintf("znet %d", i))
			b.codeGroup(t, other, fmt.Sprintf("group %d", i))
			b.apiKey(t, other, fmt.Sprintf("key %d", i))
		}
		// Mapped in reverse, so that provider order is not mapping order.
		for i := len(provs) - 1; i >= 0; i-- {
			id, _ := strconv.ParseInt(provs[i], 10, 64)
			if _, err := b.s.PutMapping(b.ctx, watan.Mapping{TenantID: a, PackageID: pkg.ID, ProviderAccountID: id, ProductID: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		mapped = slices.Clone(provs)
		pkgs = append(pkgs, "mapped")
		slices.Sort(pkgs)

		accounts := func(tenant int64) pager[watan.Account] {
			return func(l int, c string) ([]watan.Account, string, error) {
				return b.s.ListAccountsPage(b.ctx, tenant, l, c)
			}
		}
		packages := func(tenant int64) pager[watan.Package] {
			return func(l int, c string) ([]watan.Package, string, error) {
				return b.s.ListPackagesPage(b.ctx, tenant, l, c)
			}
		}
		providers := func(tenant int64) pager[watan.ProviderAccount] {
			return func(l int, c string) ([]watan.ProviderAccount, string, error) {
				return b.s.ListProviderAccountsPage(b.ctx, tenant, l, c)
			}
		}
		codeGroups := func(tenant int64) pager[watan.CodeGroup] {
			return func(l int, c string) ([]watan.CodeGroup, string, error) {
				return b.s.ListCodeGroupsPage(b.ctx, tenant, l, c)
			}
		}
		apiKeys := func(tenant int64) pager[watan.APIKey] {
			return func(l int, c string) ([]watan.APIKey, string, error) { return b.s.ListAPIKeysPage(b.ctx, tenant, l, c) }
		}
		mappings := func(tenant, pkgID int64) pager[watan.Mapping] {
			return func(l int, c string) ([]watan.Mapping, string, error) {
				return b.s.ListMappingsPage(b.ctx, tenant, pkgID, l, c)
			}
		}
		acctKey := func(x watan.Account) string { return x.Code }
		pkgKey := func(x watan.Package) string { return x.Code }
		provKey := func(x watan.ProviderAccount) string { return idStr(x.ID) }
		groupKey := func(x watan.CodeGroup) string { return idStr(x.ID) }
		keyKey := func(x watan.APIKey) string { return idStr(x.ID) }
		mapKey := func(x watan.Mapping) string { return idStr(x.ProviderAccountID) }

		acctCursor := firstCursor(t, accounts(a))
		pkgCursor := firstCursor(t, packages(a))
		checkPaging(t, "accounts", accounts(a), acctKey, accts, pkgCursor)
		checkPaging(t, "packages", packages(a), pkgKey, pkgs, acctCursor)
		checkPaging(t, "provider accounts", providers(a), provKey, provs, acctCursor)
		checkPaging(t, "code groups", codeGroups(a), groupKey, groups, firstCursor(t, providers(a)))
		checkPaging(t, "api keys", apiKeys(a), keyKey, keys, firstCursor(t, codeGroups(a)))
		checkPaging(t, "mappings", mappings(a, pkg.ID), mapKey, mapped, firstCursor(t, apiKeys(a)))

		// Another tenant given tenant A's cursors sees its own rows only.
		if got := walkFrom(t, accounts(other), acctKey, acctCursor); !slices.Equal(got, []string{"c05b"}) {
			t.Errorf("other tenant's accounts after A's cursor: %v", got)
		}
		if got := walkFrom(t, packages(other), pkgKey, pkgCursor); !slices.Equal(got, []string{"p-c05b"}) {
			t.Errorf("other tenant's packages after A's cursor: %v", got)
		}
		for name, rows := range map[string][]string{
			"provider accounts": walkFrom(t, providers(other), provKey, firstCursor(t, providers(a))),
			"code groups":       walkFrom(t, codeGroups(other), groupKey, firstCursor(t, codeGroups(a))),
			"api keys":          walkFrom(t, apiKeys(other), keyKey, firstCursor(t, apiKeys(a))),
		} {
			if len(rows) != 7 {
				t.Errorf("other tenant's %s after A's cursor: %v, want its 7", name, rows)
			}
		}
		_, _, err := b.s.ListMappingsPage(b.ctx, other, pkg.ID, 0, "")
		wantCode(t, err, watan.ECodeNotFound)

		// Rows added during a walk come after the page they sort after, never twice.
		p1, next, err := b.s.ListAPIKeysPage(b.ctx, a, 3, "")
		if err != nil || len(p1) != 3 {
			t.Fatal(p1, err)
		}
		late, _ := b.apiKey(t, a, "late")
		rest := walkFrom(t, apiKeys(a), keyKey, next)
		if want := append(slices.Clone(keys[3:]), idStr(late.ID)); !slices.Equal(rest, want) {
			t.Errorf("api keys after a key was added mid-walk: %v, want %v", rest, want)
		}
	})
}

// walkFrom reads a listing from cursor to the end, in pages of 2.
func walkFrom[T any](t *testing.T, list pager[T], key func(T) string, cursor string) []string {
	t.Helper()
	return walkPages(t, 2, func(l int, c string) ([]T, string, error) {
		if c == "" {
			c = cursor
		}
		return list(l, c)
	}, key)
}

// TestListCodes lists a code group's codes: in import order, with their status and
// order, never their PINs, filtered by status.
func TestListCodes(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		b.account(t, b.tenant.ID, "c1", 100000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		g := b.codeGroup(t, b.tenant.ID, "pins")
		var pins []string
		for i := range 12 {
			pins = append(pins, fmt.Sprintf("PIN-%04d", i))
		}
		if _, err := b.s.ImportCodes(b.ctx, b.tenant.ID, g.ID, pins); err != nil {
			t.Fatal(err)
		}
		list := func(status watan.CodeStatus) pager[watan.CodeItem] {
			return func(l int, c string) ([]watan.CodeItem, string, error) {
				return b.s.ListCodes(b.ctx, b.tenant.ID, g.ID, status, l, c)
			}
		}
		all, _, err := list("")(0, "")
		if err != nil || len(all) != 12 {
			t.Fatalf("ListCodes = %d codes, %v", len(all), err)
		}
		// Hand the 1st, 2nd and 3rd codes to three orders.
		orders := map[int64]int64{} // code id → order id
		for range 3 {
			o := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
			err := b.s.InTx(b.ctx, func(tx *sql.Tx) error {
				_, err := b.s.TakeCodeTx(b.ctx, tx, b.tenant.ID, g.ID, o.ID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			orders[all[len(orders)].ID] = o.ID
		}
		var every, used, available []string
		for i, c := range all {
			every = append(every, idStr(c.ID))
			if i < 3 {
				used = append(used, idStr(c.ID))
			} else {
				available = append(available, idStr(c.ID))
			}
		}
		key := func(c watan.CodeItem) string { return idStr(c.ID) }
		checkPaging(t, "codes", list(""), key, every, base64.RawURLEncoding.EncodeToString([]byte("grp.1")))
		checkPaging(t, "used codes", list(watan.CodeUsed), key, used, "")
		checkPaging(t, "available codes", list(watan.CodeAvailable), key, available, "")

		got, _, err := list("")(0, "")
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range got {
			if c.PIN != "" {
				t.Fatalf("a listed code carries its PIN: %+v", c)
			}
			if c.GroupID != g.ID || c.CreatedAt.IsZero() {
				t.Errorf("code %d: %+v", i, c)
			}
			if i < 3 {
				if c.Status != watan.CodeUsed || c.OrderID != orders[c.ID] || c.OrderID == 0 || c.UsedAt == nil {
					t.Errorf("used code %d: %+v", i, c)
				}
			} else if c.Status != watan.CodeAvailable || c.OrderID != 0 || c.UsedAt != nil {
				t.Errorf("available code %d: %+v", i, c)
			}
		}
		// The page size defaults to DefaultPage.
		more := make([]string, store.DefaultPage)
		for i := range more {
			more[i] = fmt.Sprintf("MORE-%04d", i)
		}
		if _, err := b.s.ImportCodes(b.ctx, b.tenant.ID, g.ID, more); err != nil {
			t.Fatal(err)
		}
		if page, next, err := list("")(0, ""); err != nil || len(page) != store.DefaultPage || next == "" {
			t.Errorf("default page: %d codes, next %q, %v", len(page), next, err)
		}

		_, _, err = b.s.ListCodes(b.ctx, b.tenant.ID, g.ID, "sold", 0, "")
		wantCode(t, err, watan.ECodeValidation)
		other := b.newTenant(t, "other")
		_, _, err = b.s.ListCodes(b.ctx, other.ID, g.ID, "", 0, "")
		wantCode(t, err, watan.ECodeNotFound)
		og := b.codeGroup(t, other.ID, "pins")
		if cs, _, err := b.s.ListCodes(b.ctx, other.ID, og.ID, "", 0, firstCursor(t, list(""))); err != nil || len(cs) != 0 {
			t.Errorf("other tenant's empty group after A's cursor: %v, %v", cs, err)
		}
	})
}

// TestWebhookDeliveryPages pages through an order's deliveries (with their
// attempts) and through the tenant's deliveries, newest first, by state.
func TestWebhookDeliveryPages(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		other := b.newTenant(t, "other")
		for _, tn := range []int64{b.tenant.ID, other.ID} {
			b.account(t, tn, "c1", 100000, 0)
			b.pkg(t, tn, "p", 100)
			if _, err := b.s.PutWebhookEndpoint(b.ctx, tn, "https://shop.example/hook", "0123456789abcdef", true); err != nil {
				t.Fatal(err)
			}
		}
		deliver := func(tenant, order int64, n int) []watan.WebhookDelivery {
			var ds []watan.WebhookDelivery
			for range n {
				err := b.s.InTx(b.ctx, func(tx *sql.Tx) error {
					d, _, err := b.s.CreateWebhookDeliveryTx(b.ctx, tx, tenant, order, "order.sent", func(seq int) ([]byte, error) {
						return fmt.Appendf(nil, `{"seq":%d}`, seq), nil
					})
					ds = append(ds, d)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			return ds
		}
		o1 := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
		o2 := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
		oo := b.order(t, watan.NewOrder{TenantID: other.ID, PackageCode: "p", AccountCode: "c1"})
		var ds []watan.WebhookDelivery
		ds = append(ds, deliver(b.tenant.ID, o1.ID, 4)...)
		ds = append(ds, deliver(b.tenant.ID, o2.ID, 3)...)
		ds = append(ds, deliver(b.tenant.ID, o1.ID, 5)...) // o1: seq 1..9, ids not contiguous
		deliver(other.ID, oo.ID, 3)
		// States: every third delivered, every fourth failed (after a 500), the rest pending.
		want := map[string][]string{}
		for i, d := range ds {
			state := watan.WebhookPending
			switch {
			case i%3 == 0:
				state = watan.WebhookDelivered
				if _, err := b.s.RecordWebhookAttempt(b.ctx, b.tenant.ID, d.ID, watan.WebhookAttempt{At: b.clock.Now(), StatusCode: 500}, false); err != nil {
					t.Fatal(err)
				}
				if _, err := b.s.RecordWebhookAttempt(b.ctx, b.tenant.ID, d.ID, watan.WebhookAttempt{At: b.clock.Now(), StatusCode: 204}, false); err != nil {
					t.Fatal(err)
				}
			case i%4 == 1:
				state = watan.WebhookFailed
				if _, err := b.s.RecordWebhookAttempt(b.ctx, b.tenant.ID, d.ID, watan.WebhookAttempt{At: b.clock.Now(), Error: "refused"}, true); err != nil {
					t.Fatal(err)
				}
			}
			want[state] = append([]string{idStr(d.ID)}, want[state]...) // newest first
			want[""] = append([]string{idStr(d.ID)}, want[""]...)
		}

		tenantList := func(tenant int64, state string) pager[watan.WebhookDelivery] {
			return func(l int, c string) ([]watan.WebhookDelivery, string, error) {
				return b.s.ListWebhookDeliveries(b.ctx, tenant, state, l, c)
			}
		}
		idOf := func(d watan.WebhookDelivery) string { return idStr(d.ID) }
		for _, state := range []string{"", watan.WebhookPending, watan.WebhookDelivered, watan.WebhookFailed} {
			checkPaging(t, "deliveries in state "+state, tenantList(b.tenant.ID, state), idOf, want[state], "")
		}
		page, _, err := b.s.ListWebhookDeliveries(b.ctx, b.tenant.ID, "", 0, "")
		if err != nil || len(page) != len(ds) || page[0].ID != ds[len(ds)-1].ID || page[len(page)-1].History != nil {
			t.Fatalf("ListWebhookDeliveries = %d, %v", len(page), err)
		}
		_, _, err = b.s.ListWebhookDeliveries(b.ctx, b.tenant.ID, "lost", 0, "")
		wantCode(t, err, watan.ECodeValidation)
		if got := walkFrom(t, tenantList(other.ID, ""), idOf, firstCursor(t, tenantList(b.tenant.ID, ""))); len(got) != 0 {
			// The other tenant's deliveries are all newer than A's: none is before A's cursor.
			t.Errorf("other tenant after A's cursor: %v", got)
		}
		if got := walkPages(t, 2, tenantList(other.ID, ""), idOf); len(got) != 3 {
			t.Errorf("other tenant's deliveries: %v", got)
		}

		orderList := func(tenant, order int64) pager[watan.WebhookDelivery] {
			return func(l int, c string) ([]watan.WebhookDelivery, string, error) {
				return b.s.OrderWebhookDeliveriesPage(b.ctx, tenant, order, l, c)
			}
		}
		seqOf := func(d watan.WebhookDelivery) string { return strconv.Itoa(d.Seq) }
		checkPaging(t, "order deliveries", orderList(b.tenant.ID, o1.ID), seqOf, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}, "")
		// Pages carry the same deliveries, attempts included, as the whole listing.
		whole, err := b.s.OrderWebhookDeliveries(b.ctx, b.tenant.ID, o1.ID)
		if err != nil {
			t.Fatal(err)
		}
		var paged []watan.WebhookDelivery
		cursor := ""
		for {
			p, next, err := b.s.OrderWebhookDeliveriesPage(b.ctx, b.tenant.ID, o1.ID, 2, cursor)
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, p...)
			if next == "" {
				break
			}
			cursor = next
		}
		if len(paged) != len(whole) {
			t.Fatalf("paged %d deliveries, whole %d", len(paged), len(whole))
		}
		attempts := 0
		for i := range whole {
			if paged[i].ID != whole[i].ID || len(paged[i].History) != len(whole[i].History) {
				t.Errorf("delivery %d: paged %+v, whole %+v", i, paged[i], whole[i])
			}
			attempts += len(paged[i].History)
		}
		if attempts == 0 {
			t.Error("no attempts listed")
		}
		_, _, err = b.s.OrderWebhookDeliveriesPage(b.ctx, other.ID, o1.ID, 0, "")
		wantCode(t, err, watan.ECodeNotFound)
	})
}
