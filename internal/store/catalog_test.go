package store_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"watan"
)

func (b *bundle) provider(t *testing.T, tenantID int64, name string) watan.ProviderAccount {
	t.Helper()
	p, err := b.s.CreateProviderAccount(b.ctx, watan.ProviderAccount{
		TenantID: tenantID, Name: name, Kind: watan.ProviderZnet, BaseURL: "https://znet.example/api",
		Credentials: map[string]watan.Secret{"kod": "k-" + watan.Secret(name), "sifre": "s3cret"},
		Active:      true,
	})
	if err != nil {
		t.Fatalf("CreateProviderAccount(%q): %v", name, err)
	}
	return p
}

func (b *bundle) codeGroup(t *testing.T, tenantID int64, name string) watan.CodeGroup {
	t.Helper()
	g, err := b.s.CreateCodeGroup(b.ctx, tenantID, name)
	if err != nil {
		t.Fatalf("CreateCodeGroup(%q): %v", name, err)
	}
	return g
}

func TestProviderAccounts(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		in := watan.ProviderAccount{
			TenantID: b.tenant.ID, Name: "znet main", Kind: watan.ProviderZnet, BaseURL: "http://127.0.0.1:9/servis",
			Settings: watan.ProviderSettings{FirstCheckDelay: 5 * time.Second, Policy: watan.PollFixed,
				PollInterval: 45 * time.Second, MaxInFlight: 3, RequestTimeout: 7 * time.Second, Deadline: 2 * time.Hour},
			Credentials: map[string]watan.Secret{"kod": "1234", "sifre": "p@ss"},
			Active:      true,
		}
		p, err := b.s.CreateProviderAccount(b.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if p.ID == 0 || p.Name != in.Name || p.Kind != in.Kind || p.BaseURL != in.BaseURL || !p.Active || p.Paused ||
			p.Settings != in.Settings || !reflect.DeepEqual(p.Credentials, in.Credentials) {
			t.Errorf("CreateProviderAccount = %+v, want fields of %+v", p, in)
		}
		got, err := b.s.FindProviderAccount(b.ctx, b.tenant.ID, p.ID)
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("FindProviderAccount = %+v, %v; want %+v", got, err, p)
		}
		// Secrets are stored so that they can be revealed, never as "[redacted]".
		if got.Credentials["sifre"].Reveal() != "p@ss" {
			t.Errorf("stored password = %q", got.Credentials["sifre"].Reveal())
		}

		// An update without credentials keeps them; with credentials replaces them.
		b.clock.Advance(time.Minute)
		upd := got
		upd.Name, upd.Paused, upd.PausedReason, upd.Credentials = "znet renamed", true, "HTML answer", nil
		upd.Settings.Policy = watan.PollExponential
		u, err := b.s.UpdateProviderAccount(b.ctx, upd)
		if err != nil {
			t.Fatal(err)
		}
		if u.Name != "znet renamed" || !u.Paused || u.PausedReason != "HTML answer" || u.Settings.Policy != watan.PollExponential ||
			!reflect.DeepEqual(u.Credentials, in.Credentials) || !u.UpdatedAt.After(u.CreatedAt) || !u.CreatedAt.Equal(p.CreatedAt) {
			t.Errorf("UpdateProviderAccount without credentials = %+v", u)
		}
		upd.Credentials = map[string]watan.Secret{"kod": "9", "sifre": "new"}
		u, err = b.s.UpdateProviderAccount(b.ctx, upd)
		if err != nil || !reflect.DeepEqual(u.Credentials, upd.Credentials) {
			t.Fatalf("UpdateProviderAccount with credentials = %+v, %v", u, err)
		}

		other := b.provider(t, b.tenant.ID, "barakat")
		ps, err := b.s.ListProviderAccounts(b.ctx, b.tenant.ID)
		if err != nil || len(ps) != 2 || ps[0].ID != p.ID || ps[1].ID != other.ID {
			t.Fatalf("ListProviderAccounts = %+v, %v", ps, err)
		}

		_, err = b.s.CreateProviderAccount(b.ctx, watan.ProviderAccount{TenantID: b.tenant.ID, Name: "barakat", Kind: watan.ProviderBarakat, BaseURL: "https://b.example",
			Credentials: map[string]watan.Secret{"token": "t"}})
		wantCode(t, err, watan.ECodeConflict)
		upd.Name = "barakat"
		_, err = b.s.UpdateProviderAccount(b.ctx, upd)
		wantCode(t, err, watan.ECodeConflict)
		for _, bad := range []watan.ProviderAccount{
			{Name: "x", Kind: "acme", BaseURL: "https://a.example"},
			{Name: "x", Kind: watan.ProviderZnet, BaseURL: "ftp://a.example"},
			{Name: "x", Kind: watan.ProviderZnet, BaseURL: "not a url"},
			{Name: "", Kind: watan.ProviderZnet, BaseURL: "https://a.example"},
			{Name: "x", Kind: watan.ProviderZnet, BaseURL: "https://a.example", Settings: watan.ProviderSettings{Policy: "random"}},
			{Name: "x", Kind: watan.ProviderZnet, BaseURL: "https://a.example", Settings: watan.ProviderSettings{MaxInFlight: -1}},
			// Credentials must be exactly what the kind needs.
			{Name: "x", Kind: watan.ProviderZnet, BaseURL: "https://a.example"},
			{Name: "x", Kind: watan.ProviderZnet, BaseURL: "https://a.example", Credentials: map[string]watan.Secret{"kod": "k"}},
			{Name: "x", Kind: watan.ProviderZnet, BaseURL: "https://a.example", Credentials: map[string]watan.Secret{"kod": "k", "sifre": "s", "token": "t"}},
			{Name: "x", Kind: watan.ProviderBarakat, BaseURL: "https://a.example", Credentials: map[string]watan.Secret{"token": ""}},
		} {
			bad.TenantID = b.tenant.ID
			_, err := b.s.CreateProviderAccount(b.ctx, bad)
			wantCode(t, err, watan.ECodeValidation)
		}
		_, err = b.s.FindProviderAccount(b.ctx, b.tenant.ID, 999999)
		wantCode(t, err, watan.ECodeNotFound)
		missing := upd
		missing.ID, missing.Name = 999999, "ghost"
		_, err = b.s.UpdateProviderAccount(b.ctx, missing)
		wantCode(t, err, watan.ECodeNotFound)
		_, err = b.s.CreateProviderAccount(b.ctx, watan.ProviderAccount{TenantID: 999999, Name: "x", Kind: watan.ProviderZnet, BaseURL: "https://a.example",
			Credentials: map[string]watan.Secret{"kod": "k", "sifre": "s"}})
		wantCode(t, err, watan.ECodeNotFound)
	})
}

