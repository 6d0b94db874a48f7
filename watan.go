// Package watan is the domain of the watan order engine: tenants, accounts and their
// ledgers, the catalog and its routing, orders and their timelines, the order status
// machine, and the interface every upstream provider client implements.
//
// It depends on the standard library only. Storage, HTTP, provider clients and the job
// queue live in their own packages under internal/ and are wired together in cmd/watan.
package watan

import "time"

// Clock tells the time. Production code uses SystemClock; tests inject a fake so that
// deadlines and backoff can be exercised without sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// Actor names who did something to an order, for the audit trail.
type Actor string

// Well-known actors. Operators are recorded as "operator:<name>" (see OperatorActor).
const (
	ActorSystem Actor = "system"
	ActorAPI    Actor = "api"
)

// OperatorActor is the actor recorded for an operator's action.
func OperatorActor(name string) Actor { return Actor(operatorPrefix + name) }

const operatorPrefix = "operator:"

// IsOperator reports whether a is an operator. Only operators may reverse a final
// status; an empty or unknown actor never can.
func (a Actor) IsOperator() bool {
	return len(a) > len(operatorPrefix) && string(a[:len(operatorPrefix)]) == operatorPrefix
}
