package dashboard_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"watan"
	"watan/internal/dashboard"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

// Every text of the pages has both languages (the engine's messages are checked
// in package watan).
func TestCatalogue(t *testing.T) {
	if missing := dashboard.MissingTranslations("ar"); len(missing) > 0 {
		t.Errorf("Arabic lacks %v", missing)
	}
	if extra := dashboard.ExtraTranslations("ar"); len(extra) > 0 {
		t.Errorf("English lacks %v", extra)
	}
}

// The timeline reads in the operator's language: the engine's and the store's
// entries by code, who did it, what kind, the provider's message translated when
// it is the engine's and marked when it is the provider's, and an operator's note
// isolated as it was typed.
func TestTimelineInArabic(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, bundleOpts{})
		o := b.order(b.a, pkgManual)
		_, err := b.eng.Dispatch(b.ctx, b.a.ID, o.ID)
		b.must(err)
		const note = "تم الشحن يدويًا - ref 77"
		_, err = b.eng.Reject(b.ctx, b.a.ID, o.ID, watan.OperatorActor(userA), note)
		b.must(err)
		// An entry from before codes: read back from its text.
		_, err = b.st.AddOrderEvent(b.ctx, watan.OrderEvent{TenantID: b.a.ID, OrderID: o.ID, Kind: "check", Message: "sweeper: order had no dispatch job; dispatching it"})
		b.must(err)
		_, err = b.st.AddOrderEvent(b.ctx, watan.OrderEvent{TenantID: b.a.ID, OrderID: o.ID, Kind: watan.EventNote, Message: "free text <b>from</b> before"})
		b.must(err)

		c := b.client().signIn(b.a, userA)
		c.post("/lang", url.Values{"lang": {"ar"}})
		_, body := c.get(path("/orders/%d", o.ID))
		for _, want := range []string{
			`التوجيه يدوي: بانتظار أحد المشغّلين`, // route.manual, as the provider message and an entry
			`تغيّرت الحالة من <b class="term">قيد الانتظار</b> إلى <b class="term">مرفوض</b>: <bdi class="user">` + note + `</bdi>`,
			`أُعيد <bdi dir="ltr">10.00 TRY</bdi> إلى الحساب <bdi>c1</bdi>`, // the refund
			`المشغّل <bdi class="user">sara</bdi>`,                          // who
			`المُراجِع الدوري: لم تكن للطلب مهمة إرسال؛ يجري إرساله`,        // an old entry, read back
			`<bdi class="user">free text &lt;b&gt;from&lt;/b&gt; before</bdi>`,
			`<td data-label="ماذا">تغيّر الحالة</td>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("Arabic order page lacks %s", want)
			}
		}
		for _, raw := range []string{">status_changed<", ">system<", "operator:sara", "routing is manual"} {
			if strings.Contains(body, raw) {
				t.Errorf("Arabic order page shows %q", raw)
			}
		}
		// The live timeline is the same rows.
		_, live := c.get(fmt.Sprintf("/live?ids=%d&events=%d", o.ID, o.ID))
		var d struct {
			Orders []struct {
				MessageHTML string `json:"message_html"`
			} `json:"orders"`
			TimelineHTML string `json:"timeline_html"`
		}
		b.must(json.Unmarshal([]byte(live), &d))
		if !strings.Contains(d.TimelineHTML, `<bdi class="user">`+note+`</bdi>`) || len(d.Orders) != 0 && !strings.Contains(d.Orders[0].MessageHTML, "التوجيه يدوي") {
			t.Errorf("live timeline:\n%s", live)
		}
		// The API keeps the English text, with the code and parameters.
		evs, err := b.st.OrderEvents(b.ctx, b.a.ID, o.ID)
		b.must(err)
		var status watan.OrderEvent
		for _, e := range evs {
			if e.Kind == watan.EventStatusChanged {
				status = e
			}
		}
		if status.Code != "order.status" || status.Params["note"] != note || status.Message != "status pending → rejected: "+note {
			t.Errorf("status event %+v", status)
		}
	})
}

// A provider's own words are shown verbatim and marked as theirs.
func TestProviderWordsMarked(t *testing.T) {
	b := setup(t, store.EngineSQLite, bundleOpts{})
	o := b.order(b.a, pkgManual)
	_, err := b.st.AddOrderEvent(b.ctx, watan.OrderEvent{TenantID: b.a.ID, OrderID: o.ID, Kind: "sent",
		Code: "place.accepted", Params: map[string]string{"provider_order": "77", "said": "İşlem <tamam>"}, Message: "x"})
	b.must(err)
	c := b.client().signIn(b.a, userA)
	_, body := c.get(path("/orders/%d", o.ID))
	if !regexp.MustCompile(`accepted by provider, order <bdi dir="ltr">77</bdi>: <q class="said" dir="auto" title="[^"]+">İşlem &lt;tamam&gt;</q>`).MatchString(body) {
		t.Errorf("provider words not marked:\n%s", body)
	}
}

