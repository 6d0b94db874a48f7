package dashboard

import (
	"html/template"
	"strings"
	"time"

	"watan"
)

// How the pages show text they did not write. Three rules keep mixed Arabic and
// Latin readable in both directions:
//
//   - whatever a user, a storefront or a provider wrote is isolated (<bdi>, or
//     dir="auto"), so that its own direction cannot reorder the sentence around it;
//   - numbers, references, PINs and dates are isolated left to right;
//   - a provider's own words are shown verbatim and marked as theirs (q.said).
//
// Engine messages arrive as a code and parameters (watan.Msg) and are rendered in
// the reader's language; old entries without a code are read back from their
// English text when they are a known message, and shown as they are otherwise.

// timeLayout is the one way the pages write a time, in both languages: it reads
// the same in either direction once isolated left to right.
const timeLayout = "2006-01-02 15:04:05"

// fmtWhen formats t for the pages; "" for a zero time.
func fmtWhen(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// whenHTML is a time as the pages show it: machine-readable and left to right.
func whenHTML(t time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	return template.HTML(`<time datetime="` + t.UTC().Format(time.RFC3339) + `" dir="ltr">` + fmtWhen(t) + `</time>`)
}

// ltrParams are message parameters that are numbers, references or codes: left to
// right inside right-to-left text.
var ltrParams = map[string]bool{
	"number": true, "quantity": true, "price": true, "amount": true, "cost": true, "ref": true, "gen": true,
	"provider_order": true, "id": true, "fallback": true, "group": true, "currency": true, "kind": true,
	"reason": false, "duration": true, "transition": true, "mode": true,
}

// timeParams are message parameters that carry an RFC 3339 time.
var timeParams = map[string]bool{"deadline": true, "until": true}

// msgHTML renders m in lang as HTML, each parameter isolated as the rules above say.
func msgHTML(lang string, m watan.Msg) template.HTML {
	return template.HTML(watan.RenderMsgHTML(lang, m, func(name, v string) string {
		return paramHTML(lang, name, v)
	}, template.HTMLEscapeString))
}

func paramHTML(lang, name, v string) string {
	esc := template.HTMLEscapeString
	switch watan.ParamKind(name) {
	case watan.KindStatus:
		return `<b class="term">` + esc(tr(lang, "status."+v)) + `</b>`
	case watan.KindState:
		return `<b class="term">` + esc(tr(lang, "state."+v)) + `</b>`
	case watan.KindOutcome:
		return `<b class="term">` + esc(tr(lang, "outcome."+v)) + `</b>`
	case watan.KindProvider:
		return saidHTML(lang, v)
	case watan.KindNested:
		if n, ok := watan.ParseMsg(v); ok {
			return string(msgHTML(lang, n))
		}
		return `<bdi class="user">` + esc(v) + `</bdi>`
	}
	if timeParams[name] {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return string(whenHTML(t))
		}
	}
	if ltrParams[name] {
		return `<bdi dir="ltr">` + esc(v) + `</bdi>`
	}
	return `<bdi>` + esc(v) + `</bdi>`
}

// saidHTML marks a provider's own words: verbatim, isolated, quoted, titled.
func saidHTML(lang, v string) string {
	return `<q class="said" dir="auto" title="` + template.HTMLEscapeString(tr(lang, "said.title")) + `">` + template.HTMLEscapeString(v) + `</q>`
}

// textHTML shows a stored text (an order's provider message, an old timeline
// entry): translated when it is a known message, else as the provider's words.
func textHTML(lang, s string) template.HTML {
	if s == "" {
		return ""
	}
	if m, ok := watan.ParseMsg(s); ok {
		return msgHTML(lang, m)
	}
	return template.HTML(saidHTML(lang, s))
}

// eventHTML is a timeline entry's message in lang. A free-text entry (an old one,
// or an operator's note) is isolated as it is.
func eventHTML(lang string, e watan.OrderEvent) template.HTML {
	if m, ok := e.Msg(); ok {
		return msgHTML(lang, m)
	}
	if e.Message == "" {
		return ""
	}
	return template.HTML(`<bdi class="user">` + template.HTMLEscapeString(e.Message) + `</bdi>`)
}

// eventText is eventHTML as plain text, for the live timeline.
func eventText(lang string, e watan.OrderEvent) string {
	if m, ok := e.Msg(); ok {
		return m.In(lang)
	}
	return e.Message
}

// actorHTML names who did something: the system, the API, or an operator by name.
func actorHTML(lang string, a watan.Actor) template.HTML {
	name, isOp := strings.CutPrefix(string(a), "operator:")
	switch {
	case isOp:
		return template.HTML(template.HTMLEscapeString(tr(lang, "actor.operator")) + ` <bdi class="user">` + template.HTMLEscapeString(name) + `</bdi>`)
	case a == watan.ActorSystem, a == watan.ActorAPI:
		return template.HTML(template.HTMLEscapeString(tr(lang, "actor."+string(a))))
	}
	return template.HTML(`<bdi>` + template.HTMLEscapeString(string(a)) + `</bdi>`)
}

// actorText is actorHTML as plain text.
func actorText(lang string, a watan.Actor) string {
	if name, ok := strings.CutPrefix(string(a), "operator:"); ok {
		return tr(lang, "actor.operator") + " " + name
	}
	if a == watan.ActorSystem || a == watan.ActorAPI {
		return tr(lang, "actor."+string(a))
	}
	return string(a)
}

// kindText names a timeline entry's kind.
func kindText(lang string, k watan.EventKind) string {
	if s := tr(lang, "kind."+string(k)); s != "kind."+string(k) {
		return s
	}
	return strings.ReplaceAll(string(k), "_", " ")
}
