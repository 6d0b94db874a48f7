package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"watan"
)

// The OpenAPI document is built in Go from the route table and from the request and
// response types themselves (by reflection on their json tags), so that a route, a
// field or an error code cannot be added without appearing in it.

// op documents one route.
type op struct {
	id      string // operationId
	tag     string
	summary string
	desc    string
	query   []param
	req     any // the JSON body's type, for bodyJSON routes
	resp    any // the success response's type; nil documents a free-form object
	status  int // the success status; default 200
	// replay documents a 200 beside the 201 of a create that is idempotent.
	replay string
	// errs lists the codes the route may answer with beyond those every route of its
	// shape can (authentication, body decoding, path lookups, internal, unavailable).
	errs []string
}

type param struct {
	name   string
	desc   string
	schema map[string]any
}

var (
	strParam  = map[string]any{"type": "string"}
	intParam  = map[string]any{"type": "integer", "format": "int64", "minimum": 1}
	timeParam = map[string]any{"type": "string", "format": "date-time"}
)

func limitParam(max int) param {
	return param{name: "limit", desc: "page size", schema: map[string]any{"type": "integer", "minimum": 1, "maximum": max}}
}

// cursorParam continues a listing that pages with a cursor.
var cursorParam = param{name: "cursor", desc: "next_cursor of the previous page", schema: strParam}

// pageQueryParams and pagingDesc document the listings that returned every row
// before they paged: their default page is the largest, so that a tenant with
// fewer rows still gets them all in one response.
var pageQueryParams = []param{limitParam(1000), cursorParam}

const pagingDesc = "limit: default and at most 1000; follow next_cursor to the end to read every row that existed when the first page was read, exactly once"

