package dashboard_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"watan"
	"watan/internal/dashboard"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

func path(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func TestSignedOutIsRedirected(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, bundleOpts{})
		o := b.order(b.a, pkgManual)
		c := b.client()
		for _, p := range []string{"/", "/orders", path("/orders/%d", o.ID), "/providers", "/security", "/orders?status=pending"} {
			st, loc, _ := c.do("GET", p, nil)
			if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
				t.Errorf("GET %s signed out: %d %q", p, st, loc)
			}
		}
		if _, loc, _ := c.do("GET", "/orders?status=pending", nil); loc != "/signin?next="+url.QueryEscape("/orders?status=pending") {
			t.Errorf("redirect does not come back: %q", loc)
		}
		st, loc, _ := c.do("POST", path("/orders/%d/approve", o.ID), url.Values{"csrf": {"x"}})
		if st != http.StatusSeeOther || loc != "/signin" {
			t.Errorf("POST approve signed out: %d %q", st, loc)
		}
		if got := b.get(b.a, o.ID); got.Status != watan.StatusPending {
			t.Errorf("signed-out approve changed the order: %s", got.Status)
		}
		if st, _, _ := c.do("GET", "/live", nil); st != http.StatusUnauthorized {
			t.Errorf("GET /live signed out: %d", st)
		}
		if st, _ := c.get("/assets/app.css"); st != http.StatusOK {
			t.Errorf("assets need no sign-in: %d", st)
		}
	})
}

