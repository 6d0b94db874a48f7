package watan_test

import (
	"encoding/json"
	"testing"

	"watan"
)

func TestParseAmount(t *testing.T) {
	for _, c := range []struct {
		in   string
		want watan.Amount
	}{
		{"12.5", 1250},
		{"12.50", 1250},
		{"-3", -300},
		{"+3", 300},
		{"0.07", 7},
		{".5", 50},
		{"5.", 500},
		{"0", 0},
		{"-0.01", -1},
		{" 1000.00 ", 100000},
		{"1000000000000", watan.MaxAmount},
		{"-1000000000000.00", -watan.MaxAmount},
	} {
		got, err := watan.ParseAmount(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{
		"", " ", ".", "-", "+", "--1", "1.234", "0.001", "1e3", "1,5", "12.5.0", "abc", "1 000",
		"0x10", "١٢", "1000000000000.01", "-1000000000000.01", "9999999999999999", "NaN", "Inf",
	} {
		if got, err := watan.ParseAmount(in); err == nil {
			t.Errorf("ParseAmount(%q) = %d, want an error", in, got)
		}
	}
}

func TestAmountString(t *testing.T) {
	for _, c := range []struct {
		a    watan.Amount
		want string
	}{
		{0, "0.00"}, {1, "0.01"}, {-1, "-0.01"}, {-5, "-0.05"}, {1250, "12.50"}, {-1250, "-12.50"},
		{100000, "1000.00"}, {watan.MaxAmount, "1000000000000.00"},
	} {
		if got := c.a.String(); got != c.want {
			t.Errorf("Amount(%d).String() = %q, want %q", c.a, got, c.want)
		}
		if back, err := watan.ParseAmount(c.want); err != nil || back != c.a {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", c.want, back, err, c.a)
		}
	}
}

func TestAmountMul(t *testing.T) {
	for _, c := range []struct {
		a    watan.Amount
		n    int
		want watan.Amount
		ok   bool
	}{
		{199, 3, 597, true},
		{199, 0, 0, true},
		{0, 1000, 0, true},
		{watan.MaxAmount, 1, watan.MaxAmount, true},
		{watan.MaxAmount / 4, 4, watan.MaxAmount, true},
		{watan.MaxAmount, 2, 0, false},
		{watan.MaxAmount/4 + 1, 4, 0, false},
		{100, -1, 0, false},
		{-100, 2, 0, false},
	} {
		got, ok := c.a.Mul(c.n)
		if got != c.want || ok != c.ok {
			t.Errorf("Amount(%d).Mul(%d) = %d, %v; want %d, %v", c.a, c.n, got, ok, c.want, c.ok)
		}
	}
}

func TestAmountJSON(t *testing.T) {
	b, err := json.Marshal(struct {
		Price watan.Amount `json:"price"`
	}{1250})
	if err != nil || string(b) != `{"price":"12.50"}` {
		t.Errorf("Marshal = %s, %v; want {\"price\":\"12.50\"}", b, err)
	}
	for _, c := range []struct {
		in   string
		want watan.Amount
	}{
		{`"12.50"`, 1250}, {`12.5`, 1250}, {`12`, 1200}, {`"-0.07"`, -7}, {`0.1`, 10},
	} {
		var a watan.Amount
		if err := json.Unmarshal([]byte(c.in), &a); err != nil || a != c.want {
			t.Errorf("Unmarshal(%s) = %d, %v; want %d", c.in, a, err, c.want)
		}
	}
	for _, in := range []string{`"12.345"`, `1e3`, `"abc"`, `true`, `""`, `"1,5"`, `12.345`} {
		var a watan.Amount
		if err := json.Unmarshal([]byte(in), &a); err == nil {
			t.Errorf("Unmarshal(%s) = %d, want an error", in, a)
		}
	}
}

// FuzzParseAmount checks that whatever ParseAmount accepts is within bounds and
// survives a round trip through String.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"12.5", "-3", "0.07", ".5", "1000000000000", "1e3", "--1", "+0.00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := watan.ParseAmount(s)
		if err != nil {
			return
		}
		if a > watan.MaxAmount || a < -watan.MaxAmount {
			t.Fatalf("ParseAmount(%q) = %d, out of bounds", s, a)
		}
		back, err := watan.ParseAmount(a.String())
		if err != nil || back != a {
			t.Fatalf("ParseAmount(%q) = %d, but %q parses to %d, %v", s, a, a.String(), back, err)
		}
	})
}
