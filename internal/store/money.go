package store

import (
	"context"
	"database/sql"
	"fmt"

	"watan"
)

// This file holds a tenant's money settings: base currency and time zone, the
// exchange-rate history, price groups and per-group package prices.

// DefaultCurrency is what a tenant's base currency, a provider account's and a code
// group's currency are until set: znet and barakat price in TRY.
const DefaultCurrency = "TRY"

// TenantSettings implements watan.MoneyService.
func (s *Store) TenantSettings(ctx context.Context, tenantID int64) (watan.TenantSettings, error) {
	var ts watan.TenantSettings
	err := s.db.QueryRowContext(ctx, `SELECT base_currency, time_zone FROM tenants WHERE id = $1`, tenantID).
		Scan(&ts.BaseCurrency, &ts.TimeZone)
	if isNoRows(err) {
		return ts, errNotFound("tenant", tenantID)
	}
	if err != nil {
		return ts, fmt.Errorf("store: tenant settings: %w", err)
	}
	return ts, nil
}

// SetTenantSettings implements watan.MoneyService. A new base currency makes the
// rates recorded against the old one inapplicable (they stay in the history):
// rates against the new base must be set before orders in other currencies are
// converted. Figures already frozen keep the base they were frozen in.
func (s *Store) SetTenantSettings(ctx context.Context, tenantID int64, ts watan.TenantSettings) (watan.TenantSettings, error) {
	cur, err := normCurrency(ts.BaseCurrency)
	if err != nil {
		return ts, err
	}
	ts.BaseCurrency = cur
	if err := ts.Validate(); err != nil {
		return ts, err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE tenants SET base_currency = $1, time_zone = $2 WHERE id = $3`,
		ts.BaseCurrency, ts.TimeZone, tenantID)
	if err != nil {
		return ts, fmt.Errorf("store: set tenant settings: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ts, errNotFound("tenant", tenantID)
	}
	return ts, nil
}

// SetExchangeRate implements watan.MoneyService: it appends a record, never
// changes one.
func (s *Store) SetExchangeRate(ctx context.Context, tenantID int64, currency string, rate watan.Rate, setBy string) (watan.ExchangeRate, error) {
	cur, err := normCurrency(currency)
	if err != nil {
		return watan.ExchangeRate{}, err
	}
	if rate <= 0 || rate > watan.MaxRate {
		return watan.ExchangeRate{}, watan.Errorf(watan.ECodeValidation, "rate must be above 0 and at most %s", watan.MaxRate)
	}
	if err := checkText("set_by", setBy, watan.MaxNameLen); err != nil {
		return watan.ExchangeRate{}, err
	}
	r := watan.ExchangeRate{TenantID: tenantID, Currency: cur, Rate: rate, SetBy: setBy, SetAt: s.now()}
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT base_currency FROM tenants WHERE id = $1`, tenantID).Scan(&r.BaseCurrency)
		if isNoRows(err) {
			return errNotFound("tenant", tenantID)
		}
		if err != nil {
			return fmt.Errorf("store: set exchange rate: %w", err)
		}
		if r.BaseCurrency == cur {
			return watan.Errorf(watan.ECodeValidation, "%s is the base currency: its rate is 1", cur)
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO exchange_rates (tenant_id, base_currency, currency, rate, set_by, set_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			tenantID, r.BaseCurrency, cur, int64(rate), setBy, s.ts(r.SetAt)).Scan(&r.ID)
		if err != nil {
			return fmt.Errorf("store: set exchange rate: %w", err)
		}
		return nil
	})
	return r, err
}

// currentRatesSQL picks, per currency, the newest record against the tenant's
// current base currency.
const currentRatesSQL = `SELECT t.base_currency, r.currency, r.rate FROM tenants t
	LEFT JOIN exchange_rates r ON r.tenant_id = t.id AND r.base_currency = t.base_currency
		AND r.id = (SELECT MAX(r2.id) FROM exchange_rates r2 WHERE r2.tenant_id = t.id
			AND r2.base_currency = t.base_currency AND r2.currency = r.currency)
	WHERE t.id = $1`

// CurrentRates implements watan.MoneyService.
func (s *Store) CurrentRates(ctx context.Context, tenantID int64) (watan.Rates, error) {
	return currentRates(ctx, s.db, tenantID)
}