func TestSignIn(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, bundleOpts{})

		c := b.client()
		c.get("/signin")
		st, _, body := c.post("/signin", url.Values{"tenant": {fmt.Sprint(b.a.ID)}, "name": {userA}, "password": {"wrong password"}})
		if st != http.StatusUnauthorized || !strings.Contains(body, "Wrong tenant, name or password") {
			t.Errorf("wrong password: %d", st)
		}
		// The right password of another tenant's user does not open this tenant.
		st, _, _ = c.post("/signin", url.Values{"tenant": {fmt.Sprint(b.a.ID)}, "name": {userB}, "password": {password}})
		if st != http.StatusUnauthorized {
			t.Errorf("user of B signing in to A: %d", st)
		}
		if st, _ := c.get("/"); st != http.StatusSeeOther {
			t.Errorf("refused sign-in left a session: %d", st)
		}

		// A sign-in form posted without the form's own token (another site's form).
		fresh := b.client()
		st, _, _ = fresh.do("POST", "/signin", url.Values{"tenant": {fmt.Sprint(b.a.ID)}, "name": {userA}, "password": {password}, "csrf": {"forged"}})
		if st != http.StatusForbidden {
			t.Errorf("sign-in without the form token: %d", st)
		}

		// Cookie flags, on plain HTTP, with Config.Secure, and over TLS.
		for _, tc := range []struct {
			name       string
			secure     bool
			tls        bool
			wantSecure bool
		}{{"http", false, false, false}, {"configured", true, false, true}, {"tls", false, true, true}} {
			h := dashboard.New(dashboard.Config{Store: b.st, Operator: b.eng, Secure: tc.secure})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/signin", nil))
			var token string
			for _, ck := range rec.Result().Cookies() {
				if ck.Name == "watan_signin" {
					token = ck.Value
				}
			}
			form := url.Values{"tenant": {fmt.Sprint(b.a.ID)}, "name": {userA}, "password": {password}, "csrf": {token}}
			req := httptest.NewRequest("POST", "/signin", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: "watan_signin", Value: token})
			if tc.tls {
				req.TLS = &tls.ConnectionState{}
			}
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("%s: sign-in %d", tc.name, rec.Code)
			}
			var sess *http.Cookie
			for _, ck := range rec.Result().Cookies() {
				if ck.Name == "watan_session" {
					sess = ck
				}
			}
			if sess == nil || sess.Value == "" {
				t.Fatalf("%s: no session cookie", tc.name)
			}
			if !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.Secure != tc.wantSecure || sess.MaxAge <= 0 {
				t.Errorf("%s: session cookie %+v", tc.name, sess)
			}
		}

		// Sign-in returns to where the user was sent from; an off-site next is ignored.
		c = b.client()
		c.get("/signin")
		_, loc, _ := c.post("/signin", url.Values{"tenant": {fmt.Sprint(b.a.ID)}, "name": {userA}, "password": {password}, "next": {"/providers"}})
		if loc != "/providers" {
			t.Errorf("next: %q", loc)
		}
		c = b.client()
		c.get("/signin")
		_, loc, _ = c.post("/signin", url.Values{"tenant": {fmt.Sprint(b.a.ID)}, "name": {userA}, "password": {password}, "next": {"//evil.example/"}})
		if loc != "/" {
			t.Errorf("off-site next followed: %q", loc)
		}

		// Sign-out ends the session on the server, not just in the browser.
		c = b.client().signIn(b.a, userA)
		jarCookies := c.http.Jar.Cookies(mustURL(b.srv.URL))
		if st, loc, _ := c.post("/signout", nil); st != http.StatusSeeOther || loc != "/signin" {
			t.Errorf("sign out: %d %q", st, loc)
		}
		replay := b.client()
		replay.http.Jar.SetCookies(mustURL(b.srv.URL), jarCookies)
		if st, _ := replay.get("/"); st != http.StatusSeeOther {
			t.Errorf("session cookie still works after sign-out: %d", st)
		}
	})
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestCSRF(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, bundleOpts{})
		o := b.order(b.a, pkgManual)
		c := b.client().signIn(b.a, userA)
		for _, tok := range []string{"", "wrong", strings.Repeat("0", len(c.csrf))} {
			form := url.Values{"pin": {"1234"}}
			if tok != "" {
				form.Set("csrf", tok)
			}
			st, _, _ := c.do("POST", path("/orders/%d/approve", o.ID), form)
			if st != http.StatusForbidden {
				t.Errorf("approve with csrf %q: %d", tok, st)
			}
		}
		for _, p := range []string{"/lang", "/signout", "/orders/bulk", path("/providers/%d/resume", b.znetA.ID)} {
			if st, _, _ := c.do("POST", p, url.Values{"csrf": {"wrong"}, "lang": {"ar"}}); st != http.StatusForbidden {
				t.Errorf("POST %s with a wrong token: %d", p, st)
			}
		}
		if got := b.get(b.a, o.ID); got.Status != watan.StatusPending {
			t.Fatalf("refused POST changed the order: %s", got.Status)
		}
		// Another session's token is not this session's.
		other := b.client().signIn(b.a, userA)
		if st, _, _ := c.do("POST", path("/orders/%d/approve", o.ID), url.Values{"csrf": {other.csrf}}); st != http.StatusForbidden {
			t.Errorf("another session's token: %d", st)
		}
		if st, loc, _ := c.post(path("/orders/%d/approve", o.ID), url.Values{"pin": {"PIN-1234"}}); st != http.StatusSeeOther || loc != path("/orders/%d?done=approve", o.ID) {
			t.Errorf("approve with the token: %d %q", st, loc)
		}
		if got := b.get(b.a, o.ID); got.Status != watan.StatusApproved || got.PIN != "PIN-1234" {
			t.Errorf("approved order %s PIN %q", got.Status, got.PIN)
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, bundleOpts{})
		mine := b.order(b.a, pkgManual)
		theirs := b.order(b.b, pkgManual)
		b.must(b.st.SetProviderPaused(b.ctx, b.b.ID, b.znetB.ID, true, "test", watan.OperatorActor("test")))
		c := b.client().signIn(b.a, userA)

		if st, _ := c.get(path("/orders/%d", theirs.ID)); st != http.StatusNotFound {
			t.Errorf("B's order page: %d", st)
		}
		for _, act := range []string{"approve", "reject", "manual", "check"} {
			if st, _, _ := c.post(path("/orders/%d/%s", theirs.ID, act), url.Values{"pin": {"x"}}); st != http.StatusNotFound {
				t.Errorf("%s B's order: %d", act, st)
			}
		}
		if st, _, _ := c.post(path("/orders/%d/redispatch", theirs.ID), url.Values{"provider_account_id": {fmt.Sprint(b.znetA.ID)}}); st != http.StatusNotFound {
			t.Errorf("re-dispatch B's order: %d", st)
		}
		if st, _, _ := c.post(path("/orders/%d/redispatch", mine.ID), url.Values{"provider_account_id": {fmt.Sprint(b.znetB.ID)}}); st != http.StatusNotFound {
			t.Errorf("re-dispatch to B's provider account: %d", st)
		}
		if st, _, _ := c.post(path("/providers/%d/resume", b.znetB.ID), nil); st != http.StatusNotFound {
			t.Errorf("resume B's provider account: %d", st)
		}
		st, _, body := c.post("/orders/bulk", url.Values{"action": {"reject"}, "id": {fmt.Sprint(theirs.ID)}, "note": {"x"}})
		if st != http.StatusMultiStatus || !strings.Contains(body, "Not found.") {
			t.Errorf("bulk reject of B's order: %d", st)
		}
		if got := b.get(b.b, theirs.ID); got.Status != watan.StatusPending || got.ProviderState != theirs.ProviderState || got.UpdatedAt != theirs.UpdatedAt {
			t.Errorf("B's order changed: %s/%s", got.Status, got.ProviderState)
		}
		if pa, _ := b.st.FindProviderAccount(b.ctx, b.b.ID, b.znetB.ID); !pa.Paused {
			t.Error("B's provider account was resumed")
		}

		_, body = c.get("/orders")
		if !strings.Contains(body, path(`href="/orders/%d"`, mine.ID)) || strings.Contains(body, path(`href="/orders/%d"`, theirs.ID)) {
			t.Errorf("orders list shows the wrong tenant's orders:\n%s", body)
		}
		if _, body := c.get("/providers"); strings.Contains(body, "znet b") || !strings.Contains(body, "znet a") {
			t.Error("providers page shows the wrong tenant's accounts")
		}
		var live struct {
			Orders []struct{ ID int64 } `json:"orders"`
			Events []any                `json:"events"`
		}
		_, body = c.get(path("/live?ids=%d,%d&events=%d", mine.ID, theirs.ID, theirs.ID))
		b.must(json.Unmarshal([]byte(body), &live))
		if len(live.Orders) != 1 || live.Orders[0].ID != mine.ID || len(live.Events) != 0 {
			t.Errorf("live answers about B's order: %s", body)
		}
	})
}

