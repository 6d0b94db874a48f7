package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"watan/internal/engine"
)

// WatchCompletions registers a collector that reports, at every scrape, what the
// adaptive polling policy learned in this process of each provider account's
// completion times (src is the engine's Completions).
func (m *Metrics) WatchCompletions(src func() []engine.CompletionStat) {
	m.reg.MustRegister(completionCollector(src))
}

var (
	completionQuantileDesc = prometheus.NewDesc("watan_provider_completion_seconds",
		"Learned time from sending to completion of a provider account's recent orders (the last 256 in this process), by quantile.",
		[]string{"provider_account", "quantile"}, nil)
	completionSamplesDesc = prometheus.NewDesc("watan_provider_completion_samples",
		"Completions the adaptive policy's quantiles are computed from (it adapts from 50 on).",
		[]string{"provider_account"}, nil)
)

type completionCollector func() []engine.CompletionStat

func (c completionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- completionQuantileDesc
	ch <- completionSamplesDesc
}

func (c completionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c() {
		acct := strconv.FormatInt(s.ProviderAccountID, 10)
		ch <- prometheus.MustNewConstMetric(completionSamplesDesc, prometheus.GaugeValue, float64(s.Samples), acct)
		for _, q := range []struct {
			label string
			v     float64
		}{{"0.5", s.P50.Seconds()}, {"0.9", s.P90.Seconds()}, {"0.99", s.P99.Seconds()}} {
			ch <- prometheus.MustNewConstMetric(completionQuantileDesc, prometheus.GaugeValue, q.v, acct, q.label)
		}
	}
}
