package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"watan"
)

// Provider accounts.

const providerColumns = `id, tenant_id, name, kind, base_url, credentials, settings, active, paused, paused_reason,
	created_at, updated_at, currency, low_balance_threshold`

func (s *Store) scanProvider(r rowScanner) (watan.ProviderAccount, error) {
	var (
		p   watan.ProviderAccount
		raw json.RawMessage
	)
	err := r.Scan(&p.ID, &p.TenantID, &p.Name, &p.Kind, &p.BaseURL, jsonCol{&raw}, jsonCol{&p.Settings},
		&p.Active, &p.Paused, &p.PausedReason, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}, &p.Currency,
		nullAmountCol{&p.LowBalanceThreshold})
	if err != nil {
		return watan.ProviderAccount{}, err
	}
	if p.Credentials, err = s.openCredentials(raw); err != nil {
		return watan.ProviderAccount{}, fmt.Errorf("provider account %d: %w", p.ID, err)
	}
	return p, nil
}

// checkProvider checks an account before it is stored; creating requires its
// credentials, which an update may leave out (nil) to keep the stored ones.
func checkProvider(p *watan.ProviderAccount, creating bool) error {
	if err := checkName("name", p.Name); err != nil {
		return err
	}
	if !p.Kind.Valid() {
		return watan.Errorf(watan.ECodeValidation, "kind %q is not a supported provider (znet, barakat, watan)", p.Kind)
	}
	u, uerr := url.Parse(p.BaseURL)
	if uerr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return watan.Errorf(watan.ECodeValidation, "base_url must be an http or https URL")
	}
	// The operator-facing bounds (watan.ProviderSettings.Validate) are the API's
	// to enforce; the store refuses only what cannot work at all.
	st := p.Settings
	switch {
	case st.Policy != "" && !st.Policy.Valid():
		return watan.Errorf(watan.ECodeValidation, "poll_policy %q is not steady, exponential, fixed or adaptive", st.Policy)
	case st.PollInterval < 0, st.ConnectTimeout < 0, st.RequestTimeout < 0, st.Deadline < 0:
		return watan.Errorf(watan.ECodeValidation, "intervals and timeouts must not be negative")
	case st.MaxInFlight < 0:
		return watan.Errorf(watan.ECodeValidation, "max_in_flight must not be negative")
	case st.OrderUUID != "" && !st.OrderUUID.Valid():
		return watan.Errorf(watan.ECodeValidation, "order_uuid %q is not numeric or uuid", st.OrderUUID)
	}
	if err := st.ValidateFor(p.Kind); err != nil {
		return err
	}
	if p.Currency == "" {
		p.Currency = DefaultCurrency
	}
	cur, err := normCurrency(p.Currency)
	if err != nil {
		return err
	}
	p.Currency = cur
	if t := p.LowBalanceThreshold; t != nil && (*t < 0 || *t > watan.MaxAmount) {
		return watan.Errorf(watan.ECodeValidation, "low_balance_threshold must be between 0 and %s", watan.MaxAmount)
	}
	if len(p.PausedReason) > watan.MaxNoteLen {
		return watan.Errorf(watan.ECodeValidation, "paused_reason must be at most %d bytes", watan.MaxNoteLen)
	}
	if p.Credentials == nil && !creating {
		return nil // an update that keeps the stored credentials
	}
	return p.Kind.ValidateCredentials(p.Credentials)
}