func TestPages(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, bundleOpts{})
		manual := b.order(b.a, pkgManual)
		auto := b.order(b.a, pkgZnet)
		if _, err := b.eng.Dispatch(b.ctx, b.a.ID, auto.ID); err != nil {
			t.Fatal(err)
		}
		c := b.client().signIn(b.a, userA)

		st, body := c.get("/")
		if st != http.StatusOK || !strings.Contains(body, `data-count="pending">2<`) || !strings.Contains(body, `lang="en" dir="ltr"`) {
			t.Errorf("overview: %d\n%s", st, body)
		}
		st, body = c.get("/orders")
		if st != http.StatusOK || !strings.Contains(body, `data-since=`) || strings.Count(body, `data-order-id=`) != 2 {
			t.Errorf("orders: %d\n%s", st, body)
		}
		for q, want := range map[string]int{
			"status=approved": 0, "status=pending": 2, "provider=" + fmt.Sprint(b.znetA.ID): 1,
			"q=5123456789": 2, "q=nomatch": 0, "from=2000-01-01&to=2999-01-01": 2, "to=2000-01-01": 0,
		} {
			st, body := c.get("/orders?" + q)
			if st != http.StatusOK || strings.Count(body, `data-order-id=`) != want {
				t.Errorf("orders?%s: %d, %d rows, want %d", q, st, strings.Count(body, `data-order-id=`), want)
			}
		}
		if st, _ := c.get("/orders?status=bogus"); st != http.StatusUnprocessableEntity {
			t.Errorf("bad status filter: %d", st)
		}
		st, body = c.get(path("/orders/%d", manual.ID))
		if st != http.StatusOK || !strings.Contains(body, "created") || !strings.Contains(body, `data-timeline=`) {
			t.Errorf("order page: %d\n%s", st, body)
		}
		if st, _ := c.get("/orders/999999"); st != http.StatusNotFound {
			t.Errorf("missing order: %d", st)
		}
		st, body = c.get("/providers")
		if st != http.StatusOK || !strings.Contains(body, "znet a") || !strings.Contains(body, "Refresh balance") ||
			!strings.Contains(body, "Learned times") || !strings.Contains(body, "learning: 0 of 50 completions") {
			t.Errorf("providers: %d\n%s", st, body)
		}
		st, body = c.get(path("/providers?balance=%d", b.znetA.ID))
		if st != http.StatusOK || !strings.Contains(body, "TRY") {
			t.Errorf("providers with balance: %d\n%s", st, body)
		}
		if got := b.get(b.a, auto.ID); got.Status != watan.StatusPending {
			t.Errorf("auto order %s", got.Status)
		}
		// The sign-in above, from the connection's address by default.
		st, body = c.get("/security")
		if st != http.StatusOK || !strings.Contains(body, `data-kind="success"`) || !strings.Contains(body, "127.0.0.1") || !strings.Contains(body, "locked out for 15 min") {
			t.Errorf("security: %d\n%s", st, body)
		}
	})
}