func TestPackages(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		p, err := b.s.CreatePackage(b.ctx, watan.Package{TenantID: b.tenant.ID, Code: "pubg-60", Name: "PUBG Mobile 60 UC", Price: 99, Currency: "usd", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		if p.ID == 0 || p.Currency != "USD" || p.Routing != (watan.Routing{Mode: watan.RouteManual}) || !p.Active || p.Price != 99 {
			t.Errorf("CreatePackage = %+v", p)
		}
		got, err := b.s.FindPackage(b.ctx, b.tenant.ID, "pubg-60")
		if err != nil || got != p {
			t.Fatalf("FindPackage = %+v, %v; want %+v", got, err, p)
		}
		a := b.pkg(t, b.tenant.ID, "a-first", 10)
		ps, err := b.s.ListPackages(b.ctx, b.tenant.ID)
		if err != nil || len(ps) != 2 || ps[0] != a || ps[1] != p {
			t.Fatalf("ListPackages = %+v, %v; want ordered by code", ps, err)
		}

		prov := b.provider(t, b.tenant.ID, "znet")
		fb := b.provider(t, b.tenant.ID, "barakat")
		group := b.codeGroup(t, b.tenant.ID, "pins")

		// SetRouting for each mode.
		for _, r := range []watan.Routing{
			{Mode: watan.RouteAuto, PrimaryProviderID: prov.ID},
			{Mode: watan.RouteAuto, PrimaryProviderID: prov.ID, FallbackProviderID: fb.ID},
			{Mode: watan.RouteCodes, CodeGroupID: group.ID},
			{Mode: watan.RouteCodes, CodeGroupID: group.ID, FallbackProviderID: prov.ID},
			{Mode: watan.RouteManual},
		} {
			got, err := b.s.SetRouting(b.ctx, b.tenant.ID, "pubg-60", r)
			if err != nil || got.Routing != r {
				t.Fatalf("SetRouting(%+v) = %+v, %v", r, got.Routing, err)
			}
			if found, _ := b.s.FindPackage(b.ctx, b.tenant.ID, "pubg-60"); found.Routing != r {
				t.Fatalf("after SetRouting(%+v): stored %+v", r, found.Routing)
			}
		}
		for _, r := range []watan.Routing{
			{Mode: ""},
			{Mode: "magic"},
			{Mode: watan.RouteAuto},
			{Mode: watan.RouteAuto, PrimaryProviderID: prov.ID, FallbackProviderID: prov.ID},
			{Mode: watan.RouteAuto, PrimaryProviderID: prov.ID, CodeGroupID: group.ID},
			{Mode: watan.RouteAuto, PrimaryProviderID: 999999},
			{Mode: watan.RouteAuto, PrimaryProviderID: prov.ID, FallbackProviderID: 999999},
			{Mode: watan.RouteCodes},
			{Mode: watan.RouteCodes, CodeGroupID: 999999},
			{Mode: watan.RouteCodes, CodeGroupID: group.ID, PrimaryProviderID: prov.ID},
			{Mode: watan.RouteManual, PrimaryProviderID: prov.ID},
		} {
			_, err := b.s.SetRouting(b.ctx, b.tenant.ID, "pubg-60", r)
			wantCode(t, err, watan.ECodeValidation)
		}
		_, err = b.s.SetRouting(b.ctx, b.tenant.ID, "nope", watan.Routing{Mode: watan.RouteManual})
		wantCode(t, err, watan.ECodeNotFound)

		// UpdatePackage keeps the routing unless given one.
		auto := watan.Routing{Mode: watan.RouteAuto, PrimaryProviderID: prov.ID}
		if _, err := b.s.SetRouting(b.ctx, b.tenant.ID, "pubg-60", auto); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(time.Second)
		upd := p
		upd.Code, upd.Price, upd.Active, upd.Routing = "pubg-60uc", 120, false, watan.Routing{}
		u, err := b.s.UpdatePackage(b.ctx, upd)
		if err != nil || u.Code != "pubg-60uc" || u.Price != 120 || u.Active || u.Routing != auto || !u.UpdatedAt.After(u.CreatedAt) {
			t.Fatalf("UpdatePackage = %+v, %v", u, err)
		}
		upd.Routing = watan.Routing{Mode: watan.RouteCodes, CodeGroupID: group.ID}
		if u, err = b.s.UpdatePackage(b.ctx, upd); err != nil || u.Routing != upd.Routing {
			t.Fatalf("UpdatePackage with routing = %+v, %v", u, err)
		}
		upd.Routing = watan.Routing{Mode: watan.RouteAuto}
		_, err = b.s.UpdatePackage(b.ctx, upd)
		wantCode(t, err, watan.ECodeValidation)

		upd.Routing = watan.Routing{}
		upd.Code = "a-first"
		_, err = b.s.UpdatePackage(b.ctx, upd)
		wantCode(t, err, watan.ECodeConflict)
		_, err = b.s.CreatePackage(b.ctx, watan.Package{TenantID: b.tenant.ID, Code: "a-first", Price: 1, Currency: "USD"})
		wantCode(t, err, watan.ECodeConflict)
		missing := upd
		missing.ID, missing.Code = 999999, "ghost"
		_, err = b.s.UpdatePackage(b.ctx, missing)
		wantCode(t, err, watan.ECodeNotFound)
		for _, bad := range []watan.Package{
			{Code: "", Price: 1, Currency: "USD"},
			{Code: "x", Price: -1, Currency: "USD"},
			{Code: "x", Price: watan.MaxAmount + 1, Currency: "USD"},
			{Code: "x", Price: 1, Currency: "dollars"},
			{Code: "x", Price: 1, Currency: "USD", Routing: watan.Routing{Mode: watan.RouteAuto}},
		} {
			bad.TenantID = b.tenant.ID
			_, err := b.s.CreatePackage(b.ctx, bad)
			wantCode(t, err, watan.ECodeValidation)
		}
		_, err = b.s.FindPackage(b.ctx, b.tenant.ID, "nope")
		wantCode(t, err, watan.ECodeNotFound)
	})
}

