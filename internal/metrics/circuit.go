package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"watan"
	"watan/internal/breaker"
	"watan/internal/engine"
)

// circuitStates are the breaker states in the order of their gauge value.
var circuitStates = []breaker.State{breaker.Closed, breaker.HalfOpen, breaker.Open}

// CircuitChanged implements engine.Observer.
func (m *Metrics) CircuitChanged(kind watan.ProviderKind, providerAccountID int64, from, to string) {
	m.circuitChanges.WithLabelValues(string(kind), strconv.FormatInt(providerAccountID, 10), to).Inc()
}

// WatchCircuits registers a collector that reports, at every scrape, each provider
// account's circuit breaker in this process: its state and the calls and failures
// in its sliding window. src is the engine's Circuits.
func (m *Metrics) WatchCircuits(src func() []engine.CircuitStat) {
	m.reg.MustRegister(circuitCollector(src))
}

var (
	circuitStateDesc = prometheus.NewDesc("watan_provider_circuit_state",
		"Circuit breaker of a provider account in this process: 1 for its current state, 0 for the others.",
		[]string{"provider_kind", "provider_account", "state"}, nil)
	circuitCallsDesc = prometheus.NewDesc("watan_provider_circuit_window_calls",
		"Provider calls in the breaker's sliding window.", []string{"provider_kind", "provider_account"}, nil)
	circuitFailuresDesc = prometheus.NewDesc("watan_provider_circuit_window_failures",
		"Failed provider calls (transient or misconfiguration) in the breaker's sliding window.",
		[]string{"provider_kind", "provider_account", "class"}, nil)
	circuitOpenedDesc = prometheus.NewDesc("watan_provider_circuit_opened",
		"Times the breaker opened since the process started.", []string{"provider_kind", "provider_account"}, nil)
)

type circuitCollector func() []engine.CircuitStat

func (c circuitCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- circuitStateDesc
	ch <- circuitCallsDesc
	ch <- circuitFailuresDesc
	ch <- circuitOpenedDesc
}

func (c circuitCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c() {
		kind, acct := string(s.Kind), strconv.FormatInt(s.ProviderAccountID, 10)
		for _, st := range circuitStates {
			v := 0.0
			if s.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(circuitStateDesc, prometheus.GaugeValue, v, kind, acct, string(st))
		}
		ch <- prometheus.MustNewConstMetric(circuitCallsDesc, prometheus.GaugeValue, float64(s.Counts.Calls), kind, acct)
		ch <- prometheus.MustNewConstMetric(circuitFailuresDesc, prometheus.GaugeValue,
			float64(s.Counts.Failures-s.Counts.Misconfigured), kind, acct, "transient")
		ch <- prometheus.MustNewConstMetric(circuitFailuresDesc, prometheus.GaugeValue,
			float64(s.Counts.Misconfigured), kind, acct, "misconfigured")
		ch <- prometheus.MustNewConstMetric(circuitOpenedDesc, prometheus.CounterValue, float64(s.Counts.Opened), kind, acct)
	}
}