func currentRates(ctx context.Context, q querier, tenantID int64) (watan.Rates, error) {
	rows, err := q.QueryContext(ctx, currentRatesSQL, tenantID)
	if err != nil {
		return watan.Rates{}, fmt.Errorf("store: current rates: %w", err)
	}
	defer rows.Close()
	out := watan.Rates{Rates: map[string]watan.Rate{}}
	found := false
	for rows.Next() {
		var (
			cur  sql.NullString
			rate sql.NullInt64
		)
		if err := rows.Scan(&out.Base, &cur, &rate); err != nil {
			return watan.Rates{}, fmt.Errorf("store: current rates: %w", err)
		}
		found = true
		if cur.Valid {
			out.Rates[cur.String] = watan.Rate(rate.Int64)
		}
	}
	if err := rows.Err(); err != nil {
		return watan.Rates{}, fmt.Errorf("store: current rates: %w", err)
	}
	if !found {
		return watan.Rates{}, errNotFound("tenant", tenantID)
	}
	return out, nil
}

// ExchangeRateHistory implements watan.MoneyService.
func (s *Store) ExchangeRateHistory(ctx context.Context, tenantID int64, limit int) ([]watan.ExchangeRate, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	return list(ctx, s.db, "exchange rates", func(r rowScanner) (watan.ExchangeRate, error) {
		var x watan.ExchangeRate
		err := r.Scan(&x.ID, &x.TenantID, &x.BaseCurrency, &x.Currency, &x.Rate, &x.SetBy, timeCol{&x.SetAt})
		return x, err
	}, `SELECT id, tenant_id, base_currency, currency, rate, set_by, set_at FROM exchange_rates
		WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2`, tenantID, limit)
}

// Price groups.

func scanPriceGroup(r rowScanner) (watan.PriceGroup, error) {
	var g watan.PriceGroup
	err := r.Scan(&g.ID, &g.TenantID, &g.Name, timeCol{&g.CreatedAt})
	return g, err
}

func findPriceGroup(ctx context.Context, q querier, tenantID int64, name string) (watan.PriceGroup, error) {
	g, err := scanPriceGroup(q.QueryRowContext(ctx,
		`SELECT id, tenant_id, name, created_at FROM price_groups WHERE tenant_id = $1 AND name = $2`, tenantID, name))
	if isNoRows(err) {
		return g, errNotFound("price group", name)
	}
	if err != nil {
		return g, fmt.Errorf("store: find price group: %w", err)
	}
	return g, nil
}

// CreatePriceGroup implements watan.MoneyService. Names are unique per tenant.
func (s *Store) CreatePriceGroup(ctx context.Context, tenantID int64, name string) (watan.PriceGroup, error) {
	if err := checkCode("name", name); err != nil {
		return watan.PriceGroup{}, err
	}
	g := watan.PriceGroup{TenantID: tenantID, Name: name, CreatedAt: s.now()}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := tenantExists(ctx, tx, tenantID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO price_groups (tenant_id, name, created_at) VALUES ($1, $2, $3) RETURNING id`,
			tenantID, name, s.ts(g.CreatedAt)).Scan(&g.ID)
		if isUniqueViolation(err) {
			return watan.Errorf(watan.ECodeConflict, "a price group named %q already exists", name)
		}
		if err != nil {
			return fmt.Errorf("store: create price group: %w", err)
		}
		return nil
	})
	return g, err
}

// ListPriceGroups implements watan.MoneyService.
func (s *Store) ListPriceGroups(ctx context.Context, tenantID int64) ([]watan.PriceGroup, error) {
	return list(ctx, s.db, "price groups", scanPriceGroup,
		`SELECT id, tenant_id, name, created_at FROM price_groups WHERE tenant_id = $1 ORDER BY name`, tenantID)
}

// SetPackagePrice implements watan.MoneyService. The price applies to orders
// created from now on; orders keep the price they were created with.
func (s *Store) SetPackagePrice(ctx context.Context, tenantID int64, packageCode, group string, price watan.Amount) (watan.PackagePrice, error) {
	if err := checkAmount("price", price); err != nil {
		return watan.PackagePrice{}, err
	}
	out := watan.PackagePrice{Group: group, Price: price}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		g, err := findPriceGroup(ctx, tx, tenantID, group)
		if err != nil {
			return err
		}
		out.PriceGroupID = g.ID
		err = tx.QueryRowContext(ctx, `SELECT id FROM packages WHERE tenant_id = $1 AND code = $2`, tenantID, packageCode).Scan(&out.PackageID)
		if isNoRows(err) {
			return errNotFound("package", packageCode)
		}
		if err != nil {
			return fmt.Errorf("store: set package price: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO package_prices (tenant_id, package_id, price_group_id, price)
			VALUES ($1, $2, $3, $4) ON CONFLICT (package_id, price_group_id) DO UPDATE SET price = excluded.price`,
			tenantID, out.PackageID, g.ID, int64(price)); err != nil {
			return fmt.Errorf("store: set package price: %w", err)
		}
		return nil
	})
	return out, err
}