func TestMappings(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		p := b.pkg(t, b.tenant.ID, "pubg-60", 99)
		z := b.provider(t, b.tenant.ID, "znet")
		k := b.provider(t, b.tenant.ID, "barakat")

		m := watan.Mapping{TenantID: b.tenant.ID, PackageID: p.ID, ProviderAccountID: z.ID, ProductID: "417",
			Params: map[string]string{"oyun": "12", "kupur": "60"}}
		got, err := b.s.PutMapping(b.ctx, m)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("PutMapping = %+v, %v; want %+v", got, err, m)
		}
		m.ProductID, m.Params = "418", map[string]string{"oyun": "13"}
		if got, err = b.s.PutMapping(b.ctx, m); err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("PutMapping replace = %+v, %v; want %+v", got, err, m)
		}
		if got, err = b.s.FindMapping(b.ctx, b.tenant.ID, p.ID, z.ID); err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("FindMapping = %+v, %v; want %+v", got, err, m)
		}
		m2 := watan.Mapping{TenantID: b.tenant.ID, PackageID: p.ID, ProviderAccountID: k.ID, ProductID: "pubg60"}
		if _, err := b.s.PutMapping(b.ctx, m2); err != nil {
			t.Fatal(err)
		}
		ms, err := b.s.ListMappings(b.ctx, b.tenant.ID, p.ID)
		if err != nil || len(ms) != 2 || !reflect.DeepEqual(ms[0], m) || ms[1].ProductID != "pubg60" || len(ms[1].Params) != 0 {
			t.Fatalf("ListMappings = %+v, %v", ms, err)
		}

		_, err = b.s.FindMapping(b.ctx, b.tenant.ID, p.ID, 999999)
		wantCode(t, err, watan.ECodeNotFound)
		_, err = b.s.ListMappings(b.ctx, b.tenant.ID, 999999)
		wantCode(t, err, watan.ECodeNotFound)
		_, err = b.s.PutMapping(b.ctx, watan.Mapping{TenantID: b.tenant.ID, PackageID: 999999, ProviderAccountID: z.ID, ProductID: "1"})
		wantCode(t, err, watan.ECodeNotFound)
		_, err = b.s.PutMapping(b.ctx, watan.Mapping{TenantID: b.tenant.ID, PackageID: p.ID, ProviderAccountID: 999999, ProductID: "1"})
		wantCode(t, err, watan.ECodeNotFound)
		_, err = b.s.PutMapping(b.ctx, watan.Mapping{TenantID: b.tenant.ID, PackageID: p.ID, ProviderAccountID: z.ID})
		wantCode(t, err, watan.ECodeValidation)
	})
}

