package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"watan"
)

// API key routes: a tenant manages its own keys with any of its keys. Another
// tenant's key id is not_found, as if it did not exist. A key may revoke or rotate
// itself: the request that does it succeeds, and the next one with that key gets
// 401. Authentication reads the key's row on every request (nothing caches it), so
// a revocation holds on every node from the next request on.

type createAPIKeyRequest struct {
	Name string `json:"name" api:"required" desc:"tells keys apart; operator actions taken with the key are recorded as operator:api-key:<name>"`
}

// createdAPIKey is the one response that carries a plain key.
type createdAPIKey struct {
	APIKey watan.APIKey `json:"api_key"`
	Key    string       `json:"key" desc:"the key itself, for Authorization: Bearer <key>; shown only in this response, only its hash is stored"`
}

type apiKeyList struct {
	APIKeys    []watan.APIKey `json:"api_keys" desc:"oldest first, revoked keys included"`
	NextCursor string         `json:"next_cursor,omitempty" desc:"pass as cursor to read the next page; absent on the last page"`
}

var (
	docListAPIKeys = op{id: "listAPIKeys", tag: "api keys", summary: "List the tenant's API keys",
		desc: "Every key of the tenant, revoked ones included, oldest first, a page at a time (" + pagingDesc + "). " +
			"The keys themselves are never returned, only their prefix.",
		query: pageQueryParams, resp: apiKeyList{}}
	docCreateAPIKey = op{id: "createAPIKey", tag: "api keys", summary: "Create an API key",
		desc: "Returns the new key once, in key; only its hash is stored, so it cannot be shown again. " +
			"The key works at once, beside the tenant's other keys.",
		req: createAPIKeyRequest{}, resp: createdAPIKey{}, status: http.StatusCreated}
	docRevokeAPIKey = op{id: "revokeAPIKey", tag: "api keys", summary: "Revoke an API key",
		desc: "The key fails with 401 from the next request on, on every node. Revocation is final; the key stays in the list with revoked_at. " +
			"Revoking a revoked key changes nothing and answers the same. A key may revoke itself. Answers with the key.",
		resp: watan.APIKey{}}
	docRotateAPIKey = op{id: "rotateAPIKey", tag: "api keys", summary: "Replace an API key with a new one",
		desc: "Creates a key with the same name and revokes this one, in one transaction: from then on only the new key works. " +
			"Returns the new key once, in key. A revoked key cannot be rotated (conflict). A key may rotate itself. " +
			"To switch over without a moment where the old key fails, create a key, deploy it, then revoke the old one. The body is empty or {}.",
		req: emptyRequest{}, resp: createdAPIKey{}, status: http.StatusCreated, errs: []string{watan.ECodeConflict}}
)

func (h *Handler) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	ks, next, err := h.tenants.ListAPIKeysPage(r.Context(), tenantOf(r), limit, cursor)
	if err != nil {
		return fmt.Errorf("listing API keys: %w", err)
	}
	if ks == nil {
		ks = []watan.APIKey{}
	}
	writeJSON(w, http.StatusOK, apiKeyList{APIKeys: ks, NextCursor: next})
	return nil
}

func (h *Handler) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var req createAPIKeyRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	// Required here although the store accepts a nameless key: a name is what the
	// list and the order timelines show.
	if strings.TrimSpace(req.Name) == "" {
		return invalid("name is required")
	}
	k, plain, err := h.tenants.CreateAPIKey(r.Context(), tenantOf(r), req.Name)
	if err != nil {
		return fmt.Errorf("creating API key: %w", err)
	}
	writeJSON(w, http.StatusCreated, createdAPIKey{APIKey: k, Key: plain})
	return nil
}

func (h *Handler) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "API key")
	if err != nil {
		return err
	}
	k, err := h.tenants.RevokeAPIKey(r.Context(), tenantOf(r), id)
	if err != nil {
		return fmt.Errorf("revoking API key %d: %w", id, err)
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

func (h *Handler) rotateAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := decodeOptionalJSON(r, &emptyRequest{}); err != nil {
		return err
	}
	id, err := pathID(r, "id", "API key")
	if err != nil {
		return err
	}
	k, plain, err := h.tenants.RotateAPIKey(r.Context(), tenantOf(r), id)
	if err != nil {
		return fmt.Errorf("rotating API key %d: %w", id, err)
	}
	writeJSON(w, http.StatusCreated, createdAPIKey{APIKey: k, Key: plain})
	return nil
}