// Operation documents, referenced by the route table.
var (
	docOpenAPI = op{id: "getOpenAPI", tag: "meta", summary: "This OpenAPI document",
		desc: "Served without authentication."}

	docCreateOrder = op{id: "createOrder", tag: "orders", summary: "Create an order",
		desc: "Validates the order, debits the account and queues the order for dispatch in one transaction. " +
			"Repeating a client_order_id returns the first order with status 200 and header Idempotent-Replayed: true, and debits nothing. " +
			"Nothing is written when the request fails.",
		req: createOrderRequest{}, resp: watan.Order{}, status: http.StatusCreated,
		replay: "an earlier order with the same client_order_id; nothing was debited",
		errs: []string{watan.ECodeInsufficientBalance, watan.ECodeUnknownPackage, watan.ECodePackageInactive,
			watan.ECodeUnknownAccount, watan.ECodeNoExchangeRate, watan.ECodeConflict}}
	docListOrders = op{id: "listOrders", tag: "orders", summary: "List orders, newest first",
		query: []param{
			{name: "status", desc: "pending, approved or rejected", schema: map[string]any{"$ref": schemaRef("Status")}},
			{name: "provider", desc: "provider account id", schema: intParam},
			{name: "q", desc: "matches the order number, player id, provider reference or client order id", schema: strParam},
			{name: "from", desc: "created at or after (RFC 3339)", schema: timeParam},
			{name: "to", desc: "created before (RFC 3339)", schema: timeParam},
			limitParam(500),
			cursorParam,
		},
		resp: orderList{}}
	docGetOrder = op{id: "getOrder", tag: "orders", summary: "Get an order", resp: watan.Order{}}
	// docGetOrderByClientID is how a client (another watan among them) resolves a
	// creation whose answer it never got.
	docGetOrderByClientID = op{id: "getOrderByClientID", tag: "orders", summary: "Get an order by its client order id", resp: watan.Order{}}
	docOrderEvents        = op{id: "listOrderEvents", tag: "orders", summary: "An order's timeline, oldest first, a page at a time",
		query: []param{limitParam(1000), cursorParam}, resp: eventList{}}

	// Operator actions. Each answers 200 with the order as the action committed it; the
	// timeline records the API key as actor operator:api-key:<key name>. An order that
	// changed meanwhile (a provider answered first) is refused with invalid_transition:
	// read it again and decide again.
	docApproveOrder = op{id: "approveOrder", tag: "operator actions", summary: "Approve an order",
		desc: "Marks the order approved, with the PIN the operator delivered if one is given; an order waiting for an operator (provider_state manual) becomes delivered. " +
			"Approving a rejected order debits its price again, within the account's overdraft limit: insufficient_balance otherwise, and nothing changes. " +
			"An approved order cannot be approved again (invalid_transition). The body is optional.",
		req: approveRequest{}, resp: watan.Order{}, errs: []string{watan.ECodeInvalidTransition, watan.ECodeInsufficientBalance}}
	docRejectOrder = op{id: "rejectOrder", tag: "operator actions", summary: "Reject a pending order and refund it",
		desc: "Only a pending order can be rejected; its price is refunded exactly once. An approved order is refused with invalid_transition " +
			"rather than reversed, since its PIN may already be with the customer. The body is optional.",
		req: noteRequest{}, resp: watan.Order{}, errs: []string{watan.ECodeInvalidTransition}}
	docRedispatchOrder = op{id: "redispatchOrder", tag: "operator actions", summary: "Send an order to another provider account",
		desc: "Places the order again, under a new reference, with the given provider account (active, with a mapping for the order's package; validation_failed otherwise). " +
			"Allowed only where no provider can be holding the order: never sent (also waiting for an operator), or failed or not found at its provider; invalid_transition otherwise. " +
			"A rejected order becomes pending and its price is debited again (insufficient_balance if the account cannot cover it). " +
			"The answer is 200 with the order as committed (pending, provider_state not_sent, the new provider_account_id): the change to the order is done, " +
			"and the placement follows in the background exactly as for a new order, so watch the order for its outcome.",
		req: redispatchRequest{}, resp: watan.Order{}, errs: []string{watan.ECodeInvalidTransition, watan.ECodeInsufficientBalance}}
	docSetOrderManual = op{id: "setOrderManual", tag: "operator actions", summary: "Hand an order to operators",
		desc: "Sets provider_state manual on a pending order that no provider holds (never sent, or failed or not found at its provider), so that an operator " +
			"fulfils it and approves it with the PIN, or rejects it. A provider that may still deliver keeps the order: invalid_transition. The body is optional.",
		req: noteRequest{}, resp: watan.Order{}, errs: []string{watan.ECodeInvalidTransition}}
	docCheckOrder = op{id: "checkOrder", tag: "operator actions", summary: "Ask the provider about an order now",
		desc: "Checks a pending order that a provider holds (provider_state sent, sending or unknown; invalid_transition otherwise) at once, " +
			"and applies the answer as a scheduled check would: delivered approves it with the PIN, a final failure rejects and refunds it, pending changes nothing. " +
			"A provider that cannot be asked gives unavailable (503); scheduled checks go on regardless. The body is empty or {}.",
		req: emptyRequest{}, resp: watan.Order{}, errs: []string{watan.ECodeInvalidTransition, watan.ECodeUnavailable}}
	docResumeProviderAccount = op{id: "resumeProviderAccount", tag: "operator actions", summary: "Resume dispatch to a provider account",
		desc: "Lifts an operator's pause (POST .../pause or PATCH paused=true) and closes the account's circuit breaker if it is open: the operator " +
			"has looked at the account and wants it used. Orders waiting for the account are dispatched when their jobs next run. " +
			"Resuming an account that is neither paused nor open changes nothing. Answers with the account. The body is empty or {}.",
		req: emptyRequest{}, resp: providerAccountView{}}
	docPauseProviderAccount = op{id: "pauseProviderAccount", tag: "operator actions", summary: "Pause dispatch to a provider account",
		desc: "Holds back placements to the account until an operator resumes it: orders with a fallback go there, the others wait with an event " +
			"saying why. Status checks of orders the provider already holds go on. Pausing a paused account changes nothing. Answers with the account.",
		req: pauseRequest{}, resp: providerAccountView{}}
	docProviderAccountEvents = op{id: "listProviderAccountEvents", tag: "provider accounts", summary: "A provider account's timeline",
		desc:  "Newest first: its circuit breaker opening (with why and until when), half-opening and closing, and operators pausing and resuming it.",
		query: []param{limitParam(1000), {name: "cursor", desc: "next_cursor of the previous page", schema: strParam}}, resp: providerEventList{}}

	docCreatePackage = op{id: "createPackage", tag: "packages", summary: "Create a package",
		desc: "A new package is routed manually until PUT .../routing says otherwise.",
		req:  createPackageRequest{}, resp: watan.Package{}, status: http.StatusCreated, errs: []string{watan.ECodeConflict}}
	docListPackages = op{id: "listPackages", tag: "packages", summary: "List packages, ordered by code",
		desc: "A page at a time (" + pagingDesc + ").", query: pageQueryParams, resp: packageList{}}
	docGetPackage   = op{id: "getPackage", tag: "packages", summary: "Get a package", resp: watan.Package{}}
	docPatchPackage = op{id: "patchPackage", tag: "packages", summary: "Change some of a package's name, price and active flag",
		req: patchPackageRequest{}, resp: watan.Package{}}
	docPutPackage = op{id: "putPackage", tag: "packages", summary: "Replace a package's name, price and active flag",
		req: putPackageRequest{}, resp: watan.Package{}}
	docPutRouting = op{id: "putRouting", tag: "packages", summary: "Set a package's routing",
		desc: "manual: an operator fulfils orders. codes: a code from code_group_id, then fallback_provider_id if the stock is empty. " +
			"auto: primary_provider_id, then fallback_provider_id once if the primary refuses.",
		req: routingRequest{}, resp: watan.Package{}}
	docListMappings = op{id: "listMappings", tag: "packages", summary: "List a package's provider mappings, ordered by provider account",
		desc: "A page at a time (" + pagingDesc + ").", query: pageQueryParams, resp: mappingList{}}
	docGetMapping = op{id: "getMapping", tag: "packages", summary: "Get a package's mapping to one provider account", resp: watan.Mapping{}}
	docPutMapping = op{id: "putMapping", tag: "packages", summary: "Set how a package is ordered from a provider account",
		req: putMappingRequest{}, resp: watan.Mapping{}}

	docCreateProviderAccount = op{id: "createProviderAccount", tag: "provider accounts", summary: "Create a provider account",
		desc: "Credentials are write-only: no response ever contains them, only the names of the keys that are set.",
		req:  createProviderAccountRequest{}, resp: providerAccountView{}, status: http.StatusCreated, errs: []string{watan.ECodeConflict}}
	docListProviderAccounts = op{id: "listProviderAccounts", tag: "provider accounts", summary: "List provider accounts, oldest first",
		desc: "A page at a time (" + pagingDesc + ").", query: pageQueryParams, resp: providerAccountList{}}
	docGetProviderAccount   = op{id: "getProviderAccount", tag: "provider accounts", summary: "Get a provider account", resp: providerAccountView{}}
	docPatchProviderAccount = op{id: "patchProviderAccount", tag: "provider accounts", summary: "Change a provider account",
		desc: "Fields present are changed; credentials and settings are merged into the current ones.",
		req:  patchProviderAccountRequest{}, resp: providerAccountView{}}

	docCreateAccount = op{id: "createAccount", tag: "accounts", summary: "Create a customer account",
		req: createAccountRequest{}, resp: watan.Account{}, status: http.StatusCreated, errs: []string{watan.ECodeConflict}}
	docListAccounts = op{id: "listAccounts", tag: "accounts", summary: "List customer accounts, ordered by code",
		desc: "A page at a time (" + pagingDesc + ").", query: pageQueryParams, resp: accountList{}}
	docGetAccount = op{id: "getAccount", tag: "accounts", summary: "Get a customer account with its balance", resp: watan.Account{}}
	docTopUp      = op{id: "topUp", tag: "accounts", summary: "Add money to an account's balance through its ledger",
		req: topUpRequest{}, resp: watan.LedgerEntry{}, status: http.StatusCreated}
	docLedger = op{id: "listLedger", tag: "accounts", summary: "An account's ledger, newest first",
		query: []param{limitParam(1000), cursorParam}, resp: ledgerList{}}

	rangeParams = []param{
		{name: "from", desc: "first day, YYYY-MM-DD in the tenant's time zone; default 29 days before to", schema: strParam},
		{name: "to", desc: "last day, YYYY-MM-DD in the tenant's time zone; default today", schema: strParam},
		{name: "format", desc: "json (default) or csv (text/csv, the same figures)", schema: map[string]any{"type": "string", "enum": []string{"json", "csv"}}},
	}
	docGetSettings   = op{id: "getSettings", tag: "money", summary: "The tenant's base currency and time zone", resp: watan.TenantSettings{}}
	docPatchSettings = op{id: "patchSettings", tag: "money", summary: "Change the base currency or the time zone",
		req: settingsBody{}, resp: watan.TenantSettings{}}
	docGetRates = op{id: "getExchangeRates", tag: "money", summary: "Exchange rates in force and their history", resp: ratesView{}}
	docSetRate  = op{id: "setExchangeRate", tag: "money", summary: "Record a new exchange rate against the base currency",
		desc: "Applies to orders created and approved from now on; nothing already frozen changes.",
		req:  setRateRequest{}, resp: watan.ExchangeRate{}, status: http.StatusCreated}
	docCreatePriceGroup = op{id: "createPriceGroup", tag: "money", summary: "Create a price group",
		req: createPriceGroupRequest{}, resp: watan.PriceGroup{}, status: http.StatusCreated, errs: []string{watan.ECodeConflict}}
	docListPriceGroups   = op{id: "listPriceGroups", tag: "money", summary: "List price groups", resp: priceGroupList{}}
	docListPackagePrices = op{id: "listPackagePrices", tag: "money", summary: "A package's prices per group", resp: packagePriceList{}}
	docSetPackagePrice   = op{id: "setPackagePrice", tag: "money", summary: "Set a package's price for a group",
		desc: "Orders created from now on by accounts of the group pay it; existing orders keep theirs.",
		req:  setPriceRequest{}, resp: watan.PackagePrice{}}
	docSetAccountGroup = op{id: "setAccountPriceGroup", tag: "money", summary: "Put an account in a price group",
		req: accountGroupRequest{}, resp: watan.Account{}}
	docStatement = op{id: "getStatement", tag: "money", summary: "An account's statement: opening balance, entries, closing balance",
		desc:  "Opening plus the entries is the closing balance; up to today it is the account's balance.",
		query: rangeParams, resp: watan.Statement{}}
	docReport = op{id: "getReport", tag: "money", summary: "Orders, sales, cost and profit per day, provider account, package or customer account",
		desc: "Orders count on the day they were created, in the tenant's time zone; money is in the base currency " +
			"and only as frozen at approval, so later price and rate changes never rewrite it.",
		query: append([]param{{name: "by", desc: "day (default), provider, package or account",
			schema: map[string]any{"type": "string", "enum": []string{"day", "provider", "package", "account"}}}}, rangeParams...),
		resp: watan.Report{}}

	docCreateCodeGroup = op{id: "createCodeGroup", tag: "code groups", summary: "Create a code group (a stock of PINs)",
		req: createCodeGroupRequest{}, resp: watan.CodeGroup{}, status: http.StatusCreated, errs: []string{watan.ECodeConflict}}
	docListCodeGroups = op{id: "listCodeGroups", tag: "code groups", summary: "List code groups with their counts, oldest first",
		desc: "A page at a time (" + pagingDesc + ").", query: pageQueryParams, resp: codeGroupList{}}
	docGetCodeGroup = op{id: "getCodeGroup", tag: "code groups", summary: "Get a code group with its counts", resp: watan.CodeGroup{}}
	docImportCodes  = op{id: "importCodes", tag: "code groups", summary: "Import PINs into a code group",
		desc: "The body is text/csv (one code per line, or in the first column; a first row \"pin\" or \"code\" is a header) " +
			"or JSON lines (application/x-ndjson or application/jsonl: one \"CODE\" or {\"pin\":\"CODE\"} per line). " +
			"Codes already in the group, or repeated in the body, are skipped and counted. At most 100000 codes per request. " +
			"Query cost gives each new code its cost (in the group's currency), which an order handed the code carries.",
		query: []param{{name: "cost", desc: "each new code's cost, e.g. 6.00", schema: strParam}},
		resp:  watan.ImportResult{}}
	docListCodes = op{id: "listCodes", tag: "code groups", summary: "List a code group's codes, without their PINs",
		desc: "In import order, a page at a time (limit: default 100). Each code shows its status, the order it was handed to and when; " +
			"the PIN itself is never listed: an unused one is unsold stock, and a used one is on its order (GET /orders/{id}). " +
			"Follow next_cursor to the end to read every code that existed when the first page was read, exactly once.",
		query: []param{
			{name: "status", desc: "available (not handed out yet) or used", schema: map[string]any{"$ref": schemaRef("CodeStatus")}},
			limitParam(1000), cursorParam,
		},
		resp: codeList{}}
)