func TestCodeGroups(t *testing.T) {
	run(t, func(t *testing.T, b *bundle) {
		g := b.codeGroup(t, b.tenant.ID, "PUBG 60")
		if g.ID == 0 || g.Available != 0 || g.Used != 0 {
			t.Errorf("CreateCodeGroup = %+v", g)
		}
		res, err := b.s.ImportCodes(b.ctx, b.tenant.ID, g.ID, []string{"AAA-1", " BBB-2 ", "", "AAA-1", "CCC-3"})
		if err != nil || res != (watan.ImportResult{Added: 3, Skipped: 1}) {
			t.Fatalf("ImportCodes = %+v, %v; want 3 added, 1 skipped", res, err)
		}
		res, err = b.s.ImportCodes(b.ctx, b.tenant.ID, g.ID, []string{"CCC-3", "DDD-4", "BBB-2"})
		if err != nil || res != (watan.ImportResult{Added: 1, Skipped: 2}) {
			t.Fatalf("second ImportCodes = %+v, %v; want 1 added, 2 skipped", res, err)
		}
		got, err := b.s.FindCodeGroup(b.ctx, b.tenant.ID, g.ID)
		if err != nil || got.Available != 4 || got.Used != 0 || got.Name != "PUBG 60" {
			t.Fatalf("FindCodeGroup = %+v, %v; want 4 available", got, err)
		}

		// A code handed to an order counts as used. (Handing out codes is the
		// engine's job; here an order takes one directly.)
		b.account(t, b.tenant.ID, "c1", 1000, 0)
		b.pkg(t, b.tenant.ID, "p", 100)
		o := b.order(t, watan.NewOrder{PackageCode: "p", AccountCode: "c1"})
		if _, err := b.s.DB().ExecContext(b.ctx, `UPDATE code_items SET order_id = $1 WHERE pin = 'AAA-1'`, o.ID); err != nil {
			t.Fatal(err)
		}

		// A large import crosses batch boundaries, with duplicates in every batch.
		big := make([]string, 0, 2400)
		for i := range 2400 {
			big = append(big, fmt.Sprintf("BIG-%05d", i%2000))
		}
		big = append(big, "AAA-1")
		res, err = b.s.ImportCodes(b.ctx, b.tenant.ID, g.ID, big)
		if err != nil || res != (watan.ImportResult{Added: 2000, Skipped: 401}) {
			t.Fatalf("big ImportCodes = %+v, %v; want 2000 added, 401 skipped", res, err)
		}
		g2 := b.codeGroup(t, b.tenant.ID, "other")
		gs, err := b.s.ListCodeGroups(b.ctx, b.tenant.ID)
		if err != nil || len(gs) != 2 || gs[0].ID != g.ID || gs[0].Available != 2003 || gs[0].Used != 1 || gs[1].ID != g2.ID || gs[1].Available != 0 {
			t.Fatalf("ListCodeGroups = %+v, %v", gs, err)
		}
		// The same PIN may exist in two groups.
		if res, err := b.s.ImportCodes(b.ctx, b.tenant.ID, g2.ID, []string{"AAA-1"}); err != nil || res.Added != 1 {
			t.Fatalf("ImportCodes into a second group = %+v, %v", res, err)
		}

		_, err = b.s.CreateCodeGroup(b.ctx, b.tenant.ID, "PUBG 60")
		wantCode(t, err, watan.ECodeConflict)
		_, err = b.s.CreateCodeGroup(b.ctx, b.tenant.ID, "")
		wantCode(t, err, watan.ECodeValidation)
		_, err = b.s.FindCodeGroup(b.ctx, b.tenant.ID, 999999)
		wantCode(t, err, watan.ECodeNotFound)
		_, err = b.s.ImportCodes(b.ctx, b.tenant.ID, 999999, []string{"X"})
		wantCode(t, err, watan.ECodeNotFound)
		_, err = b.s.ImportCodes(b.ctx, b.tenant.ID, g.ID, make([]string, watan.MaxCodesPerBatch+1))
		wantCode(t, err, watan.ECodeValidation)
		_, err = b.s.ImportCodes(b.ctx, b.tenant.ID, g.ID, []string{"ok", "bad\x00pin"})
		wantCode(t, err, watan.ECodeValidation)
		if got, _ := b.s.FindCodeGroup(b.ctx, b.tenant.ID, g.ID); got.Available != 2003 {
			t.Errorf("a failed import changed the stock: %+v", got)
		}
	})
}