func TestActions(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, bundleOpts{})
		c := b.client().signIn(b.a, userA)
		who := watan.OperatorActor(userA)

		// Approve with a PIN, reject with a note and its refund, on the timeline.
		ap := b.order(b.a, pkgManual)
		if st, _, _ := c.post(path("/orders/%d/approve", ap.ID), url.Values{"pin": {"AAAA-1111"}, "note": {"delivered by hand"}}); st != http.StatusSeeOther {
			t.Fatalf("approve: %d", st)
		}
		_, body := c.get(path("/orders/%d?done=approve", ap.ID))
		// The timeline names the operator, isolated (a name may be Arabic).
		if !strings.Contains(body, "AAAA-1111") || !strings.Contains(body, "Approved.") || !strings.Contains(body, `Operator <bdi class="user">`+userA+`</bdi>`) {
			t.Errorf("approved order page:\n%s", body)
		}
		// Only the actions the order's state allows are offered.
		for act, want := range map[string]bool{"approve": false, "reject": false, "redispatch": false, "manual": false, "check": false} {
			if got := strings.Contains(body, path(`action="/orders/%d/%s"`, ap.ID, act)); got != want {
				t.Errorf("approved order offers %s: %v", act, got)
			}
		}
		rj := b.order(b.a, pkgManual)
		if st, _, _ := c.post(path("/orders/%d/reject", rj.ID), url.Values{"note": {"player id is wrong"}}); st != http.StatusSeeOther {
			t.Fatalf("reject: %d", st)
		}
		if got := b.get(b.a, rj.ID); got.Status != watan.StatusRejected {
			t.Errorf("rejected order is %s", got.Status)
		}
		evs, err := b.st.OrderEvents(b.ctx, b.a.ID, rj.ID)
		b.must(err)
		var refund, note bool
		for _, ev := range evs {
			refund = refund || ev.Kind == watan.EventRefund
			note = note || (strings.Contains(ev.Message, "player id is wrong") && ev.Actor == who)
		}
		if !refund || !note {
			t.Errorf("timeline of the rejected order lacks the refund or the note: %+v", evs)
		}
		// A second reject is a conflict shown to the operator, not a crash.
		if st, _, body := c.post(path("/orders/%d/reject", rj.ID), nil); st != http.StatusConflict || !strings.Contains(body, "only a pending order") {
			t.Errorf("second reject: %d", st)
		}

		// Re-dispatch a manual order to the znet account; set a never-sent order manual.
		rd := b.order(b.a, pkgManual)
		if st, _, _ := c.post(path("/orders/%d/redispatch", rd.ID), url.Values{"provider_account_id": {fmt.Sprint(b.znetA.ID)}, "note": {"try znet"}}); st != http.StatusSeeOther {
			t.Errorf("redispatch: %d", st)
		}
		if got := b.get(b.a, rd.ID); got.ProviderAccountID != b.znetA.ID || got.ProviderState != watan.StateNotSent {
			t.Errorf("re-dispatched order %s at %d", got.ProviderState, got.ProviderAccountID)
		}
		mn := b.order(b.a, pkgZnet)
		if st, _, _ := c.post(path("/orders/%d/manual", mn.ID), url.Values{"note": {"by hand"}}); st != http.StatusSeeOther {
			t.Errorf("set manual: %d", st)
		}
		if got := b.get(b.a, mn.ID); got.ProviderState != watan.StateManual {
			t.Errorf("set manual: %s", got.ProviderState)
		}
		// Check now: refused for an order no provider holds, done for a sent one.
		if st, _, _ := c.post(path("/orders/%d/check", mn.ID), nil); st != http.StatusConflict {
			t.Errorf("check a manual order: %d", st)
		}
		sent := b.order(b.a, pkgZnet)
		if _, err := b.eng.Dispatch(b.ctx, b.a.ID, sent.ID); err != nil {
			t.Fatal(err)
		}
		if st, loc, body := c.post(path("/orders/%d/check", sent.ID), nil); st != http.StatusSeeOther {
			t.Errorf("check now: %d %q\n%s", st, loc, body)
		}
		if got := b.get(b.a, sent.ID); got.Status != watan.StatusApproved || got.PIN == "" {
			t.Errorf("checked order %s/%s PIN %q", got.Status, got.ProviderState, got.PIN)
		}

		// Pause a provider account with a reason, then resume it.
		if _, body := c.get("/providers"); !strings.Contains(body, `data-circuit="closed"`) {
			t.Error("providers page does not show the circuit breaker")
		}
		if st, loc, _ := c.post(path("/providers/%d/pause", b.znetA.ID), url.Values{"reason": {"empty body"}}); st != http.StatusSeeOther || loc != "/providers?done=pause" {
			t.Errorf("pause: %d %q", st, loc)
		}
		if pa, _ := b.st.FindProviderAccount(b.ctx, b.a.ID, b.znetA.ID); !pa.Paused || pa.PausedReason != "empty body" {
			t.Errorf("after pause: %+v", pa)
		}
		if _, body := c.get("/providers"); !strings.Contains(body, "empty body") || !strings.Contains(body, "Resume") || !strings.Contains(body, "Recent events") {
			t.Error("providers page does not show the pause, its reason and the account's timeline")
		}
		if st, loc, _ := c.post(path("/providers/%d/resume", b.znetA.ID), nil); st != http.StatusSeeOther || loc != "/providers?done=resume" {
			t.Errorf("resume: %d %q", st, loc)
		}
		if pa, _ := b.st.FindProviderAccount(b.ctx, b.a.ID, b.znetA.ID); pa.Paused {
			t.Error("still paused")
		}

		// Bulk: approve two pending orders and one already rejected (re-debit), then
		// one that cannot be rejected.
		x, y := b.order(b.a, pkgManual), b.order(b.a, pkgManual)
		st, _, body := c.post("/orders/bulk", url.Values{"action": {"approve"}, "id": {fmt.Sprint(x.ID), fmt.Sprint(y.ID)}, "note": {"batch"}})
		if st != http.StatusOK || strings.Count(body, ">done<") != 2 {
			t.Errorf("bulk approve: %d\n%s", st, body)
		}
		for _, id := range []int64{x.ID, y.ID} {
			if got := b.get(b.a, id); got.Status != watan.StatusApproved {
				t.Errorf("bulk-approved order %d is %s", id, got.Status)
			}
		}
		z := b.order(b.a, pkgManual)
		st, _, body = c.post("/orders/bulk", url.Values{"action": {"reject"}, "id": {fmt.Sprint(z.ID), fmt.Sprint(x.ID)}, "note": {"batch"}})
		if st != http.StatusMultiStatus || strings.Count(body, ">done<") != 1 || !strings.Contains(body, "only a pending order") {
			t.Errorf("bulk reject with one refused: %d\n%s", st, body)
		}
		if st, _, _ := c.post("/orders/bulk", url.Values{"action": {"explode"}, "id": {fmt.Sprint(z.ID)}}); st != http.StatusUnprocessableEntity {
			t.Errorf("bulk with an unknown action: %d", st)
		}
		if st, _, _ := c.post("/orders/bulk", url.Values{"action": {"approve"}}); st != http.StatusUnprocessableEntity {
			t.Errorf("bulk with no order: %d", st)
		}
	})
}

