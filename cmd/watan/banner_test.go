package main

import (
	"bytes"
	"strings"
	"testing"

	"watan"
	"watan/internal/demo"
	"watan/internal/store"
)

// The banner names the tenant with the sign-in, links the job UI only when it is
// served, and after a restart says how to get a password again.
func TestBanner(t *testing.T) {
	banner := func(seeded *demo.Result, jobs bool, tenants []watan.Tenant) string {
		var out bytes.Buffer
		printBanner(&Env{Stdout: &out}, "http://127.0.0.1:8080", store.EngineSQLite, seeded, jobs, tenants)
		return out.String()
	}
	one := []watan.Tenant{{ID: 7, Name: "demo"}}
	first := banner(&demo.Result{Tenant: one[0], Operator: "demo", OperatorPassword: "PW"}, true, one)
	for _, want := range []string{"(jobs: http://127.0.0.1:8080/admin/jobs/)", "dashboard sign-in: tenant 7, name demo, password PW", "watan user reset-password --tenant 7 --name demo"} {
		if !strings.Contains(first, want) {
			t.Errorf("first start's banner lacks %q:\n%s", want, first)
		}
	}
	later := banner(nil, false, append(one, watan.Tenant{ID: 8}))
	if strings.Contains(later, "/admin/jobs") {
		t.Errorf("banner links the job UI that is not served:\n%s", later)
	}
	if !strings.Contains(later, "watan user reset-password --tenant ID --name NAME") {
		t.Errorf("banner after a restart says nothing of passwords:\n%s", later)
	}
	if again := banner(nil, true, one); !strings.Contains(again, "sign-in: tenant 7,") || !strings.Contains(again, "reset-password --tenant 7 ") {
		t.Errorf("single tenant's banner after a restart:\n%s", again)
	}
}