// CreateProviderAccount stores a provider account. Names are unique per tenant.
// Settings are stored as given, zero meaning "default", so that a later change of a
// default reaches accounts that never overrode it.
func (s *Store) CreateProviderAccount(ctx context.Context, p watan.ProviderAccount) (watan.ProviderAccount, error) {
	if err := checkProvider(&p, true); err != nil {
		return watan.ProviderAccount{}, err
	}
	creds, err := s.credentialsArg(p.Credentials)
	if err != nil {
		return watan.ProviderAccount{}, err
	}
	settings, err := jsonArg(p.Settings)
	if err != nil {
		return watan.ProviderAccount{}, err
	}
	now := s.now()
	var out watan.ProviderAccount
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		if err := tenantExists(ctx, tx, p.TenantID); err != nil {
			return err
		}
		out, err = s.scanProvider(tx.QueryRowContext(ctx, `INSERT INTO provider_accounts
			(tenant_id, name, kind, base_url, credentials, settings, active, paused, paused_reason, created_at, updated_at,
			 currency, low_balance_threshold)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12) RETURNING `+providerColumns,
			p.TenantID, p.Name, string(p.Kind), p.BaseURL, creds, settings, p.Active, p.Paused, p.PausedReason, s.ts(now),
			p.Currency, nullAmount(p.LowBalanceThreshold)))
		if isUniqueViolation(err) {
			return watan.Errorf(watan.ECodeConflict, "a provider account named %q already exists", p.Name)
		}
		if err != nil {
			return fmt.Errorf("store: create provider account: %w", err)
		}
		return nil
	})
	if err != nil {
		return watan.ProviderAccount{}, err
	}
	return out, nil
}

// UpdateProviderAccount replaces the account's fields, found by TenantID and ID.
// Credentials are write-only: a nil map keeps the stored ones, a non-nil map
// (even empty) replaces them.
func (s *Store) UpdateProviderAccount(ctx context.Context, p watan.ProviderAccount) (watan.ProviderAccount, error) {
	if err := checkProvider(&p, false); err != nil {
		return watan.ProviderAccount{}, err
	}
	settings, err := jsonArg(p.Settings)
	if err != nil {
		return watan.ProviderAccount{}, err
	}
	var creds any // NULL keeps the stored credentials
	if p.Credentials != nil {
		if creds, err = s.credentialsArg(p.Credentials); err != nil {
			return watan.ProviderAccount{}, err
		}
	}
	out, err := s.scanProvider(s.db.QueryRowContext(ctx, `UPDATE provider_accounts SET
		name = $1, kind = $2, base_url = $3, credentials = COALESCE($4, credentials), settings = $5,
		active = $6, paused = $7, paused_reason = $8, updated_at = $9, currency = $12, low_balance_threshold = $13
		WHERE tenant_id = $10 AND id = $11 RETURNING `+providerColumns,
		p.Name, string(p.Kind), p.BaseURL, creds, settings, p.Active, p.Paused, p.PausedReason, s.ts(s.now()),
		p.TenantID, p.ID, p.Currency, nullAmount(p.LowBalanceThreshold)))
	switch {
	case isNoRows(err):
		return watan.ProviderAccount{}, errNotFound("provider account", p.ID)
	case isUniqueViolation(err):
		return watan.ProviderAccount{}, watan.Errorf(watan.ECodeConflict, "a provider account named %q already exists", p.Name)
	case err != nil:
		return watan.ProviderAccount{}, fmt.Errorf("store: update provider account: %w", err)
	}
	return out, nil
}

