package watan_test

import (
	"regexp"
	"strings"
	"testing"

	"watan"
)

// Every message has an English and an Arabic text, with the same parameters, and
// no text is left empty.
func TestMessagesCatalogue(t *testing.T) {
	params := regexp.MustCompile(`\{[a-z_]+\}`)
	for code, en := range watan.Messages["en"] {
		ar, ok := watan.Messages["ar"][code]
		if !ok || strings.TrimSpace(ar) == "" {
			t.Errorf("message %q has no Arabic text", code)
			continue
		}
		if strings.TrimSpace(en) == "" {
			t.Errorf("message %q has no English text", code)
		}
		pe, pa := params.FindAllString(en, -1), params.FindAllString(ar, -1)
		if strings.Join(sorted(pe), ",") != strings.Join(sorted(pa), ",") {
			t.Errorf("message %q: English has parameters %v, Arabic %v", code, pe, pa)
		}
		if strings.Count(en, "[") != strings.Count(en, "]") || strings.Count(ar, "[") != strings.Count(ar, "]") {
			t.Errorf("message %q: unbalanced optional parts", code)
		}
	}
	for code := range watan.Messages["ar"] {
		if _, ok := watan.Messages["en"][code]; !ok {
			t.Errorf("message %q has no English text", code)
		}
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestMsgRendering(t *testing.T) {
	for _, tc := range []struct {
		m        watan.Msg
		lang     string
		want     string
		parsable bool
	}{
		// Missing parameters drop their optional part: no "-" and no dangling colon.
		{watan.M("place.accepted", "provider_order", "", "cost", "", "said", ""), "en", "accepted by provider", true},
		{watan.M("place.accepted", "provider_order", "77", "cost", "7.30", "said", "OK"), "en", "accepted by provider, order 77, cost 7.30: OK", true},
		{watan.M("order.status", "from", "pending", "to", "approved"), "en", "status pending → approved", true},
		{watan.M("order.status", "from", "pending", "to", "approved"), "ar", "تغيّرت الحالة من قيد الانتظار إلى مقبول", false},
		// A nested reason is translated too.
		{watan.M("order.status", "from", "pending", "to", "rejected", "note", watan.M("finish.timeout").String()), "ar",
			"تغيّرت الحالة من قيد الانتظار إلى مرفوض: انتهت المهلة: لا رد نهائي من المزوّد قبل الموعد", false},
		{watan.M("route.waiting", "account", "znet-main", "why", watan.M("why.paused", "reason", "maintenance").String()), "en",
			"waiting: provider account znet-main is paused (maintenance)", true},
	} {
		if got := tc.m.In(tc.lang); got != tc.want {
			t.Errorf("%s in %s = %q, want %q", tc.m.Code, tc.lang, got, tc.want)
		}
		if !tc.parsable {
			continue
		}
		back, ok := watan.ParseMsg(tc.want)
		if !ok || back.Code != tc.m.Code || back.String() != tc.want {
			t.Errorf("ParseMsg(%q) = %+v, %v", tc.want, back, ok)
		}
	}
	// Texts that are no message stay free text.
	for _, s := range []string{"player id does not exist", "", "status"} {
		if m, ok := watan.ParseMsg(s); ok {
			t.Errorf("ParseMsg(%q) = %+v", s, m)
		}
	}
	// A timeline entry written before codes existed is read back from its text.
	old := watan.OrderEvent{Message: "order #12 created: 1 × pubg-60 for 7.30 USD, debited from account demo"}
	if m, ok := old.Msg(); !ok || m.Code != "order.created" || m.Params["number"] != "12" || m.Params["account"] != "demo" {
		t.Errorf("old created entry reads back as %+v, %v", m, ok)
	}
}
