package httpapi

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"watan"
	"watan/internal/breaker"
)

type createPackageRequest struct {
	Code     string  `json:"code" api:"required" desc:"the tenant's identifier for the package, what orders name"`
	Name     string  `json:"name" api:"required"`
	Price    *amount `json:"price" api:"required" desc:"unit price"`
	Currency string  `json:"currency" api:"required" desc:"ISO 4217 code, e.g. TRY"`
	Active   *bool   `json:"active" desc:"on sale; default true"`
}

type patchPackageRequest struct {
	Name   *string `json:"name"`
	Price  *amount `json:"price" desc:"unit price"`
	Active *bool   `json:"active"`
}

type putPackageRequest struct {
	Name   string  `json:"name" api:"required"`
	Price  *amount `json:"price" api:"required" desc:"unit price"`
	Active *bool   `json:"active" api:"required"`
}

type routingRequest struct {
	Mode               watan.RoutingMode `json:"mode" api:"required"`
	PrimaryProviderID  int64             `json:"primary_provider_id" desc:"provider account for mode auto"`
	FallbackProviderID int64             `json:"fallback_provider_id" desc:"tried once when the primary refuses (auto) or the stock is empty (codes)"`
	CodeGroupID        int64             `json:"code_group_id" desc:"code group for mode codes"`
}

type putMappingRequest struct {
	ProductID string            `json:"product_id" api:"required" desc:"the provider's product id"`
	Params    map[string]string `json:"params" desc:"extra parameters the provider needs, e.g. znet oyun and kupur"`
	Cost      *amount           `json:"cost" desc:"what one unit costs at this provider account, in its currency, when the provider's answer does not say; absent: none"`
}

type packageList struct {
	Packages   []watan.Package `json:"packages" desc:"ordered by code"`
	NextCursor string          `json:"next_cursor,omitempty" desc:"pass as cursor to read the next page; absent on the last page"`
}

type mappingList struct {
	Mappings   []watan.Mapping `json:"mappings" desc:"ordered by provider account id"`
	NextCursor string          `json:"next_cursor,omitempty" desc:"pass as cursor to read the next page; absent on the last page"`
}

func (h *Handler) createPackage(w http.ResponseWriter, r *http.Request) error {
	var req createPackageRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Price == nil {
		return invalid("price is required")
	}
	p := watan.Package{
		TenantID: tenantOf(r),
		Code:     req.Code,
		Name:     req.Name,
		Price:    watan.Amount(*req.Price),
		Currency: req.Currency,
		Active:   req.Active == nil || *req.Active,
	}
	p, err := h.catalog.CreatePackage(r.Context(), p)
	if err != nil {
		return fmt.Errorf("creating package: %w", err)
	}
	w.Header().Set("Location", Prefix+"/packages/"+p.Code)
	writeJSON(w, http.StatusCreated, p)
	return nil
}

func (h *Handler) listPackages(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	ps, next, err := h.catalog.ListPackagesPage(r.Context(), tenantOf(r), limit, cursor)
	if err != nil {
		return fmt.Errorf("listing packages: %w", err)
	}
	if ps == nil {
		ps = []watan.Package{}
	}
	writeJSON(w, http.StatusOK, packageList{Packages: ps, NextCursor: next})
	return nil
}

