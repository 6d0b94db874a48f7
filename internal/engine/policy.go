package engine

import (
	"math/rand/v2"
	"time"

	"watan"
)

// exponentialSteps is the original v1 schedule of checks after the first one.
var exponentialSteps = [...]time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute}

// exponentialCap is the interval once the steps are used up, and the steady
// policy's after steadyFor: an order still pending then is rare and usually stuck.
const (
	exponentialCap = 10 * time.Minute
	steadyFor      = 10 * time.Minute
)

// nextCheckDelay returns the wait before the next status check of an order that has
// been checked checks times and is still pending. Jitter of up to ±10 % keeps orders
// placed together from being checked together forever.
func nextCheckDelay(s watan.ProviderSettings, checks int, rng *rand.Rand) time.Duration {
	var d time.Duration
	switch s.Policy {
	case watan.PollFixed:
		d = s.PollInterval
	case watan.PollSteady, watan.PollAdaptive:
		d = s.PollInterval
		if time.Duration(checks)*s.PollInterval >= steadyFor {
			d = exponentialCap
		}
	default:
		d = exponentialCap
		if i := checks - 1; i >= 0 && i < len(exponentialSteps) {
			d = exponentialSteps[i]
		} else if i < 0 {
			d = exponentialSteps[0]
		}
	}
	return jitter(d, rng)
}

// smallJitter spreads the adaptive policy's planned checks over the 4 % before
// their time: enough that orders placed together are not asked about together,
// and never later than planned, so that the target delay holds.
func smallJitter(d time.Duration, rng *rand.Rand) time.Duration {
	if rng == nil || d <= 0 {
		return d
	}
	spread := int64(d) / 25
	if spread == 0 {
		return d
	}
	return d - time.Duration(rng.Int64N(spread+1))
}

func jitter(d time.Duration, rng *rand.Rand) time.Duration {
	if rng == nil || d <= 0 {
		return d
	}
	spread := int64(d) / 10
	if spread == 0 {
		return d
	}
	return d + time.Duration(rng.Int64N(2*spread+1)-spread)
}

// RetryDelay is the backoff after a failed call (transport error, unreadable
// answer): 5 s doubling to a 5 minute cap. Unlike pending answers these count as
// attempts.
func RetryDelay(failures int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < failures && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}