func TestLanguage(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, bundleOpts{})
		o := b.order(b.a, pkgManual)
		c := b.client().signIn(b.a, userA)
		if st, loc, _ := c.post("/lang", url.Values{"lang": {"ar"}, "return": {"/orders"}}); st != http.StatusSeeOther || loc != "/orders" {
			t.Fatalf("switch to Arabic: %d %q", st, loc)
		}
		for _, p := range []string{"/", "/orders", path("/orders/%d", o.ID), "/providers", "/security"} {
			_, body := c.get(p)
			// The security page has no order to show a status of.
			if !strings.Contains(body, `<html lang="ar" dir="rtl">`) || (p != "/security" && !strings.Contains(body, "قيد الانتظار")) {
				t.Errorf("%s in Arabic:\n%s", p, body)
			}
		}
		// The choice is the user's: a new session keeps it.
		if _, body := b.client().signIn(b.a, userA).get("/orders"); !strings.Contains(body, `dir="rtl"`) {
			t.Error("language not kept for the user")
		}
		if st, _, _ := c.post("/lang", url.Values{"lang": {"fr"}}); st != http.StatusUnprocessableEntity {
			t.Errorf("unknown language: %d", st)
		}
		if st, loc, _ := c.post("/lang", url.Values{"lang": {"en"}, "return": {"https://evil.example/"}}); st != http.StatusSeeOther || loc != "/" {
			t.Errorf("off-site return: %d %q", st, loc)
		}
		// Signed out, the browser's language is used.
		req, _ := http.NewRequest("GET", b.srv.URL+"/signin", nil)
		req.Header.Set("Accept-Language", "ar-SA,ar;q=0.9,en;q=0.5")
		resp, err := http.DefaultClient.Do(req)
		b.must(err)
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		b.must(err)
		if !strings.Contains(string(raw), `<html lang="ar" dir="rtl">`) || !strings.Contains(string(raw), "كلمة المرور") {
			t.Errorf("sign-in page for an Arabic browser:\n%s", raw)
		}
	})
}

