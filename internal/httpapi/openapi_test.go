package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"watan"
)

// unwired stands in for the services in tests that never reach them: any call
// panics, which the handler turns into a 500 that the test would notice.
type unwired struct {
	watan.TenantService
	watan.AccountService
	watan.CatalogService
	watan.OrderService
	Operator
	ProviderHealth
}

// newUnwired returns a handler with every route, the operator actions included.
func newUnwired(t *testing.T) *Handler {
	t.Helper()
	u := unwired{}
	return New(Config{Tenants: u, Accounts: u, Catalog: u, Orders: u, Operator: u, Health: u})
}

func getOpenAPI(t *testing.T, h *Handler) map[string]any {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != contentTypeJSON {
		t.Errorf("Content-Type %q", ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	h := newUnwired(t)
	doc := getOpenAPI(t, h)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi = %q, want 3.x", v)
	}
	paths, _ := doc["paths"].(map[string]any)
	n := 0
	for _, rt := range h.table {
		item, _ := paths[rt.path].(map[string]any)
		o, ok := item[strings.ToLower(rt.method)].(map[string]any)
		if !ok {
			t.Errorf("%s %s is not documented", rt.method, rt.path)
			continue
		}
		n++
		responses, _ := o["responses"].(map[string]any)
		if len(responses) < 2 {
			t.Errorf("%s %s documents %d responses", rt.method, rt.path, len(responses))
		}
		if _, ok := o["security"]; ok != rt.public {
			t.Errorf("%s %s: security override present = %v, public = %v", rt.method, rt.path, ok, rt.public)
		}
	}
	// And nothing else: the document has exactly the routes the mux serves.
	total := 0
	for _, item := range paths {
		total += len(item.(map[string]any))
	}
	if total != n || n != len(h.table) {
		t.Errorf("document has %d operations, the table %d routes", total, len(h.table))
	}
}

func TestOpenAPIDocumentsEveryErrorCode(t *testing.T) {
	doc := getOpenAPI(t, newUnwired(t))
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	ec := schemas["ErrorCode"].(map[string]any)
	var enum []string
	for _, v := range ec["enum"].([]any) {
		enum = append(enum, v.(string))
	}
	statuses := ec["x-http-status"].(map[string]any)
	for _, code := range watan.ErrorCodes {
		if !slices.Contains(enum, code) {
			t.Errorf("code %s missing from the ErrorCode enum", code)
		}
		if int(statuses[code].(float64)) != statusByCode[code] {
			t.Errorf("code %s: documented status %v, table %d", code, statuses[code], statusByCode[code])
		}
		// Each code is also named in some operation's error responses.
		if !responseNames(doc, code) {
			t.Errorf("no operation documents code %s", code)
		}
	}
	sec := doc["components"].(map[string]any)["securitySchemes"].(map[string]any)["bearerAuth"].(map[string]any)
	if sec["type"] != "http" || sec["scheme"] != "bearer" {
		t.Errorf("bearer scheme: %v", sec)
	}
}

func responseNames(doc map[string]any, code string) bool {
	for _, item := range doc["paths"].(map[string]any) {
		for _, o := range item.(map[string]any) {
			if operationNames(o.(map[string]any), code) {
				return true
			}
		}
	}
	return false
}

// operationNames reports whether one operation documents an error response with code.
func operationNames(o map[string]any, code string) bool {
	for _, resp := range o["responses"].(map[string]any) {
		d, _ := resp.(map[string]any)["description"].(string)
		if after, ok := strings.CutPrefix(d, "error code "); ok && slices.Contains(strings.Split(after, ", "), code) {
			return true
		}
	}
	return false
}

// TestOpenAPIOperatorActions checks the documented contract of each operator action:
// its success status and schema, whether its body is required, and the codes a
// client must be ready for.
func TestOpenAPIOperatorActions(t *testing.T) {
	paths := getOpenAPI(t, newUnwired(t))["paths"].(map[string]any)
	common := []string{watan.ECodeBadRequest, watan.ECodeValidation, watan.ECodeUnauthorized, watan.ECodeNotFound,
		watan.ECodeTooLarge, watan.ECodeUnavailable, watan.ECodeInternal}
	for _, tt := range []struct {
		path, schema string
		bodyRequired bool
		codes        []string
	}{
		{"/api/v1/orders/{id}/approve", "Order", false, []string{watan.ECodeInvalidTransition, watan.ECodeInsufficientBalance}},
		{"/api/v1/orders/{id}/reject", "Order", false, []string{watan.ECodeInvalidTransition}},
		{"/api/v1/orders/{id}/redispatch", "Order", true, []string{watan.ECodeInvalidTransition, watan.ECodeInsufficientBalance}},
		{"/api/v1/orders/{id}/manual", "Order", false, []string{watan.ECodeInvalidTransition}},
		{"/api/v1/orders/{id}/check", "Order", false, []string{watan.ECodeInvalidTransition}},
		{"/api/v1/provider-accounts/{id}/resume", "ProviderAccount", false, nil},
	} {
		o, ok := paths[tt.path].(map[string]any)["post"].(map[string]any)
		if !ok {
			t.Errorf("POST %s is not documented", tt.path)
			continue
		}
		ok200, _ := o["responses"].(map[string]any)["200"].(map[string]any)
		ref, _ := ok200["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["$ref"].(string)
		if ref != "#/components/schemas/"+tt.schema {
			t.Errorf("POST %s: 200 schema %q, want %s", tt.path, ref, tt.schema)
		}
		body, _ := o["requestBody"].(map[string]any)
		if body == nil || body["required"] != tt.bodyRequired {
			t.Errorf("POST %s: request body %v, want required %v", tt.path, body, tt.bodyRequired)
		}
		for _, code := range append(slices.Clone(common), tt.codes...) {
			if !operationNames(o, code) {
				t.Errorf("POST %s does not document code %s", tt.path, code)
			}
		}
	}
}

// TestOpenAPIAPIKeys checks the documented contract of the API key routes: success
// status and schema, the request body, and the codes a client must be ready for.
func TestOpenAPIAPIKeys(t *testing.T) {
	paths := getOpenAPI(t, newUnwired(t))["paths"].(map[string]any)
	for _, tt := range []struct {
		method, path, status, schema string
		body                         string // "" none, else "required" or "optional"
		codes                        []string
	}{
		{"get", "/api/v1/api-keys", "200", "APIKeyList", "", []string{watan.ECodeUnauthorized}},
		{"post", "/api/v1/api-keys", "201", "CreatedAPIKey", "required", []string{watan.ECodeUnauthorized, watan.ECodeValidation, watan.ECodeBadRequest}},
		{"delete", "/api/v1/api-keys/{id}", "200", "APIKey", "", []string{watan.ECodeUnauthorized, watan.ECodeNotFound}},
		{"post", "/api/v1/api-keys/{id}/rotate", "201", "CreatedAPIKey", "optional", []string{watan.ECodeUnauthorized, watan.ECodeNotFound, watan.ECodeConflict}},
	} {
		o, ok := paths[tt.path].(map[string]any)[tt.method].(map[string]any)
		if !ok {
			t.Errorf("%s %s is not documented", tt.method, tt.path)
			continue
		}
		okResp, _ := o["responses"].(map[string]any)[tt.status].(map[string]any)
		ref, _ := okResp["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["$ref"].(string)
		if ref != "#/components/schemas/"+tt.schema {
			t.Errorf("%s %s: %s schema %q, want %s", tt.method, tt.path, tt.status, ref, tt.schema)
		}
		body, hasBody := o["requestBody"].(map[string]any)
		if hasBody != (tt.body != "") || hasBody && body["required"] != (tt.body == "required") {
			t.Errorf("%s %s: request body %v, want %q", tt.method, tt.path, body, tt.body)
		}
		for _, code := range tt.codes {
			if !operationNames(o, code) {
				t.Errorf("%s %s does not document code %s", tt.method, tt.path, code)
			}
		}
		if d, _ := o["description"].(string); d == "" {
			t.Errorf("%s %s has no description", tt.method, tt.path)
		}
	}
	// The plain key is in the create responses only, never in a key's record.
	schemas := getOpenAPI(t, newUnwired(t))["components"].(map[string]any)["schemas"].(map[string]any)
	props := schemas["APIKey"].(map[string]any)["properties"].(map[string]any)
	for _, name := range []string{"id", "name", "prefix", "created_at", "last_used_at", "revoked_at"} {
		if _, ok := props[name]; !ok {
			t.Errorf("APIKey schema lacks %s", name)
		}
	}
	for _, name := range []string{"key", "hash"} {
		if _, ok := props[name]; ok {
			t.Errorf("APIKey schema has %s", name)
		}
	}
	if _, ok := schemas["CreatedAPIKey"].(map[string]any)["properties"].(map[string]any)["key"]; !ok {
		t.Error("CreatedAPIKey schema lacks key")
	}
}

// TestOperatorRoutesNeedOperator checks that without Config.Operator the actions are
// neither served nor documented.
func TestOperatorRoutesNeedOperator(t *testing.T) {
	u := unwired{}
	h := New(Config{Tenants: u, Accounts: u, Catalog: u, Orders: u})
	for _, rt := range h.table {
		if rt.operator {
			t.Errorf("%s %s is served without an Operator", rt.method, rt.path)
		}
	}
	for path := range getOpenAPI(t, h)["paths"].(map[string]any) {
		for _, action := range []string{"/approve", "/reject", "/redispatch", "/manual", "/check", "/resume", "/pause"} {
			if strings.HasSuffix(path, action) {
				t.Errorf("%s is documented without an Operator", path)
			}
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/orders/1/approve", strings.NewReader(`{}`)))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"code":"not_found"`) {
		t.Errorf("approve without an Operator: %d %s", rec.Code, rec.Body)
	}
	if n := len(newUnwired(t).table) - len(h.table); n != 8 {
		t.Errorf("an Operator and Health add %d routes, want 8", n)
	}
}

// TestOpenAPIRefsResolve walks the document: every $ref names a schema that exists,
// so that tools reading it do not fail half-way.
func TestOpenAPIRefsResolve(t *testing.T) {
	doc := getOpenAPI(t, newUnwired(t))
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				name, found := strings.CutPrefix(ref, "#/components/schemas/")
				if _, exists := schemas[name]; !found || !exists {
					t.Errorf("dangling $ref %q", ref)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
}

// TestOpenAPIOrderSchemaMatchesJSON checks that the Order schema lists exactly the
// fields a marshalled order has, so that domain changes show up in the document.
func TestOpenAPIOrderSchemaMatchesJSON(t *testing.T) {
	doc := getOpenAPI(t, newUnwired(t))
	props := doc["components"].(map[string]any)["schemas"].(map[string]any)["Order"].(map[string]any)["properties"].(map[string]any)
	var want []string
	for f := range reflect.TypeFor[watan.Order]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "-" {
			want = append(want, name)
		}
	}
	for _, name := range want {
		if _, ok := props[name]; !ok {
			t.Errorf("Order schema lacks %q", name)
		}
	}
	if len(props) != len(want) {
		t.Errorf("Order schema has %d properties, the type %d", len(props), len(want))
	}
}

func TestStatusTableCoversEveryCode(t *testing.T) {
	for _, code := range watan.ErrorCodes {
		if _, ok := statusByCode[code]; !ok {
			t.Errorf("code %s has no status", code)
		}
	}
	if len(statusByCode) != len(watan.ErrorCodes) {
		t.Errorf("statusByCode has %d rows for %d codes", len(statusByCode), len(watan.ErrorCodes))
	}
}

func TestProviderStateEnumIsValid(t *testing.T) {
	for _, v := range enums[reflect.TypeFor[watan.ProviderState]()] {
		if !watan.ProviderState(v).Valid() {
			t.Errorf("documented provider state %q is not valid", v)
		}
	}
	for _, v := range enums[reflect.TypeFor[watan.Status]()] {
		if !watan.Status(v).Valid() {
			t.Errorf("documented status %q is not valid", v)
		}
	}
}

func TestUnroutedRequests(t *testing.T) {
	h := newUnwired(t)
	tests := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/api/v1/nope", http.StatusNotFound, watan.ECodeNotFound, ""},
		{"GET", "/api/v1/orders/1/nope", http.StatusNotFound, watan.ECodeNotFound, ""},
		{"DELETE", "/api/v1/orders", http.StatusMethodNotAllowed, watan.ECodeBadRequest, "GET, HEAD, POST"},
		{"POST", "/api/v1/orders/7", http.StatusMethodNotAllowed, watan.ECodeBadRequest, "GET, HEAD"},
		{"DELETE", "/api/v1/packages/x", http.StatusMethodNotAllowed, watan.ECodeBadRequest, "GET, HEAD, PATCH, PUT"},
		{"DELETE", "/api/v1/api-keys", http.StatusMethodNotAllowed, watan.ECodeBadRequest, "GET, HEAD, POST"},
		{"GET", "/api/v1/api-keys/1", http.StatusMethodNotAllowed, watan.ECodeBadRequest, "DELETE"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, rec.Code, tt.status)
		}
		if ct := rec.Header().Get("Content-Type"); ct != contentTypeJSON {
			t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, ct)
		}
		var body errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != tt.code {
			t.Errorf("%s %s: body %s (%v), want code %s", tt.method, tt.path, rec.Body, err, tt.code)
		}
		if got := rec.Header().Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}

func TestMissingCredentials(t *testing.T) {
	h := newUnwired(t)
	for _, auth := range []string{"", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "token"} {
		for _, rt := range h.table {
			if rt.public {
				continue
			}
			path := strings.NewReplacer("{id}", "1", "{code}", "x", "{provider_account_id}", "1").Replace(rt.path)
			r := httptest.NewRequest(rt.method, path, strings.NewReader(`{}`))
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"code":"unauthorized"`) {
				t.Errorf("%s %s with %q: %d %s", rt.method, path, auth, rec.Code, rec.Body)
			}
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: no WWW-Authenticate", rt.method, path)
			}
		}
	}
}

// TestPanicIsInternal checks that a panicking service yields a JSON 500 without
// detail, and that the panic is logged.
func TestPanicIsInternal(t *testing.T) {
	var logs strings.Builder
	h := New(Config{Tenants: panicky{}, Accounts: unwired{}, Catalog: unwired{}, Orders: unwired{}, Logger: newTextLogger(&logs)})
	r := httptest.NewRequest("GET", "/api/v1/orders", nil)
	r.Header.Set("Authorization", "Bearer secret-key-value")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"code":"internal"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("panic detail leaked: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), "secret-key-value") {
		t.Errorf("API key logged: %s", logs.String())
	}
}

type panicky struct{ watan.TenantService }

func (panicky) AuthenticateAPIKey(ctx context.Context, plain string) (watan.APIKey, error) {
	panic("boom")
}

func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestOpenAPIDefaultsMatchCode: the documented defaults and bounds of provider
// settings are the ones the code applies (they once said 10 s and 30 s while the
// code used 55 s), and no placeholder is left unfilled anywhere in the document.
func TestOpenAPIDefaultsMatchCode(t *testing.T) {
	rec := httptest.NewRecorder()
	newUnwired(t).ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	doc := rec.Body.String()
	if strings.Contains(doc, "{first_") || strings.Contains(doc, "{poll_") || strings.Contains(doc, "{max_") || strings.Contains(doc, "{min_") || strings.Contains(doc, "{deadline}") {
		t.Fatal("the OpenAPI document has an unfilled placeholder")
	}
	z := watan.ProviderSettings{}.WithDefaults(watan.ProviderZnet)
	b := watan.ProviderSettings{}.WithDefaults(watan.ProviderBarakat)
	for _, want := range []string{
		"default " + formatDuration(z.FirstCheckDelay) + "; negative means at once",
		"default " + formatDuration(z.PollInterval) + " (steady)",
		"default " + string(z.Policy),
		"default " + fmt.Sprint(z.MaxInFlight),
		"default " + formatDuration(z.RequestTimeout) + " for znet, " + formatDuration(b.RequestTimeout) + " for barakat",
		"default " + formatDuration(z.Deadline),
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the OpenAPI document does not say %q", want)
		}
	}
}

// unwiredHooks is unwired with the webhook routes too.
type unwiredHooks struct {
	unwired
	watan.WebhookService
}

// TestOpenAPIListingsPage: every listing (a GET answering an array of objects) is
// documented to page with a cursor, limit and cursor in, next_cursor out, so that
// a client can read all of it.
func TestOpenAPIListingsPage(t *testing.T) {
	u := unwiredHooks{}
	doc := getOpenAPI(t, New(Config{Tenants: u, Accounts: u, Catalog: u, Orders: u, Operator: u, Webhooks: u}))
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	resolve := func(s map[string]any) map[string]any {
		if ref, ok := s["$ref"].(string); ok {
			return schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
		}
		return s
	}
	var listings []string
	for path, item := range doc["paths"].(map[string]any) {
		o, ok := item.(map[string]any)["get"].(map[string]any)
		if !ok {
			continue
		}
		ok200, _ := o["responses"].(map[string]any)["200"].(map[string]any)
		s := resolve(ok200["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any))
		props, _ := s["properties"].(map[string]any)
		list := false
		for _, p := range props {
			items, _ := p.(map[string]any)["items"].(map[string]any)
			if _, isRef := items["$ref"]; isRef {
				list = true
			}
		}
		if !list {
			continue
		}
		listings = append(listings, path)
		if _, ok := props["next_cursor"]; !ok {
			t.Errorf("GET %s answers a list without next_cursor", path)
		}
		var params []string
		for _, p := range o["parameters"].([]any) {
			params = append(params, p.(map[string]any)["name"].(string))
		}
		if !slices.Contains(params, "limit") || !slices.Contains(params, "cursor") {
			t.Errorf("GET %s: parameters %v, want limit and cursor", path, params)
		}
	}
	slices.Sort(listings)
	want := []string{"/api/v1/accounts", "/api/v1/accounts/{code}/ledger", "/api/v1/api-keys", "/api/v1/code-groups",
		"/api/v1/code-groups/{id}/codes", "/api/v1/orders", "/api/v1/orders/{id}/events", "/api/v1/orders/{id}/webhooks",
		"/api/v1/packages", "/api/v1/packages/{code}/mappings", "/api/v1/provider-accounts", "/api/v1/webhook-deliveries"}
	if !slices.Equal(listings, want) {
		t.Errorf("listings %v, want %v", listings, want)
	}
	// A listed code never shows its PIN.
	if _, ok := schemas["CodeItem"].(map[string]any)["properties"].(map[string]any)["pin"]; ok {
		t.Error("the CodeItem schema has a pin")
	}
}
