//go:build race

package engine_test

// raceEnabled shrinks the explorer's bounded run under the race detector, which
// makes every schedule several times slower.
const raceEnabled = true