// FindProviderAccount returns the tenant's provider account id, credentials
// included, or an ECodeNotFound error.
func (s *Store) FindProviderAccount(ctx context.Context, tenantID, id int64) (watan.ProviderAccount, error) {
	p, err := s.scanProvider(s.db.QueryRowContext(ctx,
		`SELECT `+providerColumns+` FROM provider_accounts WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if isNoRows(err) {
		return watan.ProviderAccount{}, errNotFound("provider account", id)
	}
	if err != nil {
		return watan.ProviderAccount{}, fmt.Errorf("store: find provider account: %w", err)
	}
	return p, nil
}

// ListProviderAccounts returns the tenant's provider accounts in creation order.
func (s *Store) ListProviderAccounts(ctx context.Context, tenantID int64) ([]watan.ProviderAccount, error) {
	return list(ctx, s.db, "list provider accounts", s.scanProvider,
		`SELECT `+providerColumns+` FROM provider_accounts WHERE tenant_id = $1 ORDER BY id`, tenantID)
}

// ListProviderAccountsPage implements watan.CatalogService: pages are keyed on
// the account's id.
func (s *Store) ListProviderAccountsPage(ctx context.Context, tenantID int64, limit int, cursor string) ([]watan.ProviderAccount, string, error) {
	size := pageSize(limit, MaxPage)
	var after int64
	if cursor != "" {
		var err error
		if after, err = decodeIDCursor("prov", cursor); err != nil {
			return nil, "", err
		}
	}
	ps, err := list(ctx, s.db, "list provider accounts", s.scanProvider, `SELECT `+providerColumns+` FROM provider_accounts
		WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenantID, after, size+1)
	if err != nil {
		return nil, "", err
	}
	ps, next := cutPage(ps, size, "prov", func(p watan.ProviderAccount) string { return idKey(p.ID) })
	return ps, next, nil
}

// Packages.

const packageColumns = `id, tenant_id, code, name, price, currency, active, routing_mode,
	COALESCE(primary_provider_id, 0), COALESCE(fallback_provider_id, 0), COALESCE(code_group_id, 0),
	created_at, updated_at`

func scanPackage(r rowScanner) (watan.Package, error) {
	var p watan.Package
	err := r.Scan(&p.ID, &p.TenantID, &p.Code, &p.Name, &p.Price, &p.Currency, &p.Active, &p.Routing.Mode,
		&p.Routing.PrimaryProviderID, &p.Routing.FallbackProviderID, &p.Routing.CodeGroupID,
		timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt})
	return p, err
}

func checkPackage(p *watan.Package) error {
	if err := checkCode("code", p.Code); err != nil {
		return err
	}
	if p.Name == "" {
		p.Name = p.Code
	}
	if err := checkName("name", p.Name); err != nil {
		return err
	}
	if err := checkAmount("price", p.Price); err != nil {
		return err
	}
	cur, err := normCurrency(p.Currency)
	if err != nil {
		return err
	}
	p.Currency = cur
	return nil
}

// checkRouting checks r's shape for its mode and that everything it references
// belongs to the tenant. A reference to another tenant's row reads as not existing.
func checkRouting(ctx context.Context, q querier, tenantID int64, r watan.Routing) error {
	switch r.Mode {
	case watan.RouteManual:
		if r.PrimaryProviderID != 0 || r.FallbackProviderID != 0 || r.CodeGroupID != 0 {
			return watan.Errorf(watan.ECodeValidation, "manual routing takes no provider account or code group")
		}
	case watan.RouteAuto:
		if r.PrimaryProviderID == 0 {
			return watan.Errorf(watan.ECodeValidation, "auto routing needs primary_provider_id")
		}
		if r.CodeGroupID != 0 {
			return watan.Errorf(watan.ECodeValidation, "auto routing takes no code group")
		}
	case watan.RouteCodes:
		if r.CodeGroupID == 0 {
			return watan.Errorf(watan.ECodeValidation, "codes routing needs code_group_id")
		}
		if r.PrimaryProviderID != 0 {
			return watan.Errorf(watan.ECodeValidation, "codes routing takes no primary provider; use fallback_provider_id")
		}
	default:
		return watan.Errorf(watan.ECodeValidation, "routing mode %q is not manual, codes or auto", r.Mode)
	}
	if r.FallbackProviderID != 0 && r.FallbackProviderID == r.PrimaryProviderID {
		return watan.Errorf(watan.ECodeValidation, "the fallback provider must differ from the primary")
	}
	for _, ref := range []struct {
		table, what string
		id          int64
	}{
		{"provider_accounts", "primary provider account", r.PrimaryProviderID},
		{"provider_accounts", "fallback provider account", r.FallbackProviderID},
		{"code_groups", "code group", r.CodeGroupID},
	} {
		if ref.id == 0 {
			continue
		}
		var one int
		err := q.QueryRowContext(ctx, `SELECT 1 FROM `+ref.table+` WHERE tenant_id = $1 AND id = $2`, tenantID, ref.id).Scan(&one)
		if isNoRows(err) {
			return watan.Errorf(watan.ECodeValidation, "%s %d does not exist", ref.what, ref.id)
		}
		if err != nil {
			return fmt.Errorf("store: check routing: %w", err)
		}
	}
	return nil
}