// fieldDocs describes fields of domain types, which carry no desc tags of their own.
var fieldDocs = map[string]string{
	"Order.number":            "per-tenant sequence, for humans",
	"Order.price":             "unit_price × quantity, the amount debited",
	"Order.status":            "what the storefront acts on: pending until approved (PIN delivered) or rejected (refunded)",
	"Order.provider_state":    "what is known of the order at the fulfilment side",
	"Order.provider_referans": "our reference at the provider, reused on every retry",
	"Order.pin":               "the delivered code, once approved",
	"Account.balance":         "changes only through ledger entries",
	"Account.overdraft_limit": "how far below zero the balance may go",
	"LedgerEntry.amount":      "signed: debits are negative",
	"LedgerEntry.kind":        "topup, debit, refund or redebit",
	"CodeGroup.available":     "codes not yet handed out",
	"CodeGroup.used":          "codes handed to orders",
	"ImportResult.skipped":    "codes already in the group or repeated in the body",
	"CodeItem.status":         "available until handed to an order, then used for good",
	"CodeItem.order_id":       "the order the code was handed to; its PIN is on that order",
	"CodeItem.used_at":        "when the code was handed out; absent while available",
	"OrderEvent.kind":         "created, status_changed, refund, redebit, note, or an engine step name",
	"OrderEvent.actor":        "system, api, or operator:<name>",
	"APIKey.prefix":           "the key's first 12 characters (wtn_ and 8 of its 52 random ones), to tell keys apart; not enough to use or guess it",
	"APIKey.last_used_at":     "when the key last authenticated a request, to within a minute; absent if never",
	"APIKey.revoked_at":       "when the key was revoked; absent while it works",
}

