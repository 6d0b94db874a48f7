package watan_test

import (
	"testing"
	"time"

	"watan"
)

func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want watan.Rate
		ok   bool
	}{
		{"34.8765", 3_487_650_000, true},
		{"1", watan.RateScale, true},
		{"0.00000001", 1, true},
		{".5", 50_000_000, true},
		{"0", 0, false},
		{"-1", 0, false},
		{"1.123456789", 0, false},
		{"1e3", 0, false},
		{"", 0, false},
	} {
		got, err := watan.ParseRate(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d, ok %v", c.in, got, err, c.want, c.ok)
		}
		if c.ok && got.String() != map[string]string{".5": "0.5"}[c.in] && got.String() != c.in {
			t.Errorf("Rate(%d).String() = %q, want %q", got, got.String(), c.in)
		}
	}
}

// TestConvertRounding pins the one rounding rule: exact quotient, rounded once to
// the minor unit, halves away from zero.
func TestConvertRounding(t *testing.T) {
	try := watan.Rate(3_487_650_000) // 1 USD = 34.8765 TRY
	eur := watan.Rate(92_000_000)    // 1 USD = 0.92 EUR
	for _, c := range []struct {
		name     string
		a        watan.Amount
		from, to watan.Rate
		want     watan.Amount
	}{
		{"base to TRY, exact", 10000, watan.RateScale, try, 348765},
		{"one cent to TRY: 34.8765 rounds up", 1, watan.RateScale, try, 35},
		{"TRY to base: 2867.26 rounds down", 100000, try, watan.RateScale, 2867},
		{"45.50 TRY to base: 130.46 cents", 4550, try, watan.RateScale, 130},
		{"0.17 TRY to base: 0.49 cent rounds to 0", 17, try, watan.RateScale, 0},
		{"a half rounds up", 1, watan.RateScale, 250_000_000, 3},
		{"another half", 3, watan.RateScale, 50_000_000, 2},
		{"a negative half rounds away from zero", -1, watan.RateScale, 250_000_000, -3},
		{"EUR to TRY through the base, rounded once", 1000, eur, try, 37909},
		{"same rate", 12345, try, try, 12345},
	} {
		got, err := watan.Convert(c.a, c.from, c.to)
		if err != nil || got != c.want {
			t.Errorf("%s: Convert(%d, %d, %d) = %d, %v; want %d", c.name, c.a, c.from, c.to, got, err, c.want)
		}
	}
	if _, err := watan.Convert(watan.MaxAmount, 1, watan.MaxRate); err == nil {
		t.Error("Convert overflowed silently")
	}
}

func TestRatesConvertAndFreeze(t *testing.T) {
	r := watan.Rates{Base: "USD", Rates: map[string]watan.Rate{"TRY": 3_487_650_000}}
	if got, err := r.Convert(4550, "TRY", "USD"); err != nil || got != 130 {
		t.Errorf("Convert TRY→USD = %d, %v; want 130", got, err)
	}
	if _, err := r.Convert(100, "EUR", "USD"); watan.ErrorCode(err) != watan.ECodeNoExchangeRate {
		t.Errorf("Convert from a currency without a rate: %v, want no_exchange_rate", err)
	}
	s, err := watan.Freeze(r, 4550, "TRY", 3300, "TRY", timeZero)
	if err != nil || s.Sell != 130 || s.Cost != 95 || s.Profit != 35 || s.SellRate != 3_487_650_000 || s.BaseCurrency != "USD" {
		t.Errorf("Freeze = %+v, %v", s, err)
	}
	if s, err := watan.Freeze(r, 100, "USD", 0, "", timeZero); err != nil || s.Sell != 100 || s.Cost != 0 || s.CostRate != watan.RateScale {
		t.Errorf("Freeze without cost = %+v, %v", s, err)
	}
}

var timeZero = time.Time{}
