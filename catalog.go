package watan

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Secret holds a credential (a password, a token). It prints, logs and marshals as
// "[redacted]" so that it cannot leak by accident; Reveal is the one way to read it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string { return redacted }

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return redacted }

// MarshalJSON never writes the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// ProviderKind names an upstream protocol.
type ProviderKind string

// Supported provider kinds.
const (
	ProviderZnet    ProviderKind = "znet"
	ProviderBarakat ProviderKind = "barakat"
	// ProviderWatan is another watan tenant (of another installation or of this
	// one) as an upstream, spoken to through its API.
	ProviderWatan ProviderKind = "watan"
)

// Valid reports whether k is a supported kind.
func (k ProviderKind) Valid() bool {
	return k == ProviderZnet || k == ProviderBarakat || k == ProviderWatan
}

// CredentialKeys lists, sorted, the credentials an account of kind k must have:
// no more (a misspelt key would be kept and never used) and no fewer.
func (k ProviderKind) CredentialKeys() []string {
	switch k {
	case ProviderZnet:
		return []string{"kod", "sifre"}
	case ProviderBarakat:
		return []string{"token"}
	case ProviderWatan:
		return []string{"account", "api_key"}
	}
	return nil
}

// ValidateCredentials returns an ECodeValidation error unless creds has exactly the
// keys kind k needs, each with a value.
func (k ProviderKind) ValidateCredentials(creds map[string]Secret) error {
	want := k.CredentialKeys()
	for _, key := range want {
		if v, ok := creds[key]; !ok || v == "" {
			return Errorf(ECodeValidation, "credentials of a %s account need %s; %q is missing", k, strings.Join(want, " and "), key)
		}
	}
	for key, v := range creds {
		if !slices.Contains(want, key) {
			return Errorf(ECodeValidation, "credentials of a %s account are %s; %q is not one of them", k, strings.Join(want, " and "), key)
		}
		if err := ValidateText("credential "+key, v.Reveal()); err != nil {
			return err
		}
	}
	return nil
}

// PollPolicy is how often a pending order is checked at its provider.
type PollPolicy string

// Polling policies.
const (
	// PollSteady checks every ProviderSettings.PollInterval (default 55 s) until the
	// order has been checked for 10 minutes, then every 10 minutes. Evenly spaced
	// checks keep the worst detection delay near one interval for the fewest
	// requests; see the README's monitoring figures.
	PollSteady PollPolicy = "steady"
	// PollExponential checks after 30 s, 1 m, 2 m, 4 m, 8 m, then every 10 m (the
	// system watan replaced, v1).
	PollExponential PollPolicy = "exponential"
	// PollFixed checks every ProviderSettings.PollInterval (default 30 s) forever
	// (the system watan replaced, v1.1).
	PollFixed PollPolicy = "fixed"
	// PollAdaptive learns the account's completion times from its recent orders
	// and checks when answers are likely, aiming at a 99th-percentile detection
	// delay of PollInterval (default 55 s); steady until it has learned enough.
	// See the README's monitoring figures.
	PollAdaptive PollPolicy = "adaptive"
)

// Valid reports whether p is a known policy.
func (p PollPolicy) Valid() bool {
	return p == PollSteady || p == PollExponential || p == PollFixed || p == PollAdaptive
}

// ProviderSettings tune how the engine treats one provider account. The zero value of
// each field means "use the default" documented on it; see WithDefaults.
type ProviderSettings struct {
	// FirstCheckDelay is the wait between sending an order and its first status check.
	// Default 55 s (with the default policy, one interval). A negative value means
	// check at once.
	FirstCheckDelay time.Duration `json:"first_check_delay"`
	// Policy is the schedule of later checks. Default PollSteady.
	Policy PollPolicy `json:"poll_policy"`
	// PollInterval is the steady and fixed policies' interval, and the adaptive
	// policy's target detection delay. Default 55 s for steady and adaptive, 30 s
	// for fixed.
	PollInterval time.Duration `json:"poll_interval"`
	// MaxInFlight bounds concurrent calls to this account. Default 8. On
	// PostgreSQL it holds across every node; on SQLite within the one process.
	MaxInFlight int `json:"max_in_flight"`
	// MaxPerSecond bounds the calls a second to this account, across every node on
	// PostgreSQL, for dealers that suspend accounts going faster. Default 0: no
	// bound beyond MaxInFlight.
	MaxPerSecond int `json:"max_per_second,omitempty"`
	// ConnectTimeout bounds dialing. Default 5 s.
	ConnectTimeout time.Duration `json:"connect_timeout"`
	// RequestTimeout bounds a whole call. Default 20 s for znet, 30 s for barakat.
	RequestTimeout time.Duration `json:"request_timeout"`
	// Deadline is how long after its creation an order may stay pending at this
	// account before it is rejected and refunded: it is never placed past it, and it
	// expires when the provider has not answered finally by then. An operator's
	// re-dispatch starts the clock again. Default 24 h.
	Deadline time.Duration `json:"deadline"`
	// OrderUUID is the form of the reference sent as barakat's order_uuid:
	// RefNumeric (default: the 15-digit reference) or RefUUID (a UUID derived from
	// it, for a store that enforces UUIDs). Only barakat accounts may set RefUUID.
	OrderUUID RefFormat `json:"order_uuid,omitempty"`
}