// enums lists the values of the domain's string types.
var enums = map[reflect.Type][]string{
	reflect.TypeFor[watan.Status]():       {"pending", "approved", "rejected"},
	reflect.TypeFor[watan.ProviderKind](): {"znet", "barakat"},
	reflect.TypeFor[watan.PollPolicy]():   {"steady", "exponential", "fixed"},
	reflect.TypeFor[watan.RoutingMode]():  {"manual", "codes", "auto"},
	reflect.TypeFor[watan.LedgerKind]():   {"topup", "debit", "refund", "redebit"},
	reflect.TypeFor[watan.CodeStatus]():   {string(watan.CodeAvailable), string(watan.CodeUsed)},
	reflect.TypeFor[watan.CostSource]():   {"provider", "configured", "code", "none"},
	reflect.TypeFor[watan.ReportBy]():     {"day", "provider", "package", "account"},
	reflect.TypeFor[watan.ProviderState](): {"not_sent", "sending", "sent", "unknown", "delivered", "failed",
		"not_found", "manual", "expired"},
}

// schemaNames renames types whose Go names would read oddly in the document.
var schemaNames = map[reflect.Type]string{
	reflect.TypeFor[providerAccountView](): "ProviderAccount",
	reflect.TypeFor[settingsView]():        "ProviderSettings",
	reflect.TypeFor[settingsRequest]():     "ProviderSettingsInput",
	reflect.TypeFor[errorBody]():           "Error",
	reflect.TypeFor[errorDetail]():         "ErrorDetail",
	reflect.TypeFor[createdAPIKey]():       "CreatedAPIKey",
	reflect.TypeFor[apiKeyList]():          "APIKeyList",
}

