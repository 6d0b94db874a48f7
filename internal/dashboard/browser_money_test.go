package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"watan"
	"watan/internal/store"
)

// TestBrowserMoney shows the reports and statement pages in Chromium, desktop
// (1400×900) and phone (390×844), English and Arabic, and leaves screenshots in
// artifacts/ (money-*.png).
func TestBrowserMoney(t *testing.T) {
	exe := chromium(t)
	shots := artifactsDir(t)
	b := setup(t, store.EngineSQLite, bundleOpts{})
	for i := range 3 {
		o := b.order(b.a, pkgManual)
		_, err := b.eng.Approve(b.ctx, b.a.ID, o.ID, watan.OperatorActor(userA), fmt.Sprintf("PIN-%d", i), "")
		b.must(err)
	}
	r := b.order(b.a, pkgManual)
	_, err := b.eng.Reject(b.ctx, b.a.ID, r.ID, watan.OperatorActor(userA), "test")
	b.must(err)
	_, err = b.st.SetExchangeRate(b.ctx, b.a.ID, "USD", 2_870_000, "operator:"+userA)
	b.must(err)
	threshold := watan.Amount(500_00)
	pa := b.znetA
	pa.LowBalanceThreshold, pa.Credentials = &threshold, nil
	_, err = b.st.UpdateProviderAccount(b.ctx, pa)
	b.must(err)
	for _, bal := range []watan.Amount{1200_00, 800_00, 450_00} {
		_, err = b.st.RecordProviderBalance(b.ctx, b.a.ID, pa.ID, bal)
		b.must(err)
	}

	profile, err := os.MkdirTemp("", "watan-chromium-")
	b.must(err)
	defer func() {
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	actx, cancelAlloc := chromedp.NewExecAllocator(b.ctx, chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.UserDataDir(profile), chromedp.WindowSize(1400, 900))
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.CaptureScreenshot(&buf).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, "money-"+name+".png"), buf, 0o644)
		})
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	base := b.srv.URL
	run("sign in",
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(`input[name=password]`),
		chromedp.SendKeys(`input[name=tenant]`, fmt.Sprint(b.a.ID)),
		chromedp.SendKeys(`input[name=name]`, userA),
		chromedp.SendKeys(`input[name=password]`, password),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`.counts`),
	)
	pages := func(lang string) {
		run("pages "+lang,
			chromedp.EmulateViewport(1400, 900),
			chromedp.Navigate(base+"/reports"),
			chromedp.WaitVisible(`.chart.money`),
			shot("reports-"+lang+"-desktop"),
			chromedp.Navigate(base+"/statement?account="+customerID),
			chromedp.WaitVisible(`table.statement`),
			shot("statement-"+lang+"-desktop"),
			chromedp.Navigate(base+"/providers"),
			chromedp.WaitVisible(`[data-low-balance]`),
			chromedp.Click(`details.balances summary`),
			shot("providers-"+lang+"-desktop"),
			chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
			chromedp.Navigate(base+"/reports"),
			chromedp.WaitVisible(`.chart.money`),
			shot("reports-"+lang+"-phone"),
			chromedp.Navigate(base+"/statement?account="+customerID),
			chromedp.WaitVisible(`table.statement`),
			shot("statement-"+lang+"-phone"),
			chromedp.Navigate(base+"/providers"),
			chromedp.WaitVisible(`[data-low-balance]`),
			shot("providers-"+lang+"-phone"),
			chromedp.EmulateViewport(1400, 900),
		)
	}
	pages("en")
	run("switch to Arabic",
		chromedp.Navigate(base+"/reports"),
		chromedp.Click(`#lang-switch`),
		chromedp.WaitVisible(`html[dir="rtl"]`),
	)
	pages("ar")
}
