package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"watan/internal/breaker"
)

// TestReadmeConfigTableMatchesFlags: every row of the README's configuration table
// that names a serve flag states that flag's real default and environment
// variable, so the two cannot drift apart.
func TestReadmeConfigTableMatchesFlags(t *testing.T) {
	var help bytes.Buffer
	env := fpEnv(nil, &help, &help)
	_ = run(context.Background(), env, []string{"serve", "--help"})

	// flag.PrintDefaults: "  -name type\n    \tusage [$ENV] (default X)"; a zero
	// default is not printed.
	defaults, envs := map[string]string{}, map[string]string{}
	var name string
	flagLine := regexp.MustCompile(`^  -([a-z-]+)`)
	defLine := regexp.MustCompile(`\(default "?([^")]*)"?\)$`)
	envLine := regexp.MustCompile(`\[\$([A-Z_]+)\]`)
	sc := bufio.NewScanner(&help)
	for sc.Scan() {
		line := sc.Text()
		if m := flagLine.FindStringSubmatch(line); m != nil {
			name = m[1]
			defaults[name] = ""
			continue
		}
		if name == "" {
			continue
		}
		if m := defLine.FindStringSubmatch(line); m != nil {
			defaults[name] = m[1]
		}
		if m := envLine.FindStringSubmatch(line); m != nil {
			envs[name] = m[1]
		}
	}
	if len(defaults) < 10 {
		t.Fatalf("read %d flags from serve --help:\n%s", len(defaults), help.String())
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([A-Z_]+)` \\| `--([a-z-]+)` \\| ([^|]*) \\|")
	checked := 0
	for _, line := range strings.Split(string(readme), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		envName, flagName, doc := m[1], m[2], strings.Trim(strings.TrimSpace(m[3]), "`")
		code, ok := defaults[flagName]
		if !ok {
			continue // a flag of another command
		}
		checked++
		if envs[flagName] != envName {
			t.Errorf("README names $%s for --%s, the flag says $%s", envName, flagName, envs[flagName])
		}
		if !sameDefault(doc, code) {
			t.Errorf("README says --%s defaults to %q, the code to %q", flagName, doc, code)
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d README rows", checked)
	}
}

func sameDefault(doc, code string) bool {
	switch doc {
	case "empty", "unset", "false", "0":
		return code == "" || code == "0" || code == "false"
	}
	if d1, err1 := time.ParseDuration(doc); err1 == nil {
		d2, err2 := time.ParseDuration(code)
		return err2 == nil && d1 == d2
	}
	return doc == code
}

// TestReadmeBreakerDefaults holds the README's description of the circuit breaker
// to breaker.DefaultConfig, so that the thresholds it states are the ones in force.
func TestReadmeBreakerDefaults(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(readme)), " ")
	c := breaker.DefaultConfig()
	for _, want := range []string{
		fmt.Sprintf("It opens after %d misconfiguration signals with no successful call between them", c.MisconfiguredInARow),
		fmt.Sprintf("or %d placements refused with that signal", c.MisconfiguredInARow),
		fmt.Sprintf("after %d failed calls in a row of any kind", c.TransientInARow),
		fmt.Sprintf("when %d %% of at least %d calls in the last %s failed", int(c.FailureRatio*100), c.MinCalls, map[time.Duration]string{time.Minute: "minute"}[c.Window]),
		fmt.Sprintf("After %d s it half-opens: %d real placements go out; %d successful trials close it, %d failed trials open it again for twice as long (up to %d min)",
			int(c.CoolDown.Seconds()), c.Trials, c.Trials, c.Trials, int(c.MaxCoolDown.Minutes())),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README does not say %q", want)
		}
	}
}