// CreatePackage stores a package. Codes are unique per tenant. An empty routing mode
// means manual; any other routing is checked as SetRouting does.
func (s *Store) CreatePackage(ctx context.Context, p watan.Package) (watan.Package, error) {
	if err := checkPackage(&p); err != nil {
		return watan.Package{}, err
	}
	if p.Routing.Mode == "" {
		p.Routing.Mode = watan.RouteManual
	}
	now := s.now()
	var out watan.Package
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := tenantExists(ctx, tx, p.TenantID); err != nil {
			return err
		}
		if err := checkRouting(ctx, tx, p.TenantID, p.Routing); err != nil {
			return err
		}
		var err error
		out, err = scanPackage(tx.QueryRowContext(ctx, `INSERT INTO packages
			(tenant_id, code, name, price, currency, active, routing_mode, primary_provider_id,
			 fallback_provider_id, code_group_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING `+packageColumns,
			p.TenantID, p.Code, p.Name, int64(p.Price), p.Currency, p.Active, string(p.Routing.Mode),
			nullID(p.Routing.PrimaryProviderID), nullID(p.Routing.FallbackProviderID), nullID(p.Routing.CodeGroupID),
			s.ts(now)))
		if isUniqueViolation(err) {
			return watan.Errorf(watan.ECodeConflict, "a package with code %q already exists", p.Code)
		}
		if err != nil {
			return fmt.Errorf("store: create package: %w", err)
		}
		return nil
	})
	if err != nil {
		return watan.Package{}, err
	}
	return out, nil
}

// UpdatePackage replaces the code, name, price, currency and active flag of the
// package found by TenantID and ID. Its routing is replaced too if p.Routing.Mode is
// set, and kept otherwise, so that a price change cannot wipe a routing by omission.
func (s *Store) UpdatePackage(ctx context.Context, p watan.Package) (watan.Package, error) {
	if err := checkPackage(&p); err != nil {
		return watan.Package{}, err
	}
	var out watan.Package
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		setRouting := p.Routing.Mode != ""
		if setRouting {
			if err := checkRouting(ctx, tx, p.TenantID, p.Routing); err != nil {
				return err
			}
		}
		var err error
		out, err = scanPackage(tx.QueryRowContext(ctx, `UPDATE packages SET
			code = $1, name = $2, price = $3, currency = $4, active = $5, updated_at = $6,
			routing_mode = CASE WHEN $7 THEN $8 ELSE routing_mode END,
			primary_provider_id = CASE WHEN $7 THEN $9 ELSE primary_provider_id END,
			fallback_provider_id = CASE WHEN $7 THEN $10 ELSE fallback_provider_id END,
			code_group_id = CASE WHEN $7 THEN $11 ELSE code_group_id END
			WHERE tenant_id = $12 AND id = $13 RETURNING `+packageColumns,
			p.Code, p.Name, int64(p.Price), p.Currency, p.Active, s.ts(s.now()),
			setRouting, string(p.Routing.Mode), nullID(p.Routing.PrimaryProviderID),
			nullID(p.Routing.FallbackProviderID), nullID(p.Routing.CodeGroupID),
			p.TenantID, p.ID))
		switch {
		case isNoRows(err):
			return errNotFound("package", p.ID)
		case isUniqueViolation(err):
			return watan.Errorf(watan.ECodeConflict, "a package with code %q already exists", p.Code)
		case err != nil:
			return fmt.Errorf("store: update package: %w", err)
		}
		return nil
	})
	if err != nil {
		return watan.Package{}, err
	}
	return out, nil
}

// FindPackage returns the tenant's package with code, or an ECodeNotFound error.
func (s *Store) FindPackage(ctx context.Context, tenantID int64, code string) (watan.Package, error) {
	p, err := scanPackage(s.db.QueryRowContext(ctx,
		`SELECT `+packageColumns+` FROM packages WHERE tenant_id = $1 AND code = $2`, tenantID, code))
	if isNoRows(err) {
		return watan.Package{}, errNotFound("package", code)
	}
	if err != nil {
		return watan.Package{}, fmt.Errorf("store: find package: %w", err)
	}
	return p, nil
}

