package main

import (
	"encoding/json"
	"strings"
	"testing"

	"watan/internal/store"
	"watan/internal/store/storetest"
)

// TestBenchRuns runs every scenario of "watan bench" briefly on each engine, to keep
// the command working; the figures themselves are not asserted (speed is measured,
// never tested).
func TestBenchRuns(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		stdout, stderr := &fpBuffer{}, &fpBuffer{}
		err := cmdBench(t.Context(), fpEnv(nil, stdout, stderr), []string{"--database-url", storetest.URL(t, e), "--json",
			"--orders", "40", "--batch-pending", "30", "--rate", "200", "--e2e-rate", "100", "--duration", "20s", "--idle-duration", "1s",
			// Two tiny capacity steps on a short interval, simulators in this process.
			"--capacity-steps", "20,40", "--capacity-interval", "1s", "--capacity-window", "2s", "--capacity-sim", "inproc"})
		if err != nil {
			t.Fatalf("bench: %v\nstderr: %s", err, stderr.String())
		}
		t.Logf("bench output:\n%s", stdout.String())
		var rs []benchResult
		if err := json.Unmarshal([]byte(stdout.String()), &rs); err != nil {
			t.Fatalf("bench --json printed %q: %v", stdout.String(), err)
		}
		seen := map[string]int{}
		for _, r := range rs {
			seen[r.Scenario]++
			if r.Scenario == "idle" {
				if r.ProcessCPUPercent == nil || r.MachineCPUPercent == nil {
					t.Errorf("idle: no CPU figures: %+v", r)
				}
				continue
			}
			if r.Orders > 0 && r.Scenario != "monitor" && (r.MachineCPUms == nil) != (r.ProcessCPUms == nil) {
				t.Errorf("%s %s: CPU per order only in part: %+v", r.Scenario, r.Phase, r)
			}
			if r.Scenario == "capacity" {
				// Whether a step kept up depends on the machine's speed, which
				// is measured, not tested; that the orders were made is tested.
				if c := r.Capacity; r.Phase != "reached" && (c == nil || c.Created == 0 || c.CreateErrors > 0 ||
					c.Sent != c.Pending || c.LiveCheckJobs != c.Pending) {
					t.Errorf("capacity %s: figures %+v (%s)", r.Phase, c, r.Note)
				}
				continue
			}
			if r.Errors > 0 && r.Scenario != "monitor" {
				t.Errorf("%s %s: %d errors (%s)", r.Scenario, r.Phase, r.Errors, r.Note)
			}
			if r.Orders == 0 || strings.Contains(r.Note, "pending") || strings.Contains(r.Note, "bound") {
				t.Errorf("%s %s: %d orders (%s)", r.Scenario, r.Phase, r.Orders, r.Note)
			}
		}
		if seen["intake"] != 3 || seen["e2e"] != 4 || seen["monitor"] != len(monitorPolicies)+2 || seen["idle"] != 2 || seen["capacity"] < 2 {
			t.Errorf("results per scenario: %v", seen)
		}
	})
}