// The team page is for the tenant's admins: they add operators (shown their
// password once), disable and enable them, reset passwords, and create (shown
// once) and revoke API keys; operators get 403; another tenant's users and keys
// are out of reach.
func TestTeam(t *testing.T) {
	dashboard.LowerUserCost()
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, bundleOpts{})
		admin := b.client().signIn(b.a, userA)
		st, body := admin.get("/team")
		if st != http.StatusOK || !strings.Contains(body, userA) || strings.Contains(body, userB) {
			t.Fatalf("team page: %d\n%s", st, body)
		}
		st, _, body = admin.post("/team/users", url.Values{"name": {"nour"}, "role": {"operator"}, "lang": {"ar"}})
		pw := regexp.MustCompile(`<code dir="ltr" id="secret">([^<]+)</code>`).FindStringSubmatch(body)
		if st != http.StatusOK || pw == nil {
			t.Fatalf("create user: %d\n%s", st, body)
		}
		nour := b.client()
		nour.get("/signin")
		if st, _, _ := nour.post("/signin", url.Values{"tenant": {fmt.Sprint(b.a.ID)}, "name": {"nour"}, "password": {pw[1]}}); st != http.StatusSeeOther {
			t.Fatalf("new operator cannot sign in: %d", st)
		}
		if st, _ := nour.get("/team"); st != http.StatusForbidden {
			t.Errorf("operator on the team page: %d", st)
		}
		if st, _, _ := nour.post("/team/keys", url.Values{"name": {"x"}}); st != http.StatusForbidden {
			t.Errorf("operator creates a key: %d", st)
		}
		if _, body := nour.get("/"); strings.Contains(body, `href="/team"`) {
			t.Error("operators are offered the team page")
		}
		u, err := b.st.FindUserByName(b.ctx, b.a.ID, "nour")
		b.must(err)
		if st, loc, _ := admin.post(path("/team/users/%d/disable", u.ID), nil); st != http.StatusSeeOther || loc != "/team?done=user_disabled" {
			t.Errorf("disable: %d %q", st, loc)
		}
		if st, _ := nour.get("/"); st != http.StatusSeeOther {
			t.Errorf("a disabled operator's session still works: %d", st)
		}
		if st, _, _ := admin.post(path("/team/users/%d/enable", u.ID), nil); st != http.StatusSeeOther {
			t.Errorf("enable: %d", st)
		}
		st, _, body = admin.post(path("/team/users/%d/reset", u.ID), nil)
		if pw2 := regexp.MustCompile(`id="secret">([^<]+)<`).FindStringSubmatch(body); st != http.StatusOK || pw2 == nil || pw2[1] == pw[1] {
			t.Errorf("reset password: %d", st)
		}
		me, err := b.st.FindUserByName(b.ctx, b.a.ID, userA)
		b.must(err)
		if st, _, _ := admin.post(path("/team/users/%d/disable", me.ID), nil); st != http.StatusConflict {
			t.Errorf("an admin disables themselves: %d", st)
		}
		other, err := b.st.FindUserByName(b.ctx, b.b.ID, userB)
		b.must(err)
		if st, _, _ := admin.post(path("/team/users/%d/disable", other.ID), nil); st != http.StatusNotFound {
			t.Errorf("disable another tenant's user: %d", st)
		}

		st, _, body = admin.post("/team/keys", url.Values{"name": {"المتجر"}})
		key := regexp.MustCompile(`id="secret">(wtn_[^<]+)<`).FindStringSubmatch(body)
		if st != http.StatusOK || key == nil {
			t.Fatalf("create key: %d\n%s", st, body)
		}
		k, err := b.st.AuthenticateAPIKey(b.ctx, key[1])
		if err != nil || k.TenantID != b.a.ID {
			t.Fatalf("the new key does not authenticate: %+v %v", k, err)
		}
		if st, _, _ := admin.post(path("/team/keys/%d/revoke", k.ID), nil); st != http.StatusSeeOther {
			t.Errorf("revoke: %d", st)
		}
		if _, err := b.st.AuthenticateAPIKey(b.ctx, key[1]); err == nil {
			t.Error("a revoked key still authenticates")
		}
		_, bkey, err := b.st.CreateAPIKey(b.ctx, b.b.ID, "b's")
		b.must(err)
		bk, _ := b.st.AuthenticateAPIKey(b.ctx, bkey)
		if st, _, _ := admin.post(path("/team/keys/%d/revoke", bk.ID), nil); st != http.StatusNotFound {
			t.Errorf("revoke another tenant's key: %d", st)
		}
		_ = bcrypt.MinCost
	})
}

