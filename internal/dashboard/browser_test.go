package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"
	"riverqueue.com/riverui"

	"watan"
	"watan/internal/dashboard"
	"watan/internal/engine"
	"watan/internal/providertest"
	"watan/internal/store"
)

// chromium finds a Chromium to drive. Without one the browser test is skipped,
// except under CI (CI set), where a missing browser is a failure: .ci/run installs
// it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("browser test: chromium is not installed (apt-get install -y chromium) and CI is set")
	}
	t.Skip("browser test skipped: chromium is not installed (apt-get install -y chromium); under CI this is a failure")
	return ""
}

// artifactsDir is the repository's artifacts/ directory (gitignored), where the
// browser test leaves its screenshots.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "artifacts", "dashboard")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBrowser drives the dashboard in headless Chromium against the real handler,
// with River's workers running: an order reaches approved with its PIN on the open
// page without a reload, a rejected order shows its refund on the timeline, the
// Arabic pages are right to left, and the security page and a locked-out sign-in
// read well on a desktop and a phone in both languages.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	shots := artifactsDir(t)
	// The simulator takes a moment, so that the page first shows the order pending.
	uiCtx, stopUI := context.WithCancel(context.Background())
	defer stopUI()
	b := setup(t, store.EngineSQLite, bundleOpts{
		znet: providertest.ZnetOptions{Options: providertest.Options{Delay: providertest.FixedDelay(1500 * time.Millisecond)}},
		configure: func(b *bundle, cfg *dashboard.Config) {
			// River's UI behind the same sign-in, as serve mounts it.
			ui, err := riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(b.q.Client(), nil), Logger: testLogger(), Prefix: dashboard.JobsPrefix})
			b.must(err)
			b.must(ui.Start(uiCtx))
			cfg.Jobs, cfg.PollInterval = ui, 500*time.Millisecond
		},
	})

	qctx, stopQueue := context.WithCancel(b.ctx)
	b.must(b.q.Start(qctx, b.eng))
	defer func() {
		stopQueue()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.q.Stop(ctx)
	}()

	// A fresh profile, removed by hand: Chromium's helper processes may still write
	// to it for a moment after the browser exits, which t.TempDir's cleanup fails on.
	profile, err := os.MkdirTemp("", "watan-chromium-")
	b.must(err)
	defer func() {
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("could not remove the browser profile %s", profile)
	}()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1200),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(b.ctx, opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute) // generous: a loaded machine, two browser tests
	defer cancelTimeout()

	// A colleague locked out a few minutes ago, on a clock of its own so that the
	// delays before the lockout need no waiting; the lockout lasts beyond the test.
	lockedUser := b.seedSignIns(time.Now().Add(-12 * time.Minute))

	base := b.srv.URL
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			// The viewport only: a full-page capture of a right-to-left page comes
			// out shifted in Chromium.
			if err := chromedp.CaptureScreenshot(&buf).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}

	run("sign in",
		chromedp.Navigate(base+"/orders"),
		chromedp.WaitVisible(`input[name=password]`),
		shot("01-signin"),
		chromedp.SendKeys(`input[name=tenant]`, fmt.Sprint(b.a.ID)),
		chromedp.SendKeys(`input[name=name]`, userA),
		chromedp.SendKeys(`input[name=password]`, password),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`form.filters`), // back on /orders, where it started
	)

	// An order placed through the store as the API does; the page is opened while
	// it is pending and must follow it to approved without a reload.
	o := b.order(b.a, pkgZnet)
	var marker, pin, status string
	run("watch an order reach approved",
		chromedp.Navigate(fmt.Sprintf("%s/orders/%d", base, o.ID)),
		chromedp.WaitVisible(`section.order`),
		chromedp.Evaluate(`window.__noReload = "still here"; true`, nil),
		chromedp.WaitVisible(`section.order[data-status="approved"]`),
		chromedp.Poll(`document.getElementById("pin").textContent.length > 0`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Evaluate(`window.__noReload || ""`, &marker),
		chromedp.Text(`#pin`, &pin),
		chromedp.Text(`section.order [data-field=status]`, &status),
		shot("02-order-approved"),
	)
	got := b.get(b.a, o.ID)
	if marker != "still here" {
		t.Error("the page reloaded to show the change")
	}
	if got.Status != watan.StatusApproved || pin != got.PIN || !strings.EqualFold(status, "approved") {
		t.Errorf("page shows %q with PIN %q; order is %s with PIN %q", status, pin, got.Status, got.PIN)
	}

	m := b.order(b.a, pkgManual)
	var timeline string
	run("reject with a note",
		chromedp.Navigate(fmt.Sprintf("%s/orders/%d", base, m.ID)),
		chromedp.WaitVisible(`#reject-note`),
		chromedp.SendKeys(`#reject-note`, "player id does not exist"),
		chromedp.Click(`#reject`),
		chromedp.WaitVisible(`p.flash`),
		chromedp.Poll(`document.getElementById("timeline").textContent.includes("refund")`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Text(`#timeline`, &timeline),
		chromedp.ScrollIntoView(`#timeline`),
		shot("03-order-rejected"),
	)
	if !strings.Contains(timeline, "player id does not exist") || !strings.Contains(timeline, "Operator "+userA) {
		t.Errorf("timeline lacks the note or the operator:\n%s", timeline)
	}

	var dir, lang string
	run("switch to Arabic",
		chromedp.Navigate(base+"/orders"),
		chromedp.WaitVisible(`#lang-switch`),
		chromedp.Click(`#lang-switch`),
		chromedp.WaitVisible(`html[dir="rtl"]`),
		chromedp.AttributeValue(`html`, "dir", &dir, nil),
		chromedp.AttributeValue(`html`, "lang", &lang, nil),
		shot("04-orders-ar"),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`.counts`),
		shot("05-overview-ar"),
		chromedp.Navigate(base+"/providers"),
		chromedp.WaitVisible(`table`),
		shot("06-providers-ar"),
	)
	if dir != "rtl" || lang != "ar" {
		t.Errorf("Arabic page has dir=%q lang=%q", dir, lang)
	}

	var title string
	run("River's UI behind sign-in",
		chromedp.Navigate(base+dashboard.JobsPrefix+"/jobs?state=completed"),
		// The UI lists the jobs it read through its API: the orders' dispatch jobs.
		chromedp.Poll(`document.body.innerText.includes("`+engine.KindDispatch+`")`, nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Title(&title),
		// And a way back to the dashboard.
		chromedp.WaitVisible(`#watan-back`),
		shot("07-jobs"),
	)
	if !strings.Contains(strings.ToLower(title), "river") {
		t.Errorf("jobs UI title %q", title)
	}

	// The user is in Arabic now; the phone is an iPhone 12's CSS viewport.
	var events, dirAfter string
	run("security page",
		chromedp.Navigate(base+"/security"),
		chromedp.WaitVisible(`table.events`),
		shot("08-security-ar"),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.WaitVisible(`table.events`),
		shot("09-security-ar-phone"),
		chromedp.Click(`#lang-switch`),
		chromedp.WaitVisible(`html[dir="ltr"]`),
		chromedp.WaitVisible(`table.events`),
		shot("10-security-en-phone"),
		// Back to the window's own viewport (EmulateReset leaves the phone's
		// layout in the next capture).
		chromedp.EmulateViewport(1280, 1057),
		chromedp.WaitVisible(`table.events`),
		chromedp.Text(`table.events`, &events),
		shot("11-security-en"),
	)
	for _, want := range []string{"locked out", lockedUser, "203.0.113.66", "2001:db8:5::17", "signed in", "127.0.0.1"} {
		// The badges are capitalised by CSS, which innerText reflects.
		if !strings.Contains(strings.ToLower(events), strings.ToLower(want)) {
			t.Errorf("security page lacks %q:\n%s", want, events)
		}
	}

	// The providers page with a paused account, its reason and its timeline, on a
	// desk and on a phone, in both languages.
	b.must(b.eng.PauseProvider(b.ctx, b.a.ID, b.znetA.ID, "provider maintenance tonight (ref 42)", watan.OperatorActor(userA)))
	run("providers page",
		chromedp.Navigate(base+"/providers"),
		chromedp.WaitVisible(`td[data-circuit]`),
		chromedp.Click(`tr.provider-events summary`),
		shot("14-providers-en"),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(base+"/providers"),
		chromedp.WaitVisible(`td[data-circuit]`),
		shot("15-providers-en-phone"),
		chromedp.Click(`#lang-switch`),
		chromedp.WaitVisible(`html[dir="rtl"]`),
		chromedp.WaitVisible(`td[data-circuit]`),
		chromedp.Click(`tr.provider-events summary`),
		shot("16-providers-ar-phone"),
		chromedp.Click(`#lang-switch`),
		chromedp.WaitVisible(`html[dir="ltr"]`),
		chromedp.EmulateViewport(1280, 1057),
	)

	var refusal string
	run("locked-out sign-in",
		chromedp.Click(`form[action="/signout"] button`),
		chromedp.WaitVisible(`input[name=password]`),
		chromedp.SendKeys(`input[name=tenant]`, fmt.Sprint(b.a.ID)),
		chromedp.SendKeys(`input[name=name]`, lockedUser),
		chromedp.SendKeys(`input[name=password]`, password),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`p.error`),
		chromedp.Text(`p.error`, &refusal),
		shot("12-signin-locked-en"),
		// An Arabic browser on a phone, the same attempt.
		network.SetExtraHTTPHeaders(network.Headers{"Accept-Language": "ar"}),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(`html[dir="rtl"]`),
		chromedp.SendKeys(`input[name=tenant]`, fmt.Sprint(b.a.ID)),
		chromedp.SendKeys(`input[name=name]`, lockedUser),
		chromedp.SendKeys(`input[name=password]`, password),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`p.error`),
		chromedp.AttributeValue(`html`, "dir", &dirAfter, nil),
		shot("13-signin-locked-ar-phone"),
	)
	if !strings.HasPrefix(refusal, "Too many attempts; try again in ") || !strings.HasSuffix(refusal, " min.") || dirAfter != "rtl" {
		t.Errorf("locked-out sign-in says %q (dir %q)", refusal, dirAfter)
	}
}

