package dashboard

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"watan"
	"watan/internal/store"
)

// view is what every page template gets: the page's own data in Data, and what the
// layout needs around it.
type view struct {
	Lang    string
	Dir     string
	Title   string
	Nav     string
	User    *store.User
	CSRF    string
	Path    string // the request's path and query, for forms that return to it
	Poll    int    // milliseconds between live updates; 0 on pages without a session
	Flash   string
	HasJobs bool
	// HasMoney links the reports page (Config.Money is set).
	HasMoney bool
	DBDown   bool // the database cannot be reached: the layout shows a banner
	Data     any
}

// T translates key into the page's language.
func (v view) T(key string) string { return tr(v.Lang, key) }

// Tf translates key into the page's language and fills in its %d and %s verbs.
func (v view) Tf(key string, args ...any) string { return fmt.Sprintf(tr(v.Lang, key), args...) }

// Status translates an order status.
func (v view) Status(s watan.Status) string { return tr(v.Lang, "status."+string(s)) }

// State translates a provider state.
func (v view) State(s watan.ProviderState) string { return tr(v.Lang, "state."+string(s)) }

// When shows a time as every page does (see whenHTML).
func (v view) When(t any) template.HTML { return when(t) }

// Ev is a timeline entry's message in the page's language.
func (v view) Ev(e watan.OrderEvent) template.HTML { return eventHTML(v.Lang, e) }

// Actor names who made a timeline entry.
func (v view) Actor(a watan.Actor) template.HTML { return actorHTML(v.Lang, a) }

// Kind names a timeline entry's kind.
func (v view) Kind(k watan.EventKind) string { return kindText(v.Lang, k) }

// Text shows a stored text: translated when it is a known message, else marked as
// the provider's words.
func (v view) Text(s string) template.HTML { return textHTML(v.Lang, s) }

// Role names a user's role.
func (v view) Role(r string) string { return tr(v.Lang, "role."+r) }

func when(t any) template.HTML {
	switch v := t.(type) {
	case time.Time:
		return whenHTML(v)
	case *time.Time:
		if v == nil {
			return ""
		}
		return whenHTML(*v)
	}
	return ""
}

var funcs = template.FuncMap{
	"when": when,
	"fmtWhen": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return fmtWhen(v)
		case *time.Time:
			if v != nil {
				return fmtWhen(*v)
			}
		}
		return ""
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"age": age,
	// share is a's height in a chart whose full height is max, in percent.
	"share": func(a, max watan.Amount) int64 {
		if max <= 0 || a <= 0 {
			return 0
		}
		return int64(a) * 100 / int64(max)
	},
	"pct": func(n, max int) int {
		if max <= 0 {
			return 0
		}
		return n * 100 / max
	},
}

// age formats a duration as the pages' counters do: m:ss, or h:mm:ss.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d / time.Second)
	h, m, sec := s/3600, s%3600/60, s%60
	if h > 0 {
		return itoa(h) + ":" + pad2(m) + ":" + pad2(sec)
	}
	return itoa(m) + ":" + pad2(sec)
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

func pad2(n int) string {
	if n < 10 {
		return "0" + itoa(n)
	}
	return itoa(n)
}

// render executes a page into a buffer first, so that a template error becomes a
// clean 500 rather than half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, s store.Session, status int, page, titleKey string, data any) {
	v := h.view(r, s, page, titleKey, data)
	var buf bytes.Buffer
	if err := h.pages[page].Execute(&buf, v); err != nil {
		h.log.Error("dashboard: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// view is what the layout and page templates of page get for data.
func (h *Handler) view(r *http.Request, s store.Session, page, titleKey string, data any) view {
	lang := s.User.Lang
	if s.Token == "" {
		lang = requestLang(r)
	}
	down := h.databaseDown()
	v := view{Lang: lang, Dir: "ltr", Title: tr(lang, titleKey), Nav: page, CSRF: s.CSRF, Path: r.URL.RequestURI(),
		Data: data, HasJobs: !down && h.mayUseJobs(s.User), DBDown: down, HasMoney: h.money != nil}
	if lang == "ar" {
		v.Dir = "rtl"
	}
	if s.Token != "" {
		u := s.User
		v.User = &u
		v.Poll = int(h.poll / time.Millisecond)
	}
	if done := r.URL.Query().Get("done"); done != "" {
		v.Flash = tr(lang, "done."+done)
	}
	return v
}

// requestLang picks the sign-in page's language from the browser's preferences.
func requestLang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "ar" || l == "en" {
		return l
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		if strings.HasPrefix(tag, "ar") {
			return "ar"
		}
		if strings.HasPrefix(tag, "en") {
			return "en"
		}
	}
	return "en"
}