func TestLiveAndJobs(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		jobsUI := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "river ui at "+r.URL.Path) })
		b := setup(t, e, bundleOpts{jobs: jobsUI, configure: func(b *bundle, cfg *dashboard.Config) {
			cfg.JobsAccess = func(u store.User) bool { return u.TenantID == b.a.ID }
		}})
		o := b.order(b.a, pkgManual)

		signedOut := b.client()
		if st, loc, _ := signedOut.do("GET", "/admin/jobs/", nil); st != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
			t.Errorf("jobs UI signed out: %d %q", st, loc)
		}
		c := b.client().signIn(b.a, userA)
		if st, body := c.get("/admin/jobs/queues"); st != http.StatusOK || body != "river ui at /admin/jobs/queues" {
			t.Errorf("jobs UI: %d %q", st, body)
		}
		req, _ := http.NewRequest("POST", b.srv.URL+"/admin/jobs/api/jobs/cancel", strings.NewReader("{}"))
		req.Header.Set("Origin", "https://evil.example")
		resp, err := c.http.Do(req)
		b.must(err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin POST to the jobs UI: %d", resp.StatusCode)
		}
		if _, body := c.get("/"); !strings.Contains(body, `href="/admin/jobs/"`) {
			t.Error("no link to the jobs UI")
		}

		// River's UI is not scoped by tenant: only those JobsAccess lets in reach it.
		outsider := b.client().signIn(b.b, userB)
		if st, _ := outsider.get("/admin/jobs/queues"); st != http.StatusNotFound {
			t.Errorf("jobs UI for an operator JobsAccess refuses: %d", st)
		}
		if _, body := outsider.get("/"); strings.Contains(body, `href="/admin/jobs/"`) {
			t.Error("link to the jobs UI shown to an operator who may not use it")
		}

		_, body := c.get(path("/live?ids=%d&events=%d", o.ID, o.ID))
		var live struct {
			Counts map[string]int `json:"counts"`
			Orders []struct {
				ID          int64  `json:"id"`
				Status      string `json:"status"`
				StatusLabel string `json:"status_label"`
			} `json:"orders"`
			Events []struct{ Kind string } `json:"events"`
		}
		b.must(json.Unmarshal([]byte(body), &live))
		if live.Counts["pending"] != 1 || len(live.Orders) != 1 || live.Orders[0].StatusLabel != "pending" || len(live.Events) == 0 {
			t.Errorf("live: %s", body)
		}
	})
}