func schemaRef(name string) string { return "#/components/schemas/" + name }

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// buildOpenAPI returns the OpenAPI 3.1 document of the routes.
func buildOpenAPI(routes []route) ([]byte, error) {
	g := &schemaGen{schemas: map[string]any{}, owners: map[string]reflect.Type{}}
	g.schemas["ErrorCode"] = errorCodeSchema()
	if _, err := g.schema(reflect.TypeFor[errorBody]()); err != nil {
		return nil, err
	}
	paths := map[string]map[string]any{}
	ids := map[string]bool{}
	for _, rt := range routes {
		if ids[rt.doc.id] || rt.doc.id == "" {
			return nil, fmt.Errorf("route %s %s: operation id %q is empty or repeated", rt.method, rt.path, rt.doc.id)
		}
		ids[rt.doc.id] = true
		o, err := g.operation(rt)
		if err != nil {
			return nil, fmt.Errorf("route %s %s: %w", rt.method, rt.path, err)
		}
		if paths[rt.path] == nil {
			paths[rt.path] = map[string]any{}
		}
		paths[rt.path][strings.ToLower(rt.method)] = o
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "watan API",
			"version":     "1",
			"description": apiDescription(),
		},
		"security": []any{map[string]any{"bearerAuth": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearerAuth": map[string]any{
					"type": "http", "scheme": "bearer",
					"description": "An API key of the tenant: Authorization: Bearer <key>. Every call sees only that tenant's data.",
				},
			},
			"schemas": g.schemas,
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func apiDescription() string {
	var b strings.Builder
	b.WriteString("JSON API of the watan order engine. Amounts are decimal strings with two places (\"12.50\"); ")
	b.WriteString("requests may also send JSON numbers, which are parsed exactly. Durations are Go duration strings (\"30s\").\n\n")
	b.WriteString("Every error is {\"error\":{\"code\":\"...\",\"message\":\"...\"}}. Codes are stable; statuses follow from codes:\n\n")
	b.WriteString("| code | status |\n|---|---|\n")
	for _, c := range watan.ErrorCodes {
		fmt.Fprintf(&b, "| %s | %d |\n", c, statusOf(c))
	}
	b.WriteString("\nA known path asked with a method it does not serve answers 405 with code bad_request and an Allow header.")
	return b.String()
}

func errorCodeSchema() map[string]any {
	statuses := map[string]int{}
	for _, c := range watan.ErrorCodes {
		statuses[c] = statusOf(c)
	}
	return map[string]any{
		"type":             "string",
		"enum":             slices.Clone(watan.ErrorCodes),
		"description":      "stable, machine-readable error code; x-http-status gives each code's status",
		"x-http-status":    statuses,
		"x-status-for-405": http.StatusMethodNotAllowed,
	}
}

// errorCodes returns the codes a route may answer with, in watan.ErrorCodes order.
func errorCodes(rt route) []string {
	// Any path or query can be malformed, and any client can send too many requests.
	set := map[string]bool{watan.ECodeInternal: true, watan.ECodeUnavailable: true, watan.ECodeBadRequest: true, watan.ECodeRateLimited: true}
	if !rt.public {
		set[watan.ECodeUnauthorized] = true
	}
	if rt.body != bodyNone {
		set[watan.ECodeBadRequest], set[watan.ECodeTooLarge], set[watan.ECodeValidation] = true, true, true
	}
	if len(rt.doc.query) > 0 {
		set[watan.ECodeBadRequest], set[watan.ECodeValidation] = true, true
	}
	if strings.Contains(rt.path, "{") {
		set[watan.ECodeNotFound] = true
	}
	for _, c := range rt.doc.errs {
		set[c] = true
	}
	var out []string
	for _, c := range watan.ErrorCodes {
		if set[c] {
			out = append(out, c)
		}
	}
	return out
}

func (g *schemaGen) operation(rt route) (map[string]any, error) {
	d := rt.doc
	o := map[string]any{"operationId": d.id, "summary": d.summary, "tags": []string{d.tag}}
	if d.desc != "" {
		o["description"] = d.desc
	}
	if rt.public {
		o["security"] = []any{}
	}
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
		s := intParam
		if m[1] == "code" {
			s = strParam
		}
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": s})
	}
	for _, q := range d.query {
		params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.desc, "schema": q.schema})
	}
	if params != nil {
		o["parameters"] = params
	}
	switch rt.body {
	case bodyJSON, bodyOptionalJSON:
		if d.req == nil {
			return nil, fmt.Errorf("a JSON body needs a documented type")
		}
		s, err := g.schema(reflect.TypeOf(d.req))
		if err != nil {
			return nil, err
		}
		o["requestBody"] = map[string]any{"required": rt.body == bodyJSON, "content": map[string]any{"application/json": map[string]any{"schema": s}}}
	case bodyImport:
		text := map[string]any{"schema": map[string]any{"type": "string"}}
		content := map[string]any{}
		for _, t := range append(slices.Clone(csvTypes), jsonLinesTypes...) {
			content[t] = text
		}
		o["requestBody"] = map[string]any{"required": true, "content": content}
	}
	var okSchema map[string]any = map[string]any{"type": "object"}
	if d.resp != nil {
		var err error
		if okSchema, err = g.schema(reflect.TypeOf(d.resp)); err != nil {
			return nil, err
		}
	}
	status := d.status
	if status == 0 {
		status = http.StatusOK
	}
	okContent := map[string]any{"application/json": map[string]any{"schema": okSchema}}
	responses := map[string]any{
		strconv.Itoa(status): map[string]any{"description": http.StatusText(status), "content": okContent},
	}
	if d.replay != "" {
		responses["200"] = map[string]any{"description": d.replay, "content": okContent,
			"headers": map[string]any{"Idempotent-Replayed": map[string]any{"schema": map[string]any{"type": "string", "enum": []string{"true"}}}}}
	}
	byStatus := map[int][]string{}
	for _, c := range errorCodes(rt) {
		byStatus[statusOf(c)] = append(byStatus[statusOf(c)], c)
	}
	for st, codes := range byStatus {
		responses[strconv.Itoa(st)] = map[string]any{
			"description": "error code " + strings.Join(codes, ", "),
			"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": schemaRef("Error")}}},
		}
	}
	o["responses"] = responses
	return o, nil
}

