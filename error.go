package watan

import (
	"errors"
	"fmt"
)

// Error codes are stable, machine-readable identifiers returned to API clients. The
// HTTP layer maps each to a status in one table; adding a code means adding it there
// and to the OpenAPI document.
const (
	ECodeBadRequest          = "bad_request"          // malformed body: bad JSON, unknown field, wrong type
	ECodeValidation          = "validation_failed"    // well-formed but invalid field values
	ECodeUnauthorized        = "unauthorized"         // missing or unknown credentials
	ECodeNotFound            = "not_found"            // no such thing for this tenant
	ECodeConflict            = "conflict"             // clashes with existing state (duplicate code, ...)
	ECodeInvalidTransition   = "invalid_transition"   // the order's state forbids this change
	ECodeInsufficientBalance = "insufficient_balance" // the debit would pass the overdraft limit
	ECodeUnknownPackage      = "unknown_package"      // no package with that code
	ECodePackageInactive     = "package_inactive"     // the package exists but is not on sale
	ECodeUnknownAccount      = "unknown_account"      // no customer account with that code
	ECodeNoExchangeRate      = "no_exchange_rate"     // a conversion needs a rate the tenant has not set
	ECodeTooLarge            = "payload_too_large"    // request body over the limit
	ECodeRateLimited         = "rate_limited"         // too many requests from this client; retry after Retry-After
	ECodeUnavailable         = "unavailable"          // temporarily unable to serve; retry
	ECodeInternal            = "internal"             // a bug or an infrastructure failure
)

// ErrorCodes lists every code, for documentation and for tests that check coverage.
var ErrorCodes = []string{
	ECodeBadRequest, ECodeValidation, ECodeUnauthorized, ECodeNotFound, ECodeConflict,
	ECodeInvalidTransition, ECodeInsufficientBalance, ECodeUnknownPackage, ECodePackageInactive,
	ECodeUnknownAccount, ECodeNoExchangeRate, ECodeTooLarge, ECodeRateLimited, ECodeUnavailable, ECodeInternal,
}

// Error is a failure the caller can act on: Code is stable and machine-readable,
// Message is for a human and never contains secrets. Errors that are not *Error are
// internal failures and are reported to clients as ECodeInternal without detail.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, ECodeInternal for any
// other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return ECodeInternal
}

// ErrorMessage returns the human message of the first *Error in err's chain, or a
// generic text for internal errors so that their details never reach a client.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "internal error"
}

// ErrOrderChanged says that an order was written by someone else since it was read,
// so a change computed from that reading was not saved.
var ErrOrderChanged = errors.New("order changed since it was read")

// IsNotFound reports whether err says that the thing asked for does not exist.
func IsNotFound(err error) bool { return ErrorCode(err) == ECodeNotFound }
