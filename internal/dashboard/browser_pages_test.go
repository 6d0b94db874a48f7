package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"watan"
	"watan/internal/dashboard"
	"watan/internal/providertest"
	"watan/internal/store"
)

// TestBrowserPages opens every page in headless Chromium on a desk (1400×900) and
// on a phone (390×844), in English and in Arabic, and checks what an operator
// would: nothing scrolls sideways (at 360 px too), the page's direction, no
// English left on an Arabic page outside isolated data, a mixed Arabic/Latin note
// read back in logical order inside its isolation, the chart running right to
// left in Arabic, and a new order arriving on an open list without moving the
// operator's place or losing their selection. Screenshots of every page land in
// artifacts/dashboard/.
func TestBrowserPages(t *testing.T) {
	exe := chromium(t)
	shots := artifactsDir(t)
	b := setup(t, store.EngineSQLite, bundleOpts{
		znet: providertest.ZnetOptions{Options: providertest.Options{Delay: providertest.FixedDelay(200 * time.Millisecond)}},
		configure: func(b *bundle, cfg *dashboard.Config) {
			cfg.PollInterval = 300 * time.Millisecond
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

	// Orders in every state: delivered by the provider, approved by hand with a
	// PIN, rejected with a note mixing Arabic and Latin, pending with an operator.
	var delivered []watan.Order
	for range 3 {
		delivered = append(delivered, b.order(b.a, pkgZnet))
	}
	op := watan.OperatorActor(userA)
	byHand := b.order(b.a, pkgManual)
	const note = "تم الشحن يدويًا - ref 77"
	rejected := b.order(b.a, pkgManual)
	pending := b.order(b.a, pkgManual)
	_ = pending
	waitFor(t, func() bool {
		for _, o := range append(delivered, byHand, rejected) {
			if b.get(b.a, o.ID).ProviderState == watan.StateNotSent {
				return false
			}
		}
		return true
	})
	_, err := b.eng.Approve(b.ctx, b.a.ID, byHand.ID, op, "9876-5432-1098-7654-3210-ABCD", "")
	b.must(err)
	_, err = b.eng.Reject(b.ctx, b.a.ID, rejected.ID, op, note)
	b.must(err)
	waitFor(t, func() bool {
		for _, o := range delivered {
			if b.get(b.a, o.ID).Status == watan.StatusPending {
				return false
			}
		}
		return true
	})
	// A colleague who reads Arabic, and an API key, for the team page.
	_, err = b.st.CreateUserWithRole(b.ctx, b.a.ID, "ليلى", password, "ar", store.RoleOperator, bcrypt.MinCost)
	b.must(err)
	_, _, err = b.st.CreateAPIKey(b.ctx, b.a.ID, "المتجر الرئيسي")
	b.must(err)

	ctx := browser(t, b, exe)
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.CaptureScreenshot(&buf).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	base := b.srv.URL
	// The sign-in page, before anyone signs in, in both languages and sizes.
	for _, lang := range []string{"en", "ar"} {
		for _, size := range []struct {
			name string
			w, h int64
		}{{"desk", 1400, 900}, {"phone", 390, 844}, {"narrow", 360, 740}} {
			var overflow []int
			var outside []string
			run("sign-in page",
				chromedp.EmulateViewport(size.w, size.h),
				chromedp.Navigate(base+"/signin?lang="+lang),
				chromedp.WaitVisible(`input[name=password]`),
				chromedp.Evaluate(`[document.documentElement.scrollWidth, window.innerWidth]`, &overflow),
				chromedp.Evaluate(outsideJS, &outside),
				shot(fmt.Sprintf("page-signin-%s-%s", lang, size.name)),
			)
			if overflow[0] > overflow[1] || len(outside) > 0 {
				t.Errorf("sign-in in %s at %d px scrolls sideways: %v %q", lang, size.w, overflow, outside)
			}
		}
	}
	run("sign in",
		chromedp.EmulateViewport(1400, 900),
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(`input[name=password]`),
		chromedp.SendKeys(`input[name=tenant]`, fmt.Sprint(b.a.ID)),
		chromedp.SendKeys(`input[name=name]`, userA),
		chromedp.SendKeys(`input[name=password]`, password),
		chromedp.Submit(`input[name=password]`),
		chromedp.WaitVisible(`.counts`),
	)

	pages := []struct{ name, path string }{
		{"overview", "/"},
		{"orders", "/orders"},
		{"order-approved", fmt.Sprintf("/orders/%d", byHand.ID)},
		{"order-rejected", fmt.Sprintf("/orders/%d", rejected.ID)},
		{"order-delivered", fmt.Sprintf("/orders/%d", delivered[0].ID)},
		{"providers", "/providers"},
		{"security", "/security"},
		{"team", "/team"},
	}
	sizes := []struct {
		name string
		w, h int64
		shot bool
	}{{"desk", 1400, 900, true}, {"phone", 390, 844, true}, {"narrow", 360, 740, false}}
	for _, lang := range []string{"en", "ar"} {
		b.must(b.st.SetUserLang(b.ctx, b.a.ID, userID(t, b, userA), lang))
		for _, size := range sizes {
			vp := chromedp.EmulateViewport(size.w, size.h)
			if size.w < 500 {
				vp = chromedp.EmulateViewport(size.w, size.h, chromedp.EmulateMobile)
			}
			run("viewport", vp)
			for _, p := range pages {
				var dir string
				var overflow []int
				var english, outside []string
				run(p.name,
					chromedp.Navigate(base+p.path),
					chromedp.WaitVisible(`main h1`),
					chromedp.AttributeValue(`html`, "dir", &dir, nil),
					chromedp.Evaluate(`[document.documentElement.scrollWidth, window.innerWidth]`, &overflow),
					chromedp.Evaluate(outsideJS, &outside),
				)
				if len(outside) > 0 {
					t.Errorf("%s in %s at %d px has elements beyond the screen's edges: %q", p.name, lang, size.w, outside)
				}
				if size.name == "phone" {
					var small []string
					run("touch targets", chromedp.Evaluate(smallTargetsJS, &small))
					if len(small) > 0 {
						t.Errorf("%s in %s on a phone has touch targets under 40 px: %q", p.name, lang, small)
					}
				}
				if want := map[string]string{"en": "ltr", "ar": "rtl"}[lang]; dir != want {
					t.Errorf("%s in %s: dir %q, want %q", p.name, lang, dir, want)
				}
				if overflow[0] > overflow[1] {
					t.Errorf("%s in %s at %d px scrolls sideways: %d px wide", p.name, lang, size.w, overflow[0])
				}
				if lang == "ar" && size.name == "desk" {
					run("untranslated", chromedp.Evaluate(untranslatedJS, &english))
					if len(english) > 0 {
						t.Errorf("%s in Arabic shows English outside isolated data: %q", p.name, english)
					}
				}
				if size.shot {
					run("shot", shot(fmt.Sprintf("page-%s-%s-%s", p.name, lang, size.name)))
					if strings.HasPrefix(p.name, "order-") {
						run("timeline", chromedp.ScrollIntoView(`#timeline`), shot(fmt.Sprintf("page-%s-timeline-%s-%s", p.name, lang, size.name)))
					}
				}
			}
		}
	}

	// The mixed note, in Arabic, reads back in logical order inside its own
	// isolation, after the status change it explains.
	var noteText, cell string
	run("mixed note",
		chromedp.EmulateViewport(1400, 900),
		chromedp.Navigate(fmt.Sprintf("%s/orders/%d", base, rejected.ID)),
		chromedp.WaitVisible(`#timeline`),
		chromedp.Evaluate(`(function(){
			var c = Array.from(document.querySelectorAll('#timeline td.msg')).find(function(td){ return td.querySelector('bdi.user'); });
			return c ? c.querySelector('bdi.user').textContent : '';
		})()`, &noteText),
		chromedp.Evaluate(`(function(){
			var c = Array.from(document.querySelectorAll('#timeline td.msg')).find(function(td){ return td.querySelector('bdi.user'); });
			return c ? c.textContent : '';
		})()`, &cell),
	)
	if noteText != note || !strings.HasPrefix(cell, "تغيّرت الحالة من قيد الانتظار إلى مرفوض: ") || !strings.HasSuffix(cell, note) {
		t.Errorf("mixed note reads %q in the cell %q", noteText, cell)
	}

	// The chart runs right to left in Arabic: the latest minute is leftmost.
	var firstX, lastX float64
	run("chart direction",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`svg.chart`),
		chromedp.Evaluate(`document.querySelectorAll('svg.chart rect.bar')[0].x.baseVal.value`, &firstX),
		chromedp.Evaluate(`document.querySelectorAll('svg.chart rect.bar')[59].x.baseVal.value`, &lastX),
	)
	if lastX >= firstX {
		t.Errorf("Arabic chart: now at x=%v, an hour ago at x=%v; want now on the left", lastX, firstX)
	}

	// A new order arrives on an open list: the operator's ticked box stays ticked
	// and the row they look at stays where it was.
	b.must(b.st.SetUserLang(b.ctx, b.a.ID, userID(t, b, userA), "en"))
	var before, after float64
	var checked bool
	var marker string
	run("open the list",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(base+"/orders"),
		chromedp.WaitVisible(`#order-rows`),
		chromedp.Evaluate(`window.__noReload = "still here"; true`, nil),
		chromedp.Click(fmt.Sprintf(`input[name=id][value="%d"]`, delivered[1].ID), chromedp.ByQuery),
		chromedp.Evaluate(fmt.Sprintf(`document.querySelector('tr[data-order-id="%d"]').scrollIntoView(); true`, delivered[1].ID), nil),
		chromedp.Evaluate(fmt.Sprintf(`document.querySelector('tr[data-order-id="%d"]').getBoundingClientRect().top`, delivered[1].ID), &before),
	)
	fresh := b.order(b.a, pkgManual)
	run("new order arrives",
		chromedp.WaitReady(fmt.Sprintf(`tr[data-order-id="%d"]`, fresh.ID)),
		chromedp.Evaluate(fmt.Sprintf(`document.querySelector('tr[data-order-id="%d"]').getBoundingClientRect().top`, delivered[1].ID), &after),
		chromedp.Evaluate(fmt.Sprintf(`document.querySelector('input[name=id][value="%d"]').checked`, delivered[1].ID), &checked),
		chromedp.Evaluate(`window.__noReload || ""`, &marker),
		shot("page-orders-live-en-phone"),
	)
	if marker != "still here" {
		t.Error("the list reloaded to show the new order")
	}
	if !checked {
		t.Error("the operator's ticked order was unticked by the new arrival")
	}
	if d := after - before; d > 2 || d < -2 {
		t.Errorf("the row the operator looked at moved by %v px when a new order arrived", d)
	}
}

// outsideJS lists elements that stick out of the viewport's width (and are not
// inside a box that scrolls or clips them): what makes a page scroll sideways, in
// either direction.
const outsideJS = `(function () {
	var w = window.innerWidth, out = [];
	document.querySelectorAll('body *').forEach(function (el) {
		var r = el.getBoundingClientRect();
		if (r.width === 0 || (r.right <= w + 1 && r.left >= -1)) { return; }
		for (var a = el.parentElement; a && a !== document.body; a = a.parentElement) {
			var o = getComputedStyle(a).overflowX;
			if (o === 'auto' || o === 'scroll' || o === 'hidden') { return; }
		}
		out.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
	});
	return out.slice(0, 5);
})()`

// smallTargetsJS lists visible controls less than 40 px high: buttons, fields,
// menus, the navigation and the folds' summaries. (Check boxes are 28 px.)
const smallTargetsJS = `(function () {
	var out = [];
	document.querySelectorAll('button, input:not([type=checkbox]):not([type=hidden]), select, .top nav a, summary').forEach(function (el) {
		var r = el.getBoundingClientRect();
		if (r.width > 0 && r.height < 39.5) { out.push(el.tagName.toLowerCase() + ' ' + (el.name || el.textContent.trim()).slice(0, 30) + ' ' + Math.round(r.height)); }
	});
	return out.slice(0, 5);
})()`

// untranslatedJS lists the visible texts of the page with Latin words that are not
// inside isolated data (bdi, code, time, q.said, an element with its own dir) or
// form controls: on an Arabic page every such text is a missed translation.
const untranslatedJS = `(function () {
	var out = [];
	var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	for (var n = walker.nextNode(); n; n = walker.nextNode()) {
		// UTC is written so in Arabic too.
		var t = n.textContent.replace(/UTC/g, '').trim();
		if (!/[A-Za-z]{2,}/.test(t)) { continue; }
		var el = n.parentElement, data = false;
		for (var a = el; a && a !== document.body; a = a.parentElement) {
			if (/^(BDI|CODE|TIME|Q|SCRIPT|STYLE|SELECT|OPTION|TITLE)$/.test(a.tagName) || a.hasAttribute('dir') || a.hidden) { data = true; break; }
		}
		if (data) { continue; }
		var r = el.getBoundingClientRect();
		if (r.width === 0 && r.height === 0) { continue; }
		out.push(t);
	}
	return out;
})()`

// waitFor waits until ok holds, for the engine's workers: at most 20 s.
func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the engine")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func userID(t *testing.T, b *bundle, name string) int64 {
	t.Helper()
	u, err := b.st.FindUserByName(b.ctx, b.a.ID, name)
	b.must(err)
	return u.ID
}

// browser starts a headless Chromium for the test, with a fresh profile.
func browser(t *testing.T, b *bundle, exe string) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "watan-chromium-")
	b.must(err)
	t.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(b.ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	ctx, cancelTimeout := context.WithTimeout(ctx, 10*time.Minute) // some 60 page loads, on a loaded machine
	t.Cleanup(cancelTimeout)
	return ctx
}