// ListPackages returns the tenant's packages ordered by code.
func (s *Store) ListPackages(ctx context.Context, tenantID int64) ([]watan.Package, error) {
	return list(ctx, s.db, "list packages", scanPackage,
		`SELECT `+packageColumns+` FROM packages WHERE tenant_id = $1 ORDER BY code`, tenantID)
}

// ListPackagesPage implements watan.CatalogService: pages are keyed on the code,
// which is unique in the tenant (the API never changes it).
func (s *Store) ListPackagesPage(ctx context.Context, tenantID int64, limit int, cursor string) ([]watan.Package, string, error) {
	size := pageSize(limit, MaxPage)
	var after string
	if cursor != "" {
		var err error
		if after, err = decodeTextCursor("pkg", cursor); err != nil {
			return nil, "", err
		}
	}
	ps, err := list(ctx, s.db, "list packages", scanPackage, `SELECT `+packageColumns+` FROM packages
		WHERE tenant_id = $1 AND code > $2 ORDER BY code LIMIT $3`, tenantID, after, size+1)
	if err != nil {
		return nil, "", err
	}
	ps, next := cutPage(ps, size, "pkg", func(p watan.Package) string { return p.Code })
	return ps, next, nil
}

// SetRouting replaces the routing of the tenant's package with code, after checking
// that the referenced provider accounts and code group are the tenant's.
func (s *Store) SetRouting(ctx context.Context, tenantID int64, packageCode string, r watan.Routing) (watan.Package, error) {
	var out watan.Package
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := checkRouting(ctx, tx, tenantID, r); err != nil {
			return err
		}
		var err error
		out, err = scanPackage(tx.QueryRowContext(ctx, `UPDATE packages SET
			routing_mode = $1, primary_provider_id = $2, fallback_provider_id = $3, code_group_id = $4, updated_at = $5
			WHERE tenant_id = $6 AND code = $7 RETURNING `+packageColumns,
			string(r.Mode), nullID(r.PrimaryProviderID), nullID(r.FallbackProviderID), nullID(r.CodeGroupID),
			s.ts(s.now()), tenantID, packageCode))
		if isNoRows(err) {
			return errNotFound("package", packageCode)
		}
		if err != nil {
			return fmt.Errorf("store: set routing: %w", err)
		}
		return nil
	})
	if err != nil {
		return watan.Package{}, err
	}
	return out, nil
}

// Mappings.

const mappingColumns = `tenant_id, package_id, provider_account_id, product_id, params, cost`

func scanMapping(r rowScanner) (watan.Mapping, error) {
	var m watan.Mapping
	err := r.Scan(&m.TenantID, &m.PackageID, &m.ProviderAccountID, &m.ProductID, jsonCol{&m.Params}, nullAmountCol{&m.Cost})
	return m, err
}

