package watan

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Amount is money in minor units (cents, kuruş): 1250 is 12.50. Floating point never
// touches money; amounts cross the API as decimal strings with two places.
type Amount int64

// MaxAmount bounds any single amount so that price × quantity and ledger sums cannot
// overflow int64: one trillion in major units.
const MaxAmount Amount = 1_000_000_000_000_00

// ParseAmount parses a decimal such as "12.5", "-3", "0.07" or "1000.00". More than two
// decimal places, exponents, and values beyond MaxAmount are rejected rather than
// rounded, because a silently rounded price is a wrong price.
func ParseAmount(s string) (Amount, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("amount is empty")
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("amount %q is not a number", s)
	}
	if len(frac) > 2 {
		return 0, fmt.Errorf("amount %q has more than two decimal places", s)
	}
	if !allDigits(whole) || !allDigits(frac) || (hasDot && frac == "" && whole == "") {
		return 0, fmt.Errorf("amount %q is not a decimal number", s)
	}
	if len(whole) > 15 {
		return 0, fmt.Errorf("amount %q is too large", s)
	}
	var units int64
	if whole != "" {
		var err error
		if units, err = strconv.ParseInt(whole, 10, 64); err != nil {
			return 0, fmt.Errorf("amount %q: %w", s, err)
		}
	}
	frac += strings.Repeat("0", 2-len(frac))
	cents, _ := strconv.ParseInt(frac, 10, 64)
	a := Amount(units*100 + cents)
	if a > MaxAmount {
		return 0, fmt.Errorf("amount %q is too large", s)
	}
	if neg {
		a = -a
	}
	return a, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats the amount with exactly two decimal places.
func (a Amount) String() string {
	sign := ""
	v := int64(a)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// Mul returns a × n, or false if the product would pass MaxAmount.
func (a Amount) Mul(n int) (Amount, bool) {
	if n < 0 || a < 0 {
		return 0, false
	}
	if n != 0 && a > MaxAmount/Amount(n) {
		return 0, false
	}
	return a * Amount(n), true
}

// MarshalJSON writes the amount as a decimal string, e.g. "12.50".
func (a Amount) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// UnmarshalJSON accepts a decimal string ("12.50") or a JSON number (12.5); both are
// parsed as decimals, never through float64.
func (a *Amount) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := ParseAmount(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}
