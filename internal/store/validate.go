package store

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"watan"
)

// Input checks shared by the services. They return ECodeValidation errors naming the
// field, in the words an API client needs to fix its request.

// checkText accepts printable UTF-8 of 1..max bytes without surrounding spaces.
func checkText(field, v string, max int) error {
	switch {
	case v == "":
		return watan.Errorf(watan.ECodeValidation, "%s is required", field)
	case len(v) > max:
		return watan.Errorf(watan.ECodeValidation, "%s must be at most %d bytes", field, max)
	case !utf8.ValidString(v):
		return watan.Errorf(watan.ECodeValidation, "%s is not valid UTF-8", field)
	case strings.TrimSpace(v) != v:
		return watan.Errorf(watan.ECodeValidation, "%s must not start or end with spaces", field)
	case strings.ContainsFunc(v, unicode.IsControl):
		return watan.Errorf(watan.ECodeValidation, "%s must not contain control characters", field)
	}
	return nil
}

// checkCode is checkText for identifiers: no invisible text-direction characters.
func checkCode(field, v string) error {
	if err := checkText(field, v, watan.MaxCodeLen); err != nil {
		return err
	}
	return watan.ValidateIdentifier(field, v)
}

func checkName(field, v string) error { return checkText(field, v, watan.MaxNameLen) }

// normCurrency upper-cases an ISO 4217 code and checks its shape, so that "usd" and
// "USD" are one currency when prices and balances are compared.
func normCurrency(v string) (string, error) {
	c := strings.ToUpper(v)
	if len(c) != 3 || strings.ContainsFunc(c, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return "", watan.Errorf(watan.ECodeValidation, "currency %q is not a three-letter code such as USD", v)
	}
	return c, nil
}

func checkAmount(field string, a watan.Amount) error {
	if a < 0 || a > watan.MaxAmount {
		return watan.Errorf(watan.ECodeValidation, "%s must be between 0 and %s", field, watan.MaxAmount)
	}
	return nil
}