// rowExists returns an ECodeNotFound error unless the tenant owns row id of table.
func rowExists(ctx context.Context, q querier, table, what string, tenantID, id int64) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM `+table+` WHERE tenant_id = $1 AND id = $2`, tenantID, id).Scan(&one)
	if isNoRows(err) {
		return errNotFound(what, id)
	}
	if err != nil {
		return fmt.Errorf("store: find %s: %w", what, err)
	}
	return nil
}

// PutMapping creates or replaces the mapping of a package to a provider account,
// both of which must be the tenant's.
func (s *Store) PutMapping(ctx context.Context, m watan.Mapping) (watan.Mapping, error) {
	if err := checkText("product_id", m.ProductID, watan.MaxNameLen); err != nil {
		return watan.Mapping{}, err
	}
	for k := range m.Params {
		if k == "" {
			return watan.Mapping{}, watan.Errorf(watan.ECodeValidation, "parameter names must not be empty")
		}
	}
	if err := checkCost("cost", m.Cost); err != nil {
		return watan.Mapping{}, err
	}
	params, err := jsonArg(m.Params)
	if err != nil {
		return watan.Mapping{}, err
	}
	var out watan.Mapping
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		if err := rowExists(ctx, tx, "packages", "package", m.TenantID, m.PackageID); err != nil {
			return err
		}
		if err := rowExists(ctx, tx, "provider_accounts", "provider account", m.TenantID, m.ProviderAccountID); err != nil {
			return err
		}
		var err error
		out, err = scanMapping(tx.QueryRowContext(ctx, `INSERT INTO mappings
			(tenant_id, package_id, provider_account_id, product_id, params, cost) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (package_id, provider_account_id)
			DO UPDATE SET product_id = excluded.product_id, params = excluded.params, cost = excluded.cost
			RETURNING `+mappingColumns,
			m.TenantID, m.PackageID, m.ProviderAccountID, m.ProductID, params, nullAmount(m.Cost)))
		if err != nil {
			return fmt.Errorf("store: put mapping: %w", err)
		}
		return nil
	})
	if err != nil {
		return watan.Mapping{}, err
	}
	return out, nil
}

// ListMappings returns the mappings of the tenant's package, by provider account.
func (s *Store) ListMappings(ctx context.Context, tenantID, packageID int64) ([]watan.Mapping, error) {
	if err := rowExists(ctx, s.db, "packages", "package", tenantID, packageID); err != nil {
		return nil, err
	}
	return list(ctx, s.db, "list mappings", scanMapping, `SELECT `+mappingColumns+` FROM mappings
		WHERE tenant_id = $1 AND package_id = $2 ORDER BY provider_account_id`, tenantID, packageID)
}

// ListMappingsPage implements watan.CatalogService: pages are keyed on the
// provider account, of which a package has one mapping at most.
func (s *Store) ListMappingsPage(ctx context.Context, tenantID, packageID int64, limit int, cursor string) ([]watan.Mapping, string, error) {
	size := pageSize(limit, MaxPage)
	var after int64
	if cursor != "" {
		var err error
		if after, err = decodeIDCursor("map", cursor); err != nil {
			return nil, "", err
		}
	}
	if err := rowExists(ctx, s.db, "packages", "package", tenantID, packageID); err != nil {
		return nil, "", err
	}
	ms, err := list(ctx, s.db, "list mappings", scanMapping, `SELECT `+mappingColumns+` FROM mappings
		WHERE tenant_id = $1 AND package_id = $2 AND provider_account_id > $3 ORDER BY provider_account_id LIMIT $4`,
		tenantID, packageID, after, size+1)
	if err != nil {
		return nil, "", err
	}
	ms, next := cutPage(ms, size, "map", func(m watan.Mapping) string { return idKey(m.ProviderAccountID) })
	return ms, next, nil
}

// FindMapping returns how the tenant's package is ordered from a provider account,
// or an ECodeNotFound error.
func (s *Store) FindMapping(ctx context.Context, tenantID, packageID, providerAccountID int64) (watan.Mapping, error) {
	m, err := scanMapping(s.db.QueryRowContext(ctx, `SELECT `+mappingColumns+` FROM mappings
		WHERE tenant_id = $1 AND package_id = $2 AND provider_account_id = $3`, tenantID, packageID, providerAccountID))
	if isNoRows(err) {
		return watan.Mapping{}, watan.Errorf(watan.ECodeNotFound, "package %d has no mapping for provider account %d", packageID, providerAccountID)
	}
	if err != nil {
		return watan.Mapping{}, fmt.Errorf("store: find mapping: %w", err)
	}
	return m, nil
}

// Code groups.

// Counts are computed, not kept in the group row: a counter there would be one more
// hot row locked by every code handed out. Both counts read indexes only.
const codeGroupColumns = `g.id, g.tenant_id, g.name, g.created_at, g.currency,
	(SELECT COUNT(*) FROM code_items c WHERE c.group_id = g.id AND c.order_id IS NULL),
	(SELECT COUNT(*) FROM code_items c WHERE c.group_id = g.id)`

func scanCodeGroup(r rowScanner) (watan.CodeGroup, error) {
	var (
		g     watan.CodeGroup
		total int
	)
	err := r.Scan(&g.ID, &g.TenantID, &g.Name, timeCol{&g.CreatedAt}, &g.Currency, &g.Available, &total)
	g.Used = total - g.Available
	return g, err
}

// CreateCodeGroup creates an empty stock of codes. Names are unique per tenant.
func (s *Store) CreateCodeGroup(ctx context.Context, tenantID int64, name string) (watan.CodeGroup, error) {
	if err := checkName("name", name); err != nil {
		return watan.CodeGroup{}, err
	}
	g := watan.CodeGroup{TenantID: tenantID, Name: name, CreatedAt: s.now(), Currency: DefaultCurrency}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := tenantExists(ctx, tx, tenantID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO code_groups (tenant_id, name, created_at) VALUES ($1, $2, $3) RETURNING id`,
			tenantID, name, s.ts(g.CreatedAt)).Scan(&g.ID)
		if isUniqueViolation(err) {
			return watan.Errorf(watan.ECodeConflict, "a code group named %q already exists", name)
		}
		if err != nil {
			return fmt.Errorf("store: create code group: %w", err)
		}
		return nil
	})
	if err != nil {
		return watan.CodeGroup{}, err
	}
	return g, nil
}

