package watan

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Rate is an exchange rate: how many units of a currency one unit of the tenant's
// base currency buys, times RateScale (34.8765 is 3_487_650_000). Like Amount it
// never passes through floating point.
type Rate int64

// RateScale is Rate's fixed point: rates carry at most eight decimal places.
const RateScale Rate = 100_000_000

// MaxRate bounds a rate (one unit of base buying a hundred million units).
const MaxRate Rate = 100_000_000 * RateScale

// ParseRate parses a positive decimal such as "34.8765" with at most eight decimal
// places; more places are refused, not rounded.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if s == "" || !allDigits(whole) || !allDigits(frac) || (whole == "" && frac == "") {
		return 0, fmt.Errorf("rate %q is not a positive decimal number", s)
	}
	if len(frac) > 8 {
		return 0, fmt.Errorf("rate %q has more than eight decimal places", s)
	}
	if len(whole) > 9 {
		return 0, fmt.Errorf("rate %q is too large", s)
	}
	w, _ := strconv.ParseInt("0"+whole, 10, 64)
	f, _ := strconv.ParseInt("0"+frac+strings.Repeat("0", 8-len(frac)), 10, 64)
	r := Rate(w)*RateScale + Rate(f)
	if r <= 0 || r > MaxRate {
		return 0, fmt.Errorf("rate %q must be above 0 and at most %s", s, MaxRate)
	}
	return r, nil
}

// String formats the rate without trailing zeros ("34.8765", "1").
func (r Rate) String() string {
	s := fmt.Sprintf("%d.%08d", r/RateScale, r%RateScale)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// MarshalJSON writes the rate as a decimal string.
func (r Rate) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// UnmarshalJSON accepts a decimal string or a JSON number, parsed as a decimal.
func (r *Rate) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := ParseRate(s)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Convert converts a from a currency whose rate is from to one whose rate is to
// (both against the same base currency; the base's own rate is RateScale).
//
// The rounding rule, the only one watan uses: the exact quotient a × to / from is
// computed in integers and rounded once, at the end, to the nearest minor unit,
// halves away from zero ("half-up"). Nothing is rounded on the way through the base
// currency. Every currency has two decimal places (Amount's minor unit).
func Convert(a Amount, from, to Rate) (Amount, error) {
	if from <= 0 || to <= 0 {
		return 0, fmt.Errorf("convert: rates must be positive")
	}
	if from == to {
		return a, nil
	}
	num := new(big.Int).Mul(big.NewInt(int64(a)), big.NewInt(int64(to)))
	den := big.NewInt(int64(from))
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	// Half away from zero: |2m| >= den moves q one unit away from zero.
	if new(big.Int).Abs(new(big.Int).Lsh(m, 1)).Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if !q.IsInt64() || q.Int64() > int64(MaxAmount) || q.Int64() < -int64(MaxAmount) {
		return 0, Errorf(ECodeValidation, "converted amount is too large")
	}
	return Amount(q.Int64()), nil
}

// Rates are a tenant's exchange rates at one moment: the base currency and the
// current rate of every other currency that has one.
type Rates struct {
	Base  string
	Rates map[string]Rate
}

// Of returns the rate of currency c (RateScale for the base), or false if c has none.
func (r Rates) Of(c string) (Rate, bool) {
	if c == r.Base {
		return RateScale, true
	}
	v, ok := r.Rates[c]
	return v, ok
}

// Convert converts a from currency from to currency to with these rates, or
// returns an ECodeNoExchangeRate error naming the currency without a rate.
func (r Rates) Convert(a Amount, from, to string) (Amount, error) {
	if from == to {
		return a, nil
	}
	fr, ok := r.Of(from)
	if !ok {
		return 0, Errorf(ECodeNoExchangeRate, "no exchange rate for %s against the base currency %s", from, r.Base)
	}
	tr, ok := r.Of(to)
	if !ok {
		return 0, Errorf(ECodeNoExchangeRate, "no exchange rate for %s against the base currency %s", to, r.Base)
	}
	return Convert(a, fr, tr)
}

// ValidateCurrency returns an ECodeValidation error unless c is three capital
// letters (an ISO 4217 code).
func ValidateCurrency(field, c string) error {
	if len(c) != 3 || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return Errorf(ECodeValidation, "%s %q is not a three-letter currency code", field, c)
	}
	return nil
}

// ExchangeRate is one recorded rate: from SetAt on, one unit of BaseCurrency buys
// Rate units of Currency, until a newer record. Records are never edited: a change
// is a new record, so an order converted with an older rate keeps it.
type ExchangeRate struct {
	ID           int64     `json:"id"`
	TenantID     int64     `json:"-"`
	BaseCurrency string    `json:"base_currency"`
	Currency     string    `json:"currency"`
	Rate         Rate      `json:"rate"`
	SetBy        string    `json:"set_by"`
	SetAt        time.Time `json:"set_at"`
}

// TenantSettings are a tenant's money settings.
type TenantSettings struct {
	// BaseCurrency is what profit is counted in and what rates are quoted against.
	// Default TRY.
	BaseCurrency string `json:"base_currency"`
	// TimeZone (an IANA name) decides where a report's day begins. Default UTC.
	TimeZone string `json:"time_zone"`
}

