package dashboard

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
)

// jobsBackLink is added to River's UI pages: that UI knows nothing of the
// dashboard, and an operator in it needs a way back.
const jobsBackLink = `<a href="/" id="watan-back" style="position:fixed;inset-block-end:12px;inset-inline-end:12px;z-index:2147483647;background:#0b5cad;color:#fff;padding:10px 14px;border-radius:6px;font:600 14px system-ui,sans-serif;text-decoration:none;box-shadow:0 1px 4px rgba(0,0,0,.3)">← watan</a>`

// withBackLink serves next, adding jobsBackLink to its HTML pages (the single
// page app's index; its API and assets pass through untouched).
func withBackLink(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, JobsPrefix)
		if r.Method != http.MethodGet || strings.HasPrefix(p, "/api/") || path.Ext(p) != "" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			if i := bytes.LastIndex(body, []byte("</body>")); i >= 0 {
				body = append(body[:i:i], append([]byte(jobsBackLink), body[i:]...)...)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}
