package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"watan"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

func TestCmdUser(t *testing.T) {
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
	runUser := func(stdin string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
		err := cmdUser(ctx, env, append(args, "--database-url", url))
		return out.String() + errb.String(), err
	}
	tid := "1"
	if tn.ID != 1 {
		t.Fatalf("tenant id %d", tn.ID)
	}
	if _, err := runUser("a long password\n", "create", "--tenant", tid, "--name", "sara", "--password-stdin", "--lang", "ar"); err != nil {
		t.Fatal(err)
	}
	if u, err := st.AuthenticateUser(ctx, tn.ID, "sara", "a long password"); err != nil || u.Lang != "ar" {
		t.Fatalf("sign in with the stdin password: %+v %v", u, err)
	}
	out, err := runUser("", "create", "--tenant", tid, "--name", "omar")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if _, err := st.AuthenticateUser(ctx, tn.ID, "omar", lines[len(lines)-1]); err != nil {
		t.Fatalf("generated password does not sign in: %v\n%s", err, out)
	}
	if _, err := runUser("x\n", "create", "--tenant", tid, "--name", "sara", "--password-stdin"); watan.ErrorCode(err) != watan.ECodeValidation {
		t.Errorf("short password: %v", err)
	}
	if _, err := runUser("", "create", "--tenant", "x", "--name", "n"); err != errUsage {
		t.Errorf("bad tenant: %v", err)
	}
	if _, err := runUser("", "create", "--tenant", "99", "--name", "n"); !watan.IsNotFound(err) {
		t.Errorf("unknown tenant: %v", err)
	}
	if _, err := runUser("", "create", "--tenant", tid, "--name", "layla", "--role", "operator"); err != nil {
		t.Fatal(err)
	}
	out, err = runUser("", "list", "--tenant", tid)
	if err != nil || !strings.Contains(out, "sara") || !strings.Contains(out, "omar") || !strings.Contains(out, "operator") || !strings.Contains(out, "admin") {
		t.Errorf("list: %v\n%s", err, out)
	}

	// After a restart nobody has the demo's password any more: reset-password
	// prints a new one, the old one stops working, and sessions end.
	u, _ := st.AuthenticateUser(ctx, tn.ID, "sara", "a long password")
	sess, err := st.CreateSession(ctx, u, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	out, err = runUser("", "reset-password", "--tenant", tid, "--name", "sara")
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if _, err := st.AuthenticateUser(ctx, tn.ID, "sara", lines[len(lines)-1]); err != nil {
		t.Errorf("reset password does not sign in: %v\n%s", err, out)
	}
	if _, err := st.AuthenticateUser(ctx, tn.ID, "sara", "a long password"); err == nil {
		t.Error("the old password still signs in")
	}
	if _, err := st.FindSession(ctx, sess.Token); err == nil {
		t.Error("a session outlived the password reset")
	}
	if _, err := runUser("", "reset-password", "--tenant", tid, "--name", "nobody"); !watan.IsNotFound(err) {
		t.Errorf("reset-password of an unknown user: %v", err)
	}
}
