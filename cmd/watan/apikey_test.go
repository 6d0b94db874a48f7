package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"watan"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

func TestCmdAPIKey(t *testing.T) {
	ctx := context.Background()
	url := storetest.URL(t, store.EngineSQLite)
	st, err := store.Open(ctx, store.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tn, err := st.CreateTenant(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.CreateTenant(ctx, "other shop")
	if err != nil {
		t.Fatal(err)
	}
	runKey := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
		err := cmdAPIKey(ctx, env, append(args, "--database-url", url))
		return out.String() + errb.String(), err
	}
	// lastLine is the plain key that create and rotate print last.
	lastLine := func(out string) string {
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[len(lines)-1]
	}
	tid := fmt.Sprint(tn.ID)

	out, err := runKey("create", "--tenant", tid, "--name", "storefront")
	if err != nil {
		t.Fatal(err)
	}
	plain := lastLine(out)
	k, err := st.AuthenticateAPIKey(ctx, plain)
	if err != nil || k.TenantID != tn.ID || k.Name != "storefront" {
		t.Fatalf("created key authenticates as %+v, %v\n%s", k, err, out)
	}

	out, err = runKey("list", "--tenant", tid)
	if err != nil || !strings.Contains(out, "storefront") || !strings.Contains(out, k.Prefix) || !strings.Contains(out, "LAST USED") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if strings.Contains(out, plain) {
		t.Errorf("list shows the plain key:\n%s", out)
	}

	out, err = runKey("rotate", "--tenant", tid, "--id", fmt.Sprint(k.ID))
	if err != nil {
		t.Fatal(err)
	}
	rotated := lastLine(out)
	if rk, err := st.AuthenticateAPIKey(ctx, rotated); err != nil || rk.Name != "storefront" || rk.ID == k.ID {
		t.Fatalf("rotated key authenticates as %+v, %v\n%s", rk, err, out)
	}
	if _, err := st.AuthenticateAPIKey(ctx, plain); watan.ErrorCode(err) != watan.ECodeUnauthorized {
		t.Errorf("the rotated-out key: %v", err)
	}
	if _, err := runKey("rotate", "--tenant", tid, "--id", fmt.Sprint(k.ID)); watan.ErrorCode(err) != watan.ECodeConflict {
		t.Errorf("rotating a revoked key: %v", err)
	}

	rk, _ := st.AuthenticateAPIKey(ctx, rotated)
	out, err = runKey("revoke", "--tenant", tid, "--id", fmt.Sprint(rk.ID))
	if err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if _, err := st.AuthenticateAPIKey(ctx, rotated); watan.ErrorCode(err) != watan.ECodeUnauthorized {
		t.Errorf("the revoked key: %v", err)
	}
	out, err = runKey("list", "--tenant", tid)
	if err != nil || strings.Count(out, "storefront") != 2 || strings.Count(out, "\n") != 3 {
		t.Errorf("list after rotate and revoke: %v\n%s", err, out)
	}

	// Another tenant's key is not found through this tenant, and stays valid.
	ok, okPlain, err := st.CreateAPIKey(ctx, other.ID, "theirs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runKey("revoke", "--tenant", tid, "--id", fmt.Sprint(ok.ID)); !watan.IsNotFound(err) {
		t.Errorf("revoking another tenant's key: %v", err)
	}
	if _, err := st.AuthenticateAPIKey(ctx, okPlain); err != nil {
		t.Errorf("the other tenant's key: %v", err)
	}

	for _, args := range [][]string{
		{},
		{"delete", "--tenant", tid},
		{"list"},
		{"list", "--tenant", "x"},
		{"revoke", "--tenant", tid},
		{"rotate", "--tenant", tid, "--id", "0"},
		{"revoke", "--tenant", tid, "7"},
	} {
		if _, err := runKey(args...); err != errUsage {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if _, err := runKey("list", "--tenant", "99"); !watan.IsNotFound(err) {
		t.Errorf("unknown tenant: %v", err)
	}
}