// schemaGen turns Go types into JSON Schemas, registering named types as components.
type schemaGen struct {
	schemas map[string]any
	owners  map[string]reflect.Type // which type claimed each component name
}

var (
	timeType        = reflect.TypeFor[time.Time]()
	domainAmountTyp = reflect.TypeFor[watan.Amount]()
)

func (g *schemaGen) schema(t reflect.Type) (map[string]any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}, nil
	case amountType, domainAmountTyp:
		return g.component("Amount", domainAmountTyp, func() (map[string]any, error) {
			return map[string]any{
				"type": "string", "pattern": `^-?[0-9]+(\.[0-9]{1,2})?$`, "examples": []string{"12.50"},
				"description": "money as a decimal string with two places; requests may send a JSON number, parsed exactly, with at most two decimals",
			}, nil
		})
	case reflect.TypeFor[watan.Rate]():
		return g.component("Rate", t, func() (map[string]any, error) {
			return map[string]any{"type": "string", "pattern": `^[0-9]*(\.[0-9]{1,8})?$`, "examples": []string{"34.8765"},
				"description": "units of a currency per unit of the base currency, a decimal string with at most eight places"}, nil
		})
	case reflect.TypeFor[watan.Date]():
		return map[string]any{"type": "string", "format": "date"}, nil
	case durationType:
		return g.component("Duration", t, func() (map[string]any, error) {
			return map[string]any{"type": "string", "examples": []string{"30s", "1m30s", "24h"}, "description": "a Go duration string"}, nil
		})
	}
	if vals, ok := enums[t]; ok {
		return g.component(t.Name(), t, func() (map[string]any, error) {
			return map[string]any{"type": "string", "enum": vals}, nil
		})
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}, nil
	case reflect.Bool:
		return map[string]any{"type": "boolean"}, nil
	case reflect.Int, reflect.Int32:
		return map[string]any{"type": "integer"}, nil
	case reflect.Int64:
		return map[string]any{"type": "integer", "format": "int64"}, nil
	case reflect.Slice:
		items, err := g.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key %s is not a string", t.Key())
		}
		vals, err := g.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "object", "additionalProperties": vals}, nil
	case reflect.Struct:
		name := schemaNames[t]
		if name == "" {
			r := []rune(t.Name())
			r[0] = unicode.ToUpper(r[0])
			name = string(r)
		}
		return g.component(name, t, func() (map[string]any, error) { return g.object(t, name) })
	}
	return nil, fmt.Errorf("no schema for type %s", t)
}