func TestTranslationsComplete(t *testing.T) {
	// Every English text has an Arabic one; the pages render no raw keys.
	b := setup(t, store.EngineSQLite, bundleOpts{})
	c := b.client().signIn(b.a, userA)
	o := b.order(b.a, pkgManual)
	for _, lang := range []string{"en", "ar"} {
		c.post("/lang", url.Values{"lang": {lang}})
		for _, p := range []string{"/", "/orders", path("/orders/%d", o.ID), "/providers", "/security"} {
			_, body := c.get(p)
			for _, prefix := range []string{"title.", "nav.", "col.", "act.", "order.", "status.", "state.", "f.", "ov.", "prov.", "sec.", "unit."} {
				if strings.Contains(body, ">"+prefix) || strings.Contains(body, "\""+prefix) {
					t.Errorf("%s %s shows an untranslated key %s…", lang, p, prefix)
				}
			}
		}
	}
	if missing := dashboard.MissingTranslations("ar"); len(missing) > 0 {
		t.Errorf("Arabic lacks %v", missing)
	}
}

// TestRedirectProbes sends the sign-in form's next and the language form's return
// fields that once redirected an operator to another site.
func TestRedirectProbes(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, bundleOpts{})
		for _, next := range []string{"/\t/evil.example", "//evil.example", "/\\evil.example", "/\n/evil.example"} {
			c := b.client()
			c.get("/signin")
			st, loc, _ := c.post("/signin", url.Values{"tenant": {fmt.Sprint(b.a.ID)}, "name": {userA}, "password": {password}, "next": {next}})
			if st != http.StatusSeeOther || loc != "/" {
				t.Errorf("sign-in with next=%q: %d %q, want / ", next, st, loc)
			}
			c.get("/") // the session's CSRF token
			st, loc, _ = c.post("/lang", url.Values{"lang": {"ar"}, "return": {next}})
			if st != http.StatusSeeOther || loc != "/" {
				t.Errorf("language with return=%q: %d %q, want /", next, st, loc)
			}
		}
	})
}