// RefFormat is the form of the reference a provider account receives.
type RefFormat string

// Reference forms.
const (
	// RefNumeric sends the reference as it is: "1", the order id in 12 digits and
	// the placement number in 2.
	RefNumeric RefFormat = "numeric"
	// RefUUID sends a version 5 UUID derived from the numeric reference in
	// watan's namespace: the same reference always yields the same UUID, so a
	// repeat is still recognised as the same order. The UUID is what the order
	// stores as its reference.
	RefUUID RefFormat = "uuid"
)

// Valid reports whether f is a known reference form.
func (f RefFormat) Valid() bool { return f == RefNumeric || f == RefUUID }

// Defaults for ProviderSettings.
const (
	DefaultFirstCheckDelay = 55 * time.Second
	DefaultSteadyInterval  = 55 * time.Second
	DefaultPollInterval    = 30 * time.Second // the fixed policy's
	DefaultMaxInFlight     = 8
	DefaultConnectTimeout  = 5 * time.Second
	DefaultDeadline        = 24 * time.Hour
)

// Bounds of ProviderSettings. A zero value still means "the default".
const (
	MinPollInterval   = time.Second
	MaxMaxInFlight    = 256
	MaxMaxPerSecond   = 1000
	MaxRequestTimeout = 60 * time.Second
	MinDeadline       = 10 * time.Minute
)

// Validate returns an ECodeValidation error naming the first setting out of its
// bounds: poll interval at least 1 s, in-flight calls 1–256, calls a second
// 0–1000, connect and request
// timeouts at most 60 s, deadline at least 10 min. (A negative first-check delay is
// the documented "check at once".)
func (s ProviderSettings) Validate() error {
	switch {
	case s.Policy != "" && !s.Policy.Valid():
		return Errorf(ECodeValidation, "poll_policy %q is not steady, exponential, fixed or adaptive", s.Policy)
	case s.PollInterval != 0 && s.PollInterval < MinPollInterval:
		return Errorf(ECodeValidation, "poll_interval must be at least %s", MinPollInterval)
	case s.MaxInFlight < 0 || s.MaxInFlight > MaxMaxInFlight:
		return Errorf(ECodeValidation, "max_in_flight must be between 1 and %d", MaxMaxInFlight)
	case s.MaxPerSecond < 0 || s.MaxPerSecond > MaxMaxPerSecond:
		return Errorf(ECodeValidation, "max_per_second must be a whole number between 0 (no bound) and %d", MaxMaxPerSecond)
	case s.ConnectTimeout < 0 || s.ConnectTimeout > MaxRequestTimeout:
		return Errorf(ECodeValidation, "connect_timeout must be between 0 and %s", MaxRequestTimeout)
	case s.RequestTimeout < 0 || s.RequestTimeout > MaxRequestTimeout:
		return Errorf(ECodeValidation, "request_timeout must be between 0 and %s", MaxRequestTimeout)
	case s.Deadline != 0 && s.Deadline < MinDeadline:
		return Errorf(ECodeValidation, "deadline must be at least %s", MinDeadline)
	case s.FirstCheckDelay > s.WithDefaults(ProviderZnet).Deadline:
		return Errorf(ECodeValidation, "first_check_delay must be shorter than the deadline")
	case s.OrderUUID != "" && !s.OrderUUID.Valid():
		return Errorf(ECodeValidation, "order_uuid %q is not numeric or uuid", s.OrderUUID)
	}
	return nil
}

// ValidateFor returns an ECodeValidation error for settings that kind cannot
// use: a UUID reference reaches only barakat, whose order_uuid carries any text
// (znet refuses anything but digits).
func (s ProviderSettings) ValidateFor(kind ProviderKind) error {
	if s.OrderUUID == RefUUID && kind != ProviderBarakat {
		return Errorf(ECodeValidation, "order_uuid uuid applies to barakat accounts only, not %s", kind)
	}
	return nil
}