// component registers a named schema once and returns a reference to it.
func (g *schemaGen) component(name string, t reflect.Type, build func() (map[string]any, error)) (map[string]any, error) {
	ref := map[string]any{"$ref": schemaRef(name)}
	if owner, ok := g.owners[name]; ok {
		if owner != t {
			return nil, fmt.Errorf("schema name %s is claimed by %s and %s", name, owner, t)
		}
		return ref, nil
	}
	g.owners[name] = t
	s, err := build()
	if err != nil {
		return nil, err
	}
	g.schemas[name] = s
	return ref, nil
}

// object describes a struct from its json tags. Request types (named ...Request)
// require the fields tagged api:"required"; response types promise every field that
// is not omitempty, because encoding/json always writes those.
func (g *schemaGen) object(t reflect.Type, name string) (map[string]any, error) {
	request := strings.HasSuffix(t.Name(), "Request")
	props := map[string]any{}
	var required []string
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		jname, opts, _ := strings.Cut(tag, ",")
		if jname == "" {
			jname = f.Name
		}
		var s map[string]any
		if ref := f.Tag.Get("ref"); ref != "" {
			s = map[string]any{"$ref": schemaRef(ref)}
		} else {
			var err error
			if s, err = g.schema(f.Type); err != nil {
				return nil, fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
			}
		}
		desc := expandDefaults(f.Tag.Get("desc"))
		if desc == "" {
			desc = fieldDocs[name+"."+jname]
		}
		if desc != "" {
			if _, isRef := s["$ref"]; isRef {
				s = map[string]any{"allOf": []any{s}, "description": desc}
			} else {
				s = withDesc(s, desc)
			}
		}
		props[jname] = s
		if request && f.Tag.Get("api") == "required" || !request && !strings.Contains(opts, "omitempty") {
			required = append(required, jname)
		}
	}
	o := map[string]any{"type": "object", "properties": props}
	if request {
		o["additionalProperties"] = false
	}
	if len(required) > 0 {
		o["required"] = required
	}
	return o, nil
}