// FindCodeGroup returns the tenant's code group id with its counts, or an
// ECodeNotFound error.
func (s *Store) FindCodeGroup(ctx context.Context, tenantID, id int64) (watan.CodeGroup, error) {
	g, err := scanCodeGroup(s.db.QueryRowContext(ctx,
		`SELECT `+codeGroupColumns+` FROM code_groups g WHERE g.tenant_id = $1 AND g.id = $2`, tenantID, id))
	if isNoRows(err) {
		return watan.CodeGroup{}, errNotFound("code group", id)
	}
	if err != nil {
		return watan.CodeGroup{}, fmt.Errorf("store: find code group: %w", err)
	}
	return g, nil
}

// ListCodeGroups returns the tenant's code groups in creation order.
func (s *Store) ListCodeGroups(ctx context.Context, tenantID int64) ([]watan.CodeGroup, error) {
	return list(ctx, s.db, "list code groups", scanCodeGroup,
		`SELECT `+codeGroupColumns+` FROM code_groups g WHERE g.tenant_id = $1 ORDER BY g.id`, tenantID)
}

// ListCodeGroupsPage implements watan.CatalogService: pages are keyed on the
// group's id.
func (s *Store) ListCodeGroupsPage(ctx context.Context, tenantID int64, limit int, cursor string) ([]watan.CodeGroup, string, error) {
	size := pageSize(limit, MaxPage)
	var after int64
	if cursor != "" {
		var err error
		if after, err = decodeIDCursor("grp", cursor); err != nil {
			return nil, "", err
		}
	}
	gs, err := list(ctx, s.db, "list code groups", scanCodeGroup, `SELECT `+codeGroupColumns+` FROM code_groups g
		WHERE g.tenant_id = $1 AND g.id > $2 ORDER BY g.id LIMIT $3`, tenantID, after, size+1)
	if err != nil {
		return nil, "", err
	}
	gs, next := cutPage(gs, size, "grp", func(g watan.CodeGroup) string { return idKey(g.ID) })
	return gs, next, nil
}

// ListCodes implements watan.CatalogService: one page of the group's codes in
// import order, keyed on the code's id. The PIN column is not even read.
func (s *Store) ListCodes(ctx context.Context, tenantID, groupID int64, status watan.CodeStatus, limit int, cursor string) ([]watan.CodeItem, string, error) {
	size := pageSize(limit, DefaultPage)
	var filter string
	switch status {
	case "":
	case watan.CodeAvailable:
		filter = ` AND order_id IS NULL`
	case watan.CodeUsed:
		filter = ` AND order_id IS NOT NULL`
	default:
		return nil, "", watan.Errorf(watan.ECodeValidation, "status %q is not available or used", status)
	}
	var after int64
	if cursor != "" {
		var err error
		if after, err = decodeIDCursor("code", cursor); err != nil {
			return nil, "", err
		}
	}
	if err := rowExists(ctx, s.db, "code_groups", "code group", tenantID, groupID); err != nil {
		return nil, "", err
	}
	cs, err := list(ctx, s.db, "list codes", func(r rowScanner) (watan.CodeItem, error) {
		var c watan.CodeItem
		err := r.Scan(&c.ID, &c.TenantID, &c.GroupID, &c.OrderID, timeCol{&c.CreatedAt}, nullTimeCol{&c.UsedAt})
		c.Status = watan.CodeAvailable
		if c.OrderID != 0 {
			c.Status = watan.CodeUsed
		}
		return c, err
	}, `SELECT id, tenant_id, group_id, COALESCE(order_id, 0), created_at, used_at FROM code_items
		WHERE tenant_id = $1 AND group_id = $2 AND id > $3`+filter+` ORDER BY id LIMIT $4`, tenantID, groupID, after, size+1)
	if err != nil {
		return nil, "", err
	}
	cs, next := cutPage(cs, size, "code", func(c watan.CodeItem) string { return idKey(c.ID) })
	return cs, next, nil
}