// WithDefaults returns s with every unset field given its default for kind.
func (s ProviderSettings) WithDefaults(kind ProviderKind) ProviderSettings {
	if s.FirstCheckDelay == 0 {
		s.FirstCheckDelay = DefaultFirstCheckDelay
	}
	if s.FirstCheckDelay < 0 {
		s.FirstCheckDelay = 0
	}
	if s.Policy == "" {
		s.Policy = PollSteady
	}
	if s.PollInterval <= 0 {
		s.PollInterval = DefaultPollInterval
		if s.Policy == PollSteady || s.Policy == PollAdaptive {
			s.PollInterval = DefaultSteadyInterval
		}
	}
	if s.MaxInFlight <= 0 {
		s.MaxInFlight = DefaultMaxInFlight
	}
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = DefaultConnectTimeout
	}
	if s.RequestTimeout <= 0 {
		s.RequestTimeout = 20 * time.Second
		if kind == ProviderBarakat {
			s.RequestTimeout = 30 * time.Second
		}
	}
	if s.Deadline <= 0 {
		s.Deadline = DefaultDeadline
	}
	if s.OrderUUID == "" {
		s.OrderUUID = RefNumeric
	}
	return s
}

// ProviderAccount is a tenant's credentials and settings for one upstream provider.
// Credentials are write-only through the API: they are never returned.
type ProviderAccount struct {
	ID       int64            `json:"id"`
	TenantID int64            `json:"-"`
	Name     string           `json:"name"`
	Kind     ProviderKind     `json:"kind"`
	BaseURL  string           `json:"base_url"`
	Settings ProviderSettings `json:"settings"`
	// Credentials are the kind's secrets: znet "kod" and "sifre", barakat "token",
	// watan "api_key" and "account" (our customer account's code upstream).
	Credentials map[string]Secret `json:"-"`
	Active      bool              `json:"active"`
	// Paused stops dispatch to this account until an operator resumes it: an
	// operator's hold (the automatic one is the engine's circuit breaker).
	Paused       bool   `json:"paused"`
	PausedReason string `json:"paused_reason,omitempty"`
	// Currency is what the provider prices in (its reported and configured
	// costs). Default TRY, what znet and barakat price in.
	Currency string `json:"currency"`
	// LowBalanceThreshold raises a low_balance event, a metric and a badge when
	// the provider reports a balance below it; nil for none.
	LowBalanceThreshold *Amount   `json:"low_balance_threshold,omitempty"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
}

// ProviderEvent is one entry of a provider account's timeline: its circuit breaker
// changing state, an operator pausing or resuming it.
type ProviderEvent struct {
	ID                int64     `json:"id"`
	TenantID          int64     `json:"-"`
	ProviderAccountID int64     `json:"provider_account_id"`
	At                time.Time `json:"at"`
	Actor             Actor     `json:"actor"`
	Kind              string    `json:"kind"`
	Message           string    `json:"message"`
}

// Provider event kinds.
const (
	ProviderEventCircuitOpen     = "circuit_open"
	ProviderEventCircuitHalfOpen = "circuit_half_open"
	ProviderEventCircuitClosed   = "circuit_closed"
	ProviderEventPaused          = "paused"
	ProviderEventResumed         = "resumed"
	ProviderEventLowBalance      = "low_balance"
)

// RoutingMode says how orders for a package are fulfilled.
type RoutingMode string

// Routing modes.
const (
	RouteManual RoutingMode = "manual" // an operator fulfils it
	RouteCodes  RoutingMode = "codes"  // a stored code from a code group
	RouteAuto   RoutingMode = "auto"   // an upstream provider account
)

// Routing of a package. For RouteAuto, PrimaryProviderID is required and
// FallbackProviderID optional. For RouteCodes, CodeGroupID is required and
// FallbackProviderID, if set, serves orders when the stock is empty.
type Routing struct {
	Mode               RoutingMode `json:"mode"`
	PrimaryProviderID  int64       `json:"primary_provider_id,omitempty"`
	FallbackProviderID int64       `json:"fallback_provider_id,omitempty"`
	CodeGroupID        int64       `json:"code_group_id,omitempty"`
}

// Package is something a tenant sells.
type Package struct {
	ID        int64     `json:"id"`
	TenantID  int64     `json:"-"`
	Code      string    `json:"code"` // unique per tenant; what API clients order by
	Name      string    `json:"name"`
	Price     Amount    `json:"price"`
	Currency  string    `json:"currency"`
	Active    bool      `json:"active"`
	Routing   Routing   `json:"routing"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Mapping tells how one package is ordered from one provider account: the provider's
// product id and the extra parameters it needs (znet: "oyun" and "kupur").
type Mapping struct {
	TenantID          int64             `json:"-"`
	PackageID         int64             `json:"package_id"`
	ProviderAccountID int64             `json:"provider_account_id"`
	ProductID         string            `json:"product_id"`
	Params            map[string]string `json:"params,omitempty"`
	// Cost is what one unit costs at this provider account, in the account's
	// currency, when the provider does not say; nil if not configured.
	Cost *Amount `json:"cost,omitempty"`
}

// CodeGroup is a stock of PINs.
type CodeGroup struct {
	ID        int64  `json:"id"`
	TenantID  int64  `json:"-"`
	Name      string `json:"name"`
	Available int    `json:"available"` // codes not yet handed out
	Used      int    `json:"used"`
	// Currency of the codes' costs. Default TRY.
	Currency  string    `json:"currency"`
	CreatedAt time.Time `json:"created_at"`
}

// CodeItem is one stored PIN. It is handed to at most one order, ever. The PIN
// itself is never listed: an unused one is stock that has not been sold, and a used
// one is the PIN of its order.
type CodeItem struct {
	ID        int64      `json:"id"`
	TenantID  int64      `json:"-"`
	GroupID   int64      `json:"group_id"`
	PIN       string     `json:"-"`
	Status    CodeStatus `json:"status"`
	OrderID   int64      `json:"order_id,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
}

// CodeStatus says whether a stored code was handed out.
type CodeStatus string

// Code statuses.
const (
	CodeAvailable CodeStatus = "available" // not handed out yet
	CodeUsed      CodeStatus = "used"      // handed to an order, for good
)

// Valid reports whether s is a known code status.
func (s CodeStatus) Valid() bool { return s == CodeAvailable || s == CodeUsed }

// ImportResult reports a code import: codes already in the group are skipped, not
// duplicated.
type ImportResult struct {
	Added   int `json:"added"`
	Skipped int `json:"skipped"`
}

// CatalogService manages what a tenant sells and where it comes from.
type CatalogService interface {
	CreateProviderAccount(ctx context.Context, p ProviderAccount) (ProviderAccount, error)
	UpdateProviderAccount(ctx context.Context, p ProviderAccount) (ProviderAccount, error)
	FindProviderAccount(ctx context.Context, tenantID, id int64) (ProviderAccount, error)
	ListProviderAccounts(ctx context.Context, tenantID int64) ([]ProviderAccount, error)
	// ListProviderAccountsPage returns one page of the tenant's provider accounts in
	// creation order.
	ListProviderAccountsPage(ctx context.Context, tenantID int64, limit int, cursor string) (accounts []ProviderAccount, next string, err error)

	CreatePackage(ctx context.Context, p Package) (Package, error)
	UpdatePackage(ctx context.Context, p Package) (Package, error)
	FindPackage(ctx context.Context, tenantID int64, code string) (Package, error)
	ListPackages(ctx context.Context, tenantID int64) ([]Package, error)
	// ListPackagesPage returns one page of the tenant's packages ordered by code.
	ListPackagesPage(ctx context.Context, tenantID int64, limit int, cursor string) (packages []Package, next string, err error)
	// SetRouting validates that referenced provider accounts and code groups belong to
	// the tenant before storing.
	SetRouting(ctx context.Context, tenantID int64, packageCode string, r Routing) (Package, error)

	PutMapping(ctx context.Context, m Mapping) (Mapping, error)
	ListMappings(ctx context.Context, tenantID, packageID int64) ([]Mapping, error)
	// ListMappingsPage returns one page of the package's mappings ordered by
	// provider account.
	ListMappingsPage(ctx context.Context, tenantID, packageID int64, limit int, cursor string) (mappings []Mapping, next string, err error)
	FindMapping(ctx context.Context, tenantID, packageID, providerAccountID int64) (Mapping, error)

	CreateCodeGroup(ctx context.Context, tenantID int64, name string) (CodeGroup, error)
	FindCodeGroup(ctx context.Context, tenantID, id int64) (CodeGroup, error)
	ListCodeGroups(ctx context.Context, tenantID int64) ([]CodeGroup, error)
	// ListCodeGroupsPage returns one page of the tenant's code groups in creation
	// order.
	ListCodeGroupsPage(ctx context.Context, tenantID int64, limit int, cursor string) (groups []CodeGroup, next string, err error)
	// ListCodes returns one page of the group's codes in import order, without
	// their PINs: at most limit (default 100, at most 1000) after cursor, only
	// those with status if it is set.
	ListCodes(ctx context.Context, tenantID, groupID int64, status CodeStatus, limit int, cursor string) (codes []CodeItem, next string, err error)
	ImportCodes(ctx context.Context, tenantID, groupID int64, pins []string) (ImportResult, error)
	// ImportCodesCost imports as ImportCodes does and gives every new code the cost
	// (in the group's currency; nil for none).
	ImportCodesCost(ctx context.Context, tenantID, groupID int64, pins []string, cost *Amount) (ImportResult, error)
}