func withDesc(s map[string]any, desc string) map[string]any {
	out := maps.Clone(s) // s may be shared, e.g. intParam
	out["description"] = desc
	return out
}

// expandDefaults fills the {placeholders} of a field description with the values
// the code uses, so the document cannot drift from watan.ProviderSettings's
// defaults and bounds.
func expandDefaults(desc string) string {
	if !strings.Contains(desc, "{") {
		return desc
	}
	steady := watan.ProviderSettings{}.WithDefaults(watan.ProviderZnet)
	fixed := watan.ProviderSettings{Policy: watan.PollFixed}.WithDefaults(watan.ProviderZnet)
	barakat := watan.ProviderSettings{}.WithDefaults(watan.ProviderBarakat)
	return strings.NewReplacer(
		"{first_check_delay}", formatDuration(steady.FirstCheckDelay),
		"{poll_policy}", string(steady.Policy),
		"{poll_interval_steady}", formatDuration(steady.PollInterval),
		"{poll_interval_fixed}", formatDuration(fixed.PollInterval),
		"{max_in_flight}", strconv.Itoa(steady.MaxInFlight),
		"{max_max_in_flight}", strconv.Itoa(watan.MaxMaxInFlight),
		"{max_max_per_second}", strconv.Itoa(watan.MaxMaxPerSecond),
		"{connect_timeout}", formatDuration(steady.ConnectTimeout),
		"{request_timeout_znet}", formatDuration(steady.RequestTimeout),
		"{request_timeout_barakat}", formatDuration(barakat.RequestTimeout),
		"{max_request_timeout}", formatDuration(watan.MaxRequestTimeout),
		"{min_poll_interval}", formatDuration(watan.MinPollInterval),
		"{deadline}", formatDuration(steady.Deadline),
		"{min_deadline}", formatDuration(watan.MinDeadline),
	).Replace(desc)
}

// formatDuration writes d as people write it: "24h", "10m", "55s", "1m30s".
func formatDuration(d time.Duration) string {
	switch {
	case d != 0 && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d != 0 && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}