// importBatch is how many codes go in one INSERT: few enough for any engine's
// parameter limit, many enough that a 100,000-code import is a few hundred
// statements.
const importBatch = 500

// MaxPINLen bounds one stored code.
const MaxPINLen = 512

// ImportCodes adds pins to the tenant's code group in one transaction. Surrounding
// spaces are trimmed and empty lines ignored; a pin already in the group, or
// repeated in the input, is counted as skipped rather than stored twice.
func (s *Store) ImportCodes(ctx context.Context, tenantID, groupID int64, pins []string) (watan.ImportResult, error) {
	return s.ImportCodesCost(ctx, tenantID, groupID, pins, nil)
}

// ImportCodesCost imports as ImportCodes does, and gives each new code cost (in
// the group's currency) as its own: the cost an order handed that code carries.
func (s *Store) ImportCodesCost(ctx context.Context, tenantID, groupID int64, pins []string, cost *watan.Amount) (watan.ImportResult, error) {
	if err := checkCost("cost", cost); err != nil {
		return watan.ImportResult{}, err
	}
	if len(pins) > watan.MaxCodesPerBatch {
		return watan.ImportResult{}, watan.Errorf(watan.ECodeValidation, "at most %d codes per import", watan.MaxCodesPerBatch)
	}
	var res watan.ImportResult
	seen := make(map[string]bool, len(pins))
	uniq := make([]string, 0, len(pins))
	for i, p := range pins {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if err := checkText("code", p, MaxPINLen); err != nil {
			return watan.ImportResult{}, watan.Errorf(watan.ECodeValidation, "line %d: %s", i+1, watan.ErrorMessage(err))
		}
		if seen[p] {
			res.Skipped++
			continue
		}
		seen[p] = true
		uniq = append(uniq, p)
	}
	now := s.ts(s.now())
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := rowExists(ctx, tx, "code_groups", "code group", tenantID, groupID); err != nil {
			return err
		}
		for start := 0; start < len(uniq); start += importBatch {
			batch := uniq[start:min(start+importBatch, len(uniq))]
			var b strings.Builder
			b.WriteString(`INSERT INTO code_items (tenant_id, group_id, created_at, cost, pin) VALUES `)
			args := make([]any, 0, 4+len(batch))
			args = append(args, tenantID, groupID, now, nullAmount(cost))
			for i, p := range batch {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "($1, $2, $3, $4, $%d)", 5+i)
				args = append(args, p)
			}
			b.WriteString(` ON CONFLICT (group_id, pin) DO NOTHING`)
			r, err := tx.ExecContext(ctx, b.String(), args...)
			if err != nil {
				return fmt.Errorf("store: import codes: %w", err)
			}
			n, err := r.RowsAffected()
			if err != nil {
				return fmt.Errorf("store: import codes: %w", err)
			}
			res.Added += int(n)
			res.Skipped += len(batch) - int(n)
		}
		return nil
	})
	if err != nil {
		return watan.ImportResult{}, err
	}
	return res, nil
}

// list runs a query and scans every row with scan; it never returns a nil slice, so
// that empty lists encode as [] rather than null.
func list[T any](ctx context.Context, q querier, what string, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}