// seedSignIns records sign-in events of tenant A through a second store on the same
// database, on a clock starting at start: a success, two failures of a name that
// does not exist (in Arabic, from IPv6), and a user locked out after waiting out
// every delay. It returns the locked-out user's name.
func (b *bundle) seedSignIns(start time.Time) string {
	b.t.Helper()
	const name = "layla"
	clock := providertest.NewManualClock(start)
	st, err := store.Open(b.ctx, store.Config{URL: b.url, Clock: clock})
	b.must(err)
	defer st.Close()
	_, err = st.CreateUserWithCost(b.ctx, b.a.ID, name, password, "ar", bcrypt.MinCost)
	b.must(err)
	try := func(user, pw, addr string) error {
		_, err := st.SignIn(b.ctx, store.SignInAttempt{TenantID: b.a.ID, Name: user, Password: pw, Address: addr})
		return err
	}
	b.must(try(name, password, "198.51.100.23"))
	clock.Advance(time.Minute)
	for range 2 {
		if err := try("مدير", "password", "2001:db8:5::17"); watan.ErrorCode(err) != watan.ECodeUnauthorized {
			b.t.Fatalf("seed failure: %v", err)
		}
		clock.Advance(20 * time.Second)
	}
	for failed := 0; failed < store.SignInLockAfter; {
		err := try(name, "wrong password", "203.0.113.66")
		if te, ok := errors.AsType[*store.ThrottledError](err); ok {
			clock.Advance(te.Wait)
			continue
		}
		if watan.ErrorCode(err) != watan.ECodeUnauthorized {
			b.t.Fatalf("seed failure: %v", err)
		}
		failed++
	}
	return name
}