func (h *Handler) getPackage(w http.ResponseWriter, r *http.Request) error {
	p, err := h.findPackage(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (h *Handler) findPackage(r *http.Request) (watan.Package, error) {
	code := r.PathValue("code")
	p, err := h.catalog.FindPackage(r.Context(), tenantOf(r), code)
	if err != nil {
		return watan.Package{}, fmt.Errorf("finding package %q: %w", code, err)
	}
	return p, nil
}

// patchPackage changes only the fields present in the body. Read and write are two
// calls, so two concurrent PATCHes of different fields may lose one; management
// edits are rare and human-paced, which makes that acceptable here.
func (h *Handler) patchPackage(w http.ResponseWriter, r *http.Request) error {
	var req patchPackageRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p, err := h.findPackage(r)
	if err != nil {
		return err
	}
	if req.Name != nil {
		p.Name = *req.Name
	}
	if req.Price != nil {
		p.Price = watan.Amount(*req.Price)
	}
	if req.Active != nil {
		p.Active = *req.Active
	}
	return h.updatePackage(w, r, p)
}

// putPackage replaces the package's editable fields (name, price, active); all three
// are required so that a forgotten field is an error, not a silent reset.
func (h *Handler) putPackage(w http.ResponseWriter, r *http.Request) error {
	var req putPackageRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	switch {
	case req.Price == nil:
		return invalid("price is required")
	case req.Active == nil:
		return invalid("active is required")
	}
	p, err := h.findPackage(r)
	if err != nil {
		return err
	}
	p.Name, p.Price, p.Active = req.Name, watan.Amount(*req.Price), *req.Active
	return h.updatePackage(w, r, p)
}

func (h *Handler) updatePackage(w http.ResponseWriter, r *http.Request, p watan.Package) error {
	updated, err := h.catalog.UpdatePackage(r.Context(), p)
	if err != nil {
		return fmt.Errorf("updating package %q: %w", p.Code, err)
	}
	writeJSON(w, http.StatusOK, updated)
	return nil
}

func (h *Handler) putRouting(w http.ResponseWriter, r *http.Request) error {
	var req routingRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	switch req.Mode {
	case watan.RouteManual, watan.RouteCodes, watan.RouteAuto:
	case "":
		return invalid("mode is required: manual, codes or auto")
	default:
		return invalid("mode must be manual, codes or auto, not %q", req.Mode)
	}
	code := r.PathValue("code")
	p, err := h.catalog.SetRouting(r.Context(), tenantOf(r), code, watan.Routing{
		Mode:               req.Mode,
		PrimaryProviderID:  req.PrimaryProviderID,
		FallbackProviderID: req.FallbackProviderID,
		CodeGroupID:        req.CodeGroupID,
	})
	if err != nil {
		return fmt.Errorf("setting routing of package %q: %w", code, err)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (h *Handler) listMappings(w http.ResponseWriter, r *http.Request) error {
	p, err := h.findPackage(r)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	ms, next, err := h.catalog.ListMappingsPage(r.Context(), p.TenantID, p.ID, limit, cursor)
	if err != nil {
		return fmt.Errorf("listing mappings of package %q: %w", p.Code, err)
	}
	if ms == nil {
		ms = []watan.Mapping{}
	}
	writeJSON(w, http.StatusOK, mappingList{Mappings: ms, NextCursor: next})
	return nil
}

// mappingTarget resolves the package and provider account of a mapping route, both
// through tenant-scoped finds, so that another tenant's ids are a 404.
func (h *Handler) mappingTarget(r *http.Request) (watan.Package, watan.ProviderAccount, error) {
	paID, err := pathID(r, "provider_account_id", "provider account")
	if err != nil {
		return watan.Package{}, watan.ProviderAccount{}, err
	}
	p, err := h.findPackage(r)
	if err != nil {
		return watan.Package{}, watan.ProviderAccount{}, err
	}
	pa, err := h.catalog.FindProviderAccount(r.Context(), tenantOf(r), paID)
	if err != nil {
		return watan.Package{}, watan.ProviderAccount{}, fmt.Errorf("finding provider account %d: %w", paID, err)
	}
	return p, pa, nil
}

func (h *Handler) getMapping(w http.ResponseWriter, r *http.Request) error {
	p, pa, err := h.mappingTarget(r)
	if err != nil {
		return err
	}
	m, err := h.catalog.FindMapping(r.Context(), p.TenantID, p.ID, pa.ID)
	if err != nil {
		return fmt.Errorf("finding mapping of package %q to provider account %d: %w", p.Code, pa.ID, err)
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (h *Handler) putMapping(w http.ResponseWriter, r *http.Request) error {
	var req putMappingRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.ProductID == "" {
		return invalid("product_id is required")
	}
	p, pa, err := h.mappingTarget(r)
	if err != nil {
		return err
	}
	m, err := h.catalog.PutMapping(r.Context(), watan.Mapping{
		TenantID:          p.TenantID,
		PackageID:         p.ID,
		ProviderAccountID: pa.ID,
		ProductID:         req.ProductID,
		Params:            req.Params,
		Cost:              (*watan.Amount)(req.Cost),
	})
	if err != nil {
		return fmt.Errorf("storing mapping of package %q to provider account %d: %w", p.Code, pa.ID, err)
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// settingsRequest carries provider settings; an absent field keeps its current
// value (on create: its default).
type settingsRequest struct {
	FirstCheckDelay *duration         `json:"first_check_delay" desc:"wait before the first status check; default {first_check_delay}; negative means at once"`
	PollPolicy      *watan.PollPolicy `json:"poll_policy" desc:"steady, exponential, fixed or adaptive (learns the account's completion times and checks when answers are likely); default {poll_policy}"`
	PollInterval    *duration         `json:"poll_interval" desc:"interval of the steady and fixed policies, target detection delay of adaptive; at least {min_poll_interval}; default {poll_interval_steady} (steady), {poll_interval_fixed} (fixed)"`
	MaxInFlight     *int              `json:"max_in_flight" desc:"concurrent calls to this account, 1 to {max_max_in_flight}; default {max_in_flight}"`
	MaxPerSecond    *int              `json:"max_per_second" desc:"calls a second to this account, across every node on PostgreSQL, at most {max_max_per_second}; default 0: no bound beyond max_in_flight"`
	ConnectTimeout  *duration         `json:"connect_timeout" desc:"at most {max_request_timeout}; default {connect_timeout}"`
	RequestTimeout  *duration         `json:"request_timeout" desc:"at most {max_request_timeout}; default {request_timeout_znet} for znet, {request_timeout_barakat} for barakat"`
	Deadline        *duration         `json:"deadline" desc:"how long after its creation an order may stay pending at this account before it is rejected and refunded; at least {min_deadline}; default {deadline}"`
	OrderUUID       *watan.RefFormat  `json:"order_uuid" desc:"barakat only: numeric (default) sends the 15-digit reference as order_uuid, uuid sends a version 5 UUID derived from it (for a store that enforces UUIDs); new orders only"`
}

// apply copies the fields present onto to; the service checks the result.
func (s *settingsRequest) apply(to *watan.ProviderSettings) {
	if s == nil {
		return
	}
	set := func(dst *time.Duration, src *duration) {
		if src != nil {
			*dst = time.Duration(*src)
		}
	}
	set(&to.FirstCheckDelay, s.FirstCheckDelay)
	set(&to.PollInterval, s.PollInterval)
	set(&to.ConnectTimeout, s.ConnectTimeout)
	set(&to.RequestTimeout, s.RequestTimeout)
	set(&to.Deadline, s.Deadline)
	if s.PollPolicy != nil {
		to.Policy = *s.PollPolicy
	}
	if s.MaxInFlight != nil {
		to.MaxInFlight = *s.MaxInFlight
	}
	if s.MaxPerSecond != nil {
		to.MaxPerSecond = *s.MaxPerSecond
	}
	if s.OrderUUID != nil {
		to.OrderUUID = *s.OrderUUID
	}
}

// settingsView shows the settings in effect, defaults filled in, as operators need
// to see what the engine will do rather than what was left unset.
type settingsView struct {
	FirstCheckDelay duration         `json:"first_check_delay"`
	PollPolicy      watan.PollPolicy `json:"poll_policy"`
	PollInterval    duration         `json:"poll_interval"`
	MaxInFlight     int              `json:"max_in_flight"`
	MaxPerSecond    int              `json:"max_per_second"`
	ConnectTimeout  duration         `json:"connect_timeout"`
	RequestTimeout  duration         `json:"request_timeout"`
	Deadline        duration         `json:"deadline"`
	OrderUUID       watan.RefFormat  `json:"order_uuid"`
}

type createProviderAccountRequest struct {
	Kind        watan.ProviderKind `json:"kind" api:"required" desc:"znet, barakat or watan (another watan tenant, through its API)"`
	Name        string             `json:"name" api:"required"`
	BaseURL     string             `json:"base_url" api:"required"`
	Credentials map[string]string  `json:"credentials" desc:"write-only secrets: znet kod and sifre, barakat token, watan api_key and account (our customer account code upstream); never returned"`
	Settings    *settingsRequest   `json:"settings"`
	Active      *bool              `json:"active" desc:"default true"`
	Currency    string             `json:"currency" desc:"what the provider prices in; default TRY"`
	LowBalance  *amount            `json:"low_balance_threshold" desc:"a reported balance below this raises a low_balance event, a metric and a badge; absent: none"`
}

type patchProviderAccountRequest struct {
	Name        *string            `json:"name"`
	BaseURL     *string            `json:"base_url"`
	Credentials map[string]*string `json:"credentials" desc:"write-only; merged into the stored ones: a key set to null or \"\" is removed"`
	Settings    *settingsRequest   `json:"settings" desc:"merged into the current settings"`
	Active      *bool              `json:"active"`
	Paused      *bool              `json:"paused" desc:"false resumes dispatch after a pause"`
	Currency    *string            `json:"currency"`
	LowBalance  *amount            `json:"low_balance_threshold" desc:"\"0\" removes the threshold"`
}

// providerAccountView is a provider account as the API shows it: credentials are
// reduced to the names of the keys that are set, so that an operator can tell what is
// configured while the values never leave the server.
type providerAccountView struct {
	ID             int64              `json:"id"`
	Name           string             `json:"name"`
	Kind           watan.ProviderKind `json:"kind"`
	BaseURL        string             `json:"base_url"`
	Settings       settingsView       `json:"settings"`
	CredentialKeys []string           `json:"credential_keys" desc:"names of the credentials that are set; the values are never returned"`
	Active         bool               `json:"active"`
	Paused         bool               `json:"paused" desc:"an operator's hold: placements wait or go to the fallback until resumed"`
	PausedReason   string             `json:"paused_reason,omitempty"`
	Currency       string             `json:"currency" desc:"what the provider prices in: its reported and configured costs"`
	LowBalance     *watan.Amount      `json:"low_balance_threshold,omitempty"`
	Circuit        *circuitView       `json:"circuit,omitempty" desc:"the circuit breaker of this account in the serving process"`
	CreatedAt      time.Time          `json:"created_at"`
	UpdatedAt      time.Time          `json:"updated_at"`
}

// circuitView is a provider account's circuit breaker.
type circuitView struct {
	State               breaker.State `json:"state" desc:"closed (placements go out), open (they wait or go to the fallback until until), half_open (a few trial placements go out)"`
	Since               time.Time     `json:"since"`
	Until               *time.Time    `json:"until,omitempty" desc:"when an open circuit half-opens"`
	Reason              string        `json:"reason,omitempty" desc:"why it opened"`
	Calls               int           `json:"calls" desc:"provider calls in the sliding window"`
	Failures            int           `json:"failures" desc:"of which failed (transient or misconfiguration)"`
	Misconfigured       int           `json:"misconfigured" desc:"of which misconfiguration signals (HTML or empty answers, 401)"`
	FailedInARow        int           `json:"failed_in_a_row"`
	MisconfiguredInARow int           `json:"misconfigured_in_a_row"`
	Opened              int           `json:"opened" desc:"times it opened since the process started"`
}

func viewCircuit(s breaker.Snapshot) *circuitView {
	v := &circuitView{State: s.State, Since: s.Since, Reason: s.Reason, Calls: s.Counts.Calls, Failures: s.Counts.Failures,
		Misconfigured: s.Counts.Misconfigured, FailedInARow: s.Counts.FailedInARow,
		MisconfiguredInARow: s.Counts.MisconfiguredInARow, Opened: s.Counts.Opened}
	if !s.Until.IsZero() {
		v.Until = &s.Until
	}
	return v
}

type providerAccountList struct {
	ProviderAccounts []providerAccountView `json:"provider_accounts" desc:"in creation order"`
	NextCursor       string                `json:"next_cursor,omitempty" desc:"pass as cursor to read the next page; absent on the last page"`
}

// viewProviderAccount shows p, with its circuit breaker when this process runs an
// engine.
func (h *Handler) viewProviderAccount(p watan.ProviderAccount) providerAccountView {
	v := viewProviderAccount(p)
	if h.health != nil {
		v.Circuit = viewCircuit(h.health.Circuit(p.ID))
	}
	return v
}

func viewProviderAccount(p watan.ProviderAccount) providerAccountView {
	s := p.Settings.WithDefaults(p.Kind)
	keys := slices.Sorted(maps.Keys(p.Credentials))
	if keys == nil {
		keys = []string{}
	}
	return providerAccountView{
		ID:      p.ID,
		Name:    p.Name,
		Kind:    p.Kind,
		BaseURL: p.BaseURL,
		Settings: settingsView{
			FirstCheckDelay: duration(s.FirstCheckDelay),
			PollPolicy:      s.Policy,
			PollInterval:    duration(s.PollInterval),
			MaxInFlight:     s.MaxInFlight,
			MaxPerSecond:    s.MaxPerSecond,
			ConnectTimeout:  duration(s.ConnectTimeout),
			RequestTimeout:  duration(s.RequestTimeout),
			Deadline:        duration(s.Deadline),
			OrderUUID:       s.OrderUUID,
		},
		CredentialKeys: keys,
		Active:         p.Active,
		Paused:         p.Paused,
		PausedReason:   p.PausedReason,
		Currency:       p.Currency,
		LowBalance:     p.LowBalanceThreshold,
		CreatedAt:      p.CreatedAt,
		UpdatedAt:      p.UpdatedAt,
	}
}

func (h *Handler) createProviderAccount(w http.ResponseWriter, r *http.Request) error {
	var req createProviderAccountRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if !req.Kind.Valid() {
		return invalid("kind must be znet, barakat or watan, not %q", req.Kind)
	}
	p := watan.ProviderAccount{
		TenantID:    tenantOf(r),
		Name:        req.Name,
		Kind:        req.Kind,
		BaseURL:     req.BaseURL,
		Credentials: make(map[string]watan.Secret, len(req.Credentials)),
		Active:      req.Active == nil || *req.Active,
		Currency:    req.Currency,
	}
	if req.LowBalance != nil {
		p.LowBalanceThreshold = (*watan.Amount)(req.LowBalance)
	}
	for k, v := range req.Credentials {
		if v != "" {
			p.Credentials[k] = watan.Secret(v)
		}
	}
	req.Settings.apply(&p.Settings)
	if err := h.checkSettings(p.Kind, p.Settings); err != nil {
		return err
	}
	if err := h.checkTarget(p.BaseURL); err != nil {
		return err
	}
	p, err := h.catalog.CreateProviderAccount(r.Context(), p)
	if err != nil {
		return fmt.Errorf("creating provider account: %w", err)
	}
	w.Header().Set("Location", fmt.Sprintf("%s/provider-accounts/%d", Prefix, p.ID))
	writeJSON(w, http.StatusCreated, h.viewProviderAccount(p))
	return nil
}

func (h *Handler) listProviderAccounts(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	ps, next, err := h.catalog.ListProviderAccountsPage(r.Context(), tenantOf(r), limit, cursor)
	if err != nil {
		return fmt.Errorf("listing provider accounts: %w", err)
	}
	out := providerAccountList{ProviderAccounts: make([]providerAccountView, 0, len(ps)), NextCursor: next}
	for _, p := range ps {
		out.ProviderAccounts = append(out.ProviderAccounts, h.viewProviderAccount(p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) findProviderAccount(r *http.Request) (watan.ProviderAccount, error) {
	id, err := pathID(r, "id", "provider account")
	if err != nil {
		return watan.ProviderAccount{}, err
	}
	p, err := h.catalog.FindProviderAccount(r.Context(), tenantOf(r), id)
	if err != nil {
		return watan.ProviderAccount{}, fmt.Errorf("finding provider account %d: %w", id, err)
	}
	return p, nil
}

func (h *Handler) getProviderAccount(w http.ResponseWriter, r *http.Request) error {
	p, err := h.findProviderAccount(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.viewProviderAccount(p))
	return nil
}

// patchProviderAccount changes the fields present in the body; like patchPackage it
// reads then writes.
func (h *Handler) patchProviderAccount(w http.ResponseWriter, r *http.Request) error {
	var req patchProviderAccountRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p, err := h.findProviderAccount(r)
	if err != nil {
		return err
	}
	if req.Name != nil {
		p.Name = *req.Name
	}
	if req.BaseURL != nil {
		if err := h.checkTarget(*req.BaseURL); err != nil {
			return err
		}
		p.BaseURL = *req.BaseURL
	}
	if len(req.Credentials) == 0 {
		p.Credentials = nil // the service keeps the stored ones
	} else {
		creds := maps.Clone(p.Credentials)
		if creds == nil {
			creds = map[string]watan.Secret{}
		}
		for k, v := range req.Credentials {
			if v == nil || *v == "" {
				delete(creds, k)
			} else {
				creds[k] = watan.Secret(*v)
			}
		}
		p.Credentials = creds
	}
	req.Settings.apply(&p.Settings)
	if req.Active != nil {
		p.Active = *req.Active
	}
	if req.Currency != nil {
		p.Currency = *req.Currency
	}
	if req.LowBalance != nil {
		p.LowBalanceThreshold = (*watan.Amount)(req.LowBalance)
		if *req.LowBalance == 0 {
			p.LowBalanceThreshold = nil
		}
	}
	// With an engine, a pause or resume is the operator's action (on the
	// account's timeline; a resume also closes its circuit), after the rest.
	pauseByOperator := req.Paused != nil && h.operator != nil
	if req.Paused != nil && !pauseByOperator {
		p.Paused = *req.Paused
		if p.Paused && p.PausedReason == "" {
			p.PausedReason = "paused through the API"
		}
		if !p.Paused {
			p.PausedReason = ""
		}
	}
	if err := h.checkSettings(p.Kind, p.Settings); err != nil {
		return err
	}
	updated, err := h.catalog.UpdateProviderAccount(r.Context(), p)
	if err != nil {
		return fmt.Errorf("updating provider account %d: %w", p.ID, err)
	}
	if pauseByOperator {
		if *req.Paused {
			err = h.operator.PauseProvider(r.Context(), tenantOf(r), p.ID, "paused through the API", actorOf(r))
		} else {
			err = h.operator.ResumeProvider(r.Context(), tenantOf(r), p.ID, actorOf(r))
		}
		if err != nil {
			return fmt.Errorf("pausing provider account %d: %w", p.ID, err)
		}
		if updated, err = h.findProviderAccount(r); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, h.viewProviderAccount(updated))
	return nil
}