// ListPackagePrices implements watan.MoneyService.
func (s *Store) ListPackagePrices(ctx context.Context, tenantID int64, packageCode string) ([]watan.PackagePrice, error) {
	if _, err := s.FindPackage(ctx, tenantID, packageCode); err != nil {
		return nil, err
	}
	return list(ctx, s.db, "package prices", func(r rowScanner) (watan.PackagePrice, error) {
		var pp watan.PackagePrice
		err := r.Scan(&pp.PackageID, &pp.PriceGroupID, &pp.Group, &pp.Price)
		return pp, err
	}, `SELECT pp.package_id, pp.price_group_id, g.name, pp.price FROM package_prices pp
		JOIN packages p ON p.id = pp.package_id JOIN price_groups g ON g.id = pp.price_group_id
		WHERE pp.tenant_id = $1 AND p.code = $2 ORDER BY g.name`, tenantID, packageCode)
}

// SetAccountPriceGroup implements watan.MoneyService.
func (s *Store) SetAccountPriceGroup(ctx context.Context, tenantID int64, accountCode, group string) (watan.Account, error) {
	var out watan.Account
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var gid int64
		if group != "" {
			g, err := findPriceGroup(ctx, tx, tenantID, group)
			if err != nil {
				return err
			}
			gid = g.ID
		}
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET price_group_id = $1, updated_at = $2 WHERE tenant_id = $3 AND code = $4`,
			nullID(gid), s.ts(s.now()), tenantID, accountCode)
		if err != nil {
			return fmt.Errorf("store: set account price group: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNotFound("account", accountCode)
		}
		out, err = findAccount(ctx, tx, tenantID, accountCode)
		return err
	})
	return out, err
}

// checkCost refuses a negative or oversized cost; nil (no cost) passes.
func checkCost(field string, c *watan.Amount) error {
	if c == nil {
		return nil
	}
	return checkAmount(field, *c)
}

// RecordProviderBalance appends a provider account's balance, as a probe read it,
// to its history, and reports whether it is below the account's low-balance
// threshold. Crossing below the threshold (from at or above it, or from no record)
// writes a low_balance event to the account's timeline in the same transaction,
// once per crossing.
func (s *Store) RecordProviderBalance(ctx context.Context, tenantID, providerAccountID int64, balance watan.Amount) (low bool, err error) {
	now := s.now()
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		var threshold sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT low_balance_threshold FROM provider_accounts WHERE tenant_id = $1 AND id = $2`,
			tenantID, providerAccountID).Scan(&threshold)
		if isNoRows(err) {
			return errNotFound("provider account", providerAccountID)
		}
		if err != nil {
			return fmt.Errorf("store: record provider balance: %w", err)
		}
		var prev sql.NullInt64
		err = tx.QueryRowContext(ctx, `SELECT balance FROM provider_balances WHERE provider_account_id = $1
			ORDER BY at DESC, id DESC LIMIT 1`, providerAccountID).Scan(&prev)
		if err != nil && !isNoRows(err) {
			return fmt.Errorf("store: record provider balance: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO provider_balances (tenant_id, provider_account_id, at, balance)
			VALUES ($1, $2, $3, $4)`, tenantID, providerAccountID, s.ts(now), int64(balance)); err != nil {
			return fmt.Errorf("store: record provider balance: %w", err)
		}
		if !threshold.Valid {
			return nil
		}
		low = int64(balance) < threshold.Int64
		if !low || (prev.Valid && prev.Int64 < threshold.Int64) {
			return nil
		}
		return s.addProviderEvent(ctx, tx, watan.ProviderEvent{TenantID: tenantID, ProviderAccountID: providerAccountID, At: now,
			Actor: watan.ActorSystem, Kind: watan.ProviderEventLowBalance,
			Message: fmt.Sprintf("balance %s is below the threshold %s", balance, watan.Amount(threshold.Int64))})
	})
	return low, err
}

// ProviderBalanceHistory returns the account's recorded balances, newest first,
// at most limit.
func (s *Store) ProviderBalanceHistory(ctx context.Context, tenantID, providerAccountID int64, limit int) ([]watan.BalancePoint, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	return list(ctx, s.db, "provider balances", func(r rowScanner) (watan.BalancePoint, error) {
		var p watan.BalancePoint
		err := r.Scan(timeCol{&p.At}, &p.Balance)
		return p, err
	}, `SELECT at, balance FROM provider_balances WHERE tenant_id = $1 AND provider_account_id = $2
		ORDER BY at DESC, id DESC LIMIT $3`, tenantID, providerAccountID, limit)
}
