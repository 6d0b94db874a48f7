package balanceprobe_test

import (
	"sync"
	"testing"

	"watan"
	"watan/internal/balanceprobe"
	"watan/internal/providers"
	"watan/internal/providertest"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

type observed struct {
	mu   sync.Mutex
	last map[int64]bool
}

func (o *observed) ProviderBalance(id int64, _ watan.Amount, low bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last[id] = low
}

// TestProbeRecordsAndWarnsOnce: balances are recorded over time; falling below the
// threshold raises one low_balance event per crossing and the low metric.
func TestProbeRecordsAndWarnsOnce(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		ctx := t.Context()
		st := storetest.OpenWith(t, storetest.Options{Engine: e})
		z := providertest.StartZnet(t, providertest.ZnetOptions{})
		tn, err := st.CreateTenant(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		threshold := watan.Amount(500_00)
		acct, err := st.CreateProviderAccount(ctx, watan.ProviderAccount{TenantID: tn.ID, Name: "znet", Kind: watan.ProviderZnet,
			BaseURL: z.URL(), Active: true, LowBalanceThreshold: &threshold,
			Credentials: map[string]watan.Secret{"kod": providertest.DefaultZnetKod, "sifre": providertest.DefaultZnetSifre}})
		if err != nil {
			t.Fatal(err)
		}
		obs := &observed{last: map[int64]bool{}}
		p := balanceprobe.New(balanceprobe.Config{Store: st, Providers: providers.New(providers.Config{}), Observer: obs})
		lowEvents := func() int {
			evs, _, err := st.ProviderEvents(ctx, tn.ID, acct.ID, 100, "")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, ev := range evs {
				if ev.Kind == watan.ProviderEventLowBalance {
					n++
				}
			}
			return n
		}
		for i, step := range []struct {
			balance watan.Amount
			low     bool
			events  int
		}{
			{1000_00, false, 0},
			{100_00, true, 1},
			{90_00, true, 1}, // still low: no second event
			{1000_00, false, 1},
			{50_00, true, 2}, // a new crossing
		} {
			z.SetBalance(step.balance)
			if n := p.Once(ctx); n != 1 {
				t.Fatalf("step %d: recorded %d balances", i, n)
			}
			if obs.last[acct.ID] != step.low || lowEvents() != step.events {
				t.Fatalf("step %d (%s): low %v, %d events; want %v, %d", i, step.balance, obs.last[acct.ID], lowEvents(), step.low, step.events)
			}
		}
		h, err := st.ProviderBalanceHistory(ctx, tn.ID, acct.ID, 10)
		if err != nil || len(h) != 5 || h[0].Balance != 50_00 || h[4].Balance != 1000_00 {
			t.Fatalf("history %+v, %v", h, err)
		}
		if _, err := st.ProviderBalanceHistory(ctx, tn.ID+1, acct.ID, 10); err != nil {
			t.Fatal(err)
		} else if other, _ := st.ProviderBalanceHistory(ctx, tn.ID+1, acct.ID, 10); len(other) != 0 {
			t.Errorf("another tenant reads the history: %+v", other)
		}
	})
}