// Validate checks the settings' fields.
func (s TenantSettings) Validate() error {
	if err := ValidateCurrency("base_currency", s.BaseCurrency); err != nil {
		return err
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "" || s.TimeZone == "Local" {
		return Errorf(ECodeValidation, "time_zone %q is not an IANA time zone name", s.TimeZone)
	}
	return nil
}

// PriceGroup is a tier of customers (sub-dealers, walk-in) with their own prices.
type PriceGroup struct {
	ID        int64     `json:"id"`
	TenantID  int64     `json:"-"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// PackagePrice is a package's price for one price group, in the package's currency.
type PackagePrice struct {
	PackageID    int64  `json:"package_id"`
	PriceGroupID int64  `json:"price_group_id"`
	Group        string `json:"price_group"`
	Price        Amount `json:"price"`
}

// CostSource says where an order's cost came from.
type CostSource string

// Cost sources.
const (
	CostProvider   CostSource = "provider"   // the provider's answer to the placement
	CostConfigured CostSource = "configured" // the package's mapping at the provider account
	CostCode       CostSource = "code"       // the stored code's own cost
	CostNone       CostSource = "none"       // no cost known (manual, or nothing configured)
)

// ProfitSnapshot is an approved order's money in the tenant's base currency, frozen
// at approval with the rates used, so that later rate changes never rewrite it.
type ProfitSnapshot struct {
	BaseCurrency string    `json:"base_currency"`
	Sell         Amount    `json:"sell"`
	Cost         Amount    `json:"cost"`
	Profit       Amount    `json:"profit"`
	SellRate     Rate      `json:"sell_rate"` // rate of the order's currency
	CostRate     Rate      `json:"cost_rate"` // rate of the cost's currency
	FrozenAt     time.Time `json:"frozen_at"`
}

// Freeze computes the snapshot of an order's sell (price in currency) and cost
// (in costCurrency; zero if none) with rates. Each is converted and rounded once.
func Freeze(r Rates, price Amount, currency string, cost Amount, costCurrency string, at time.Time) (ProfitSnapshot, error) {
	if costCurrency == "" {
		costCurrency = r.Base
	}
	sr, ok := r.Of(currency)
	if !ok {
		return ProfitSnapshot{}, Errorf(ECodeNoExchangeRate, "no exchange rate for %s against the base currency %s", currency, r.Base)
	}
	cr, ok := r.Of(costCurrency)
	if !ok {
		return ProfitSnapshot{}, Errorf(ECodeNoExchangeRate, "no exchange rate for %s against the base currency %s", costCurrency, r.Base)
	}
	sell, err := Convert(price, sr, RateScale)
	if err != nil {
		return ProfitSnapshot{}, err
	}
	c, err := Convert(cost, cr, RateScale)
	if err != nil {
		return ProfitSnapshot{}, err
	}
	return ProfitSnapshot{BaseCurrency: r.Base, Sell: sell, Cost: c, Profit: sell - c, SellRate: sr, CostRate: cr, FrozenAt: at}, nil
}

// MoneyService manages a tenant's price groups, currencies and rates.
type MoneyService interface {
	TenantSettings(ctx context.Context, tenantID int64) (TenantSettings, error)
	SetTenantSettings(ctx context.Context, tenantID int64, s TenantSettings) (TenantSettings, error)
	// SetExchangeRate records a new rate of currency against the base currency.
	SetExchangeRate(ctx context.Context, tenantID int64, currency string, rate Rate, setBy string) (ExchangeRate, error)
	// CurrentRates returns the rates in force now.
	CurrentRates(ctx context.Context, tenantID int64) (Rates, error)
	// ExchangeRateHistory lists recorded rates, newest first, at most limit.
	ExchangeRateHistory(ctx context.Context, tenantID int64, limit int) ([]ExchangeRate, error)

	CreatePriceGroup(ctx context.Context, tenantID int64, name string) (PriceGroup, error)
	ListPriceGroups(ctx context.Context, tenantID int64) ([]PriceGroup, error)
	// SetPackagePrice sets the package's price for a group.
	SetPackagePrice(ctx context.Context, tenantID int64, packageCode, group string, price Amount) (PackagePrice, error)
	ListPackagePrices(ctx context.Context, tenantID int64, packageCode string) ([]PackagePrice, error)
	// SetAccountPriceGroup puts the account in a group ("" for the default prices).
	SetAccountPriceGroup(ctx context.Context, tenantID int64, accountCode, group string) (Account, error)
}

// Int is r as a plain integer, for arithmetic with other integers.
func (r Rate) Int() int64 { return int64(r) }

// ParseProviderAmount reads an amount as a provider sends it (a price, a balance).
// Providers may send more than two decimal places; those are rounded half-up to
// the minor unit, as every conversion is.
func ParseProviderAmount(s string) (Amount, bool) {
	s = strings.TrimSpace(s)
	if a, err := ParseAmount(s); err == nil {
		return a, true
	}
	neg := strings.HasPrefix(s, "-")
	r, err := ParseRate(strings.TrimPrefix(s, "-"))
	if err != nil {
		return 0, false
	}
	a, err := Convert(Amount(r), RateScale/100, 1)
	if neg {
		a = -a
	}
	return a, err == nil
}

// BalancePoint is a provider account's balance at one moment, as its balance
// probe read it.
type BalancePoint struct {
	At      time.Time `json:"at"`
	Balance Amount    `json:"balance"`
}
