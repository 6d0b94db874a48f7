package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"watan"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// TestMoneyPages: the reports page (table, chart, CSV, rate form) and the statement
// page show the signed-in tenant's figures only, in both languages.
func TestMoneyPages(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, bundleOpts{})
		mine := b.order(b.a, pkgManual)
		b.order(b.b, pkgManual)
		_, err := b.eng.Approve(b.ctx, b.a.ID, mine.ID, watan.OperatorActor(userA), "PIN-1", "")
		b.must(err)
		c := b.client().signIn(b.a, userA)

		st, body := c.get("/reports")
		if st != http.StatusOK || !strings.Contains(body, `class="chart money"`) || !strings.Contains(body, testPrice.String()) {
			t.Fatalf("reports page: %d\n%s", st, body)
		}
		st, body = c.get("/reports?by=account&format=csv")
		if st != http.StatusOK || !strings.HasPrefix(body, "account,label,orders") || !strings.Contains(body, "total,total,1,1,0,0,"+testPrice.String()) {
			t.Fatalf("reports CSV: %d\n%s", st, body)
		}
		if st, _ := c.get("/reports?from=nonsense"); st != http.StatusUnprocessableEntity {
			t.Errorf("bad date: %d", st)
		}

		st, loc, _ := c.post("/rates", url.Values{"currency": {"usd"}, "rate": {"0.0287"}})
		if st != http.StatusSeeOther || loc != "/reports?done=rate" {
			t.Fatalf("set rate: %d %q", st, loc)
		}
		if _, body := c.get("/reports"); !strings.Contains(body, "1 TRY = 0.0287 USD") || !strings.Contains(body, "operator:"+userA) {
			t.Errorf("rate not shown:\n%s", body)
		}
		if st, _, _ := c.post("/rates", url.Values{"currency": {"usd"}, "rate": {"-1"}}); st != http.StatusUnprocessableEntity {
			t.Errorf("bad rate: %d", st)
		}
		if h, _ := b.st.ExchangeRateHistory(b.ctx, b.b.ID, 10); len(h) != 0 {
			t.Errorf("tenant B got A's rate: %+v", h)
		}

		st, body = c.get("/statement?account=" + customerID)
		a, err := b.st.FindAccount(b.ctx, b.a.ID, customerID)
		b.must(err)
		if st != http.StatusOK || !strings.Contains(body, `data-closing>`+a.Balance.String()) || !strings.Contains(body, `data-opening>0.00`) {
			t.Fatalf("statement page: %d\n%s", st, body)
		}
		today := time.Now().UTC().Format(time.DateOnly)
		st, body = c.get("/statement?format=csv&account=" + customerID + "&from=" + today + "&to=" + today)
		if st != http.StatusOK || !strings.Contains(body, "closing,,,"+a.Balance.String()) {
			t.Fatalf("statement CSV: %d\n%s", st, body)
		}
		if st, _ := c.get("/statement?account=nobody"); st != http.StatusNotFound {
			t.Errorf("unknown account: %d", st)
		}

		// The providers page shows recorded balances and a low-balance badge.
		threshold := watan.Amount(500_00)
		pa := b.znetA
		pa.LowBalanceThreshold = &threshold
		pa.Credentials = nil
		_, err = b.st.UpdateProviderAccount(b.ctx, pa)
		b.must(err)
		if _, body := c.get("/providers"); strings.Contains(body, "data-low-balance") {
			t.Error("low-balance badge before any balance was read")
		}
		_, err = b.st.RecordProviderBalance(b.ctx, b.a.ID, pa.ID, 900_00)
		b.must(err)
		_, err = b.st.RecordProviderBalance(b.ctx, b.a.ID, pa.ID, 400_00)
		b.must(err)
		if _, body := c.get("/providers"); !strings.Contains(body, "data-low-balance") || !strings.Contains(body, "900.00") {
			t.Errorf("providers page lacks the low-balance badge or the history:\n%s", body)
		}

		// Arabic.
		if st, _, _ := c.post("/lang", url.Values{"lang": {"ar"}, "return": {"/reports"}}); st != http.StatusSeeOther {
			t.Fatalf("switch to Arabic: %d", st)
		}
		if _, body := c.get("/reports"); !strings.Contains(body, "المبيعات") || !strings.Contains(body, "أسعار الصرف") {
			t.Errorf("Arabic reports page:\n%s", body)
		}
		if _, body := c.get("/statement?account=" + customerID); !strings.Contains(body, "الرصيد الختامي") {
			t.Errorf("Arabic statement page:\n%s", body)
		}
	})
}
