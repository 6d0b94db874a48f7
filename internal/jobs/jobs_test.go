package jobs

import (
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"watan/internal/engine"
)

func TestResultTurnsStepsIntoRiverOutcomes(t *testing.T) {
	if err := result(engine.Next{}, nil); err != nil {
		t.Fatalf("done step: %v", err)
	}
	var snooze *river.JobSnoozeError
	if err := result(engine.Next{After: 30 * time.Second}, nil); !errors.As(err, &snooze) || snooze.Duration != 30*time.Second {
		t.Fatalf("waiting step: %v, want a 30 s snooze (which uses no attempt)", err)
	}
	boom := errors.New("provider down")
	if err := result(engine.Next{After: time.Minute}, boom); !errors.Is(err, boom) {
		t.Fatalf("failed step: %v, want the error so River retries with backoff", err)
	}
}

func TestBackoffGrowsToItsCap(t *testing.T) {
	prev := time.Duration(0)
	for attempt := 1; attempt <= 12; attempt++ {
		d := time.Until(backoff(engine.RetryDelay).NextRetry(&rivertype.JobRow{Attempt: attempt}))
		if d < prev-time.Second || d > 5*time.Minute+time.Second {
			t.Fatalf("attempt %d: retry in %v (previous %v)", attempt, d, prev)
		}
		prev = d
	}
	if prev < 5*time.Minute-time.Second {
		t.Fatalf("backoff after 12 attempts is %v, want the 5 minute cap", prev)
	}
}

func TestJobsAreUniquePerOrderWhileLive(t *testing.T) {
	for _, opts := range []river.InsertOpts{DispatchArgs{}.InsertOpts(), CheckArgs{}.InsertOpts()} {
		if !opts.UniqueOpts.ByArgs {
			t.Fatalf("%s jobs are not unique by order", opts.Queue)
		}
		for _, s := range []rivertype.JobState{rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable} {
			found := false
			for _, x := range opts.UniqueOpts.ByState {
				found = found || x == s
			}
			if !found {
				t.Fatalf("%s jobs are not unique while %s", opts.Queue, s)
			}
		}
	}
}