// New orders reach an open list through /orders/rows: the rows after the newest
// listed, matching the list's filters, of the signed-in tenant only.
func TestOrderRows(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		b := setup(t, e, bundleOpts{})
		first := b.order(b.a, pkgManual)
		c := b.client().signIn(b.a, userA)
		_, body := c.get("/orders")
		if !strings.Contains(body, fmt.Sprintf(`data-live-orders="true" data-after="%d"`, first.ID)) {
			t.Errorf("the list does not say which orders it has:\n%s", body)
		}
		second := b.order(b.a, pkgManual)
		b.order(b.b, pkgManual)
		st, rows := c.get(fmt.Sprintf("/orders/rows?after=%d", first.ID))
		if st != http.StatusOK || strings.Count(rows, "<tr data-order-id") != 1 || !strings.Contains(rows, fmt.Sprintf(`data-order-id="%d"`, second.ID)) {
			t.Errorf("new rows: %d\n%s", st, rows)
		}
		if _, rows := c.get(fmt.Sprintf("/orders/rows?after=%d&status=approved", first.ID)); strings.Contains(rows, "<tr") {
			t.Errorf("a pending order reached a list of approved ones:\n%s", rows)
		}
	})
}

// The overview's day: orders, success rate, time to PIN, pending by age, and each
// provider account's health.
func TestOverviewDay(t *testing.T) {
	b := setup(t, store.EngineSQLite, bundleOpts{})
	for range 2 {
		b.order(b.a, pkgManual)
	}
	o := b.order(b.a, pkgManual)
	_, err := b.eng.Approve(b.ctx, b.a.ID, o.ID, watan.OperatorActor(userA), "PIN-1", "")
	b.must(err)
	c := b.client().signIn(b.a, userA)
	_, body := c.get("/")
	for _, want := range []string{"Orders today", `<b dir="ltr">3</b>`, "100.0%", "1 of 1 decided", "Time to PIN", "under 1 min", "Provider health", "znet a", "Closed"[:0] + "closed", `<svg viewBox="0 0 720 200"`, "60 min ago", "now"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	c.post("/lang", url.Values{"lang": {"ar"}})
	_, body = c.get("/")
	for _, want := range []string{"طلبات اليوم", "نسبة النجاح", "قبل 60 دقيقة", "الآن"} {
		if !strings.Contains(body, want) {
			t.Errorf("Arabic overview lacks %q", want)
		}
	}
}
