package httpapi

import (
	"fmt"
	"net/http"

	"watan"
)

type createAccountRequest struct {
	Code           string  `json:"code" api:"required" desc:"the tenant's identifier for the customer, what orders name"`
	Name           string  `json:"name"`
	Currency       string  `json:"currency" api:"required" desc:"ISO 4217 code, e.g. TRY"`
	OverdraftLimit *amount `json:"overdraft_limit" desc:"how far below zero the balance may go; default 0"`
	PriceGroup     string  `json:"price_group" desc:"the price group whose prices the account pays; default none: the packages' own prices"`
}

type topUpRequest struct {
	Amount *amount `json:"amount" api:"required" desc:"money to add, greater than zero"`
	Note   string  `json:"note" desc:"shown in the ledger"`
}

type accountList struct {
	Accounts   []watan.Account `json:"accounts" desc:"ordered by code"`
	NextCursor string          `json:"next_cursor,omitempty" desc:"pass as cursor to read the next page; absent on the last page"`
}

type ledgerList struct {
	Entries    []watan.LedgerEntry `json:"entries" desc:"newest first"`
	NextCursor string              `json:"next_cursor,omitempty" desc:"pass as cursor to read the next, older page; absent on the last page"`
}

func (h *Handler) createAccount(w http.ResponseWriter, r *http.Request) error {
	var req createAccountRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	n := watan.NewAccount{Code: req.Code, Name: req.Name, Currency: req.Currency, PriceGroup: req.PriceGroup}
	if req.OverdraftLimit != nil {
		n.OverdraftLimit = watan.Amount(*req.OverdraftLimit)
	}
	a, err := h.accounts.CreateAccount(r.Context(), tenantOf(r), n)
	if err != nil {
		return fmt.Errorf("creating account: %w", err)
	}
	w.Header().Set("Location", Prefix+"/accounts/"+a.Code)
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (h *Handler) listAccounts(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	as, next, err := h.accounts.ListAccountsPage(r.Context(), tenantOf(r), limit, cursor)
	if err != nil {
		return fmt.Errorf("listing accounts: %w", err)
	}
	if as == nil {
		as = []watan.Account{}
	}
	writeJSON(w, http.StatusOK, accountList{Accounts: as, NextCursor: next})
	return nil
}

func (h *Handler) getAccount(w http.ResponseWriter, r *http.Request) error {
	code := r.PathValue("code")
	a, err := h.accounts.FindAccount(r.Context(), tenantOf(r), code)
	if err != nil {
		return fmt.Errorf("finding account %q: %w", code, err)
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (h *Handler) topUp(w http.ResponseWriter, r *http.Request) error {
	var req topUpRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Amount == nil {
		return invalid("amount is required")
	}
	if *req.Amount <= 0 {
		return invalid("amount must be greater than zero")
	}
	code := r.PathValue("code")
	e, err := h.accounts.TopUp(r.Context(), tenantOf(r), code, watan.Amount(*req.Amount), req.Note)
	if err != nil {
		return fmt.Errorf("topping up account %q: %w", code, err)
	}
	writeJSON(w, http.StatusCreated, e)
	return nil
}

func (h *Handler) ledger(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r)
	if err != nil {
		return err
	}
	limit, err := queryInt(q, "limit", 0, 1, 1000)
	if err != nil {
		return err
	}
	code := r.PathValue("code")
	page, err := h.accounts.Ledger(r.Context(), tenantOf(r), code, watan.LedgerQuery{Limit: limit, Cursor: q.Get("cursor")})
	if err != nil {
		return fmt.Errorf("reading ledger of account %q: %w", code, err)
	}
	if page.Entries == nil {
		page.Entries = []watan.LedgerEntry{}
	}
	writeJSON(w, http.StatusOK, ledgerList{Entries: page.Entries, NextCursor: page.NextCursor})
	return nil
}
