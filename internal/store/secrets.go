package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"watan"
	"watan/internal/seal"
)

// Secrets at rest. Provider credentials (a JSON object) and webhook secrets are
// written sealed when the store has a Sealer; what was written before one was
// configured stays readable as plain text until ResealSecrets seals it.

// Purposes bind a sealed value to what it is, so one cannot stand in for another.
const (
	purposeCredentials   = "watan/provider-credentials"
	purposeWebhookSecret = "watan/webhook-secret"
)

var errNoKey = errors.New("store: a secret is sealed but no secret key is configured (WATAN_SECRET_KEY or --secret-key-file)")

// sealText seals plain for purpose, or returns it as it is without a Sealer.
func (s *Store) sealText(purpose, plain string) (string, error) {
	if s.sealer == nil || plain == "" {
		return plain, nil
	}
	sealed, err := s.sealer.Seal(purpose, []byte(plain))
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	return sealed, nil
}

// openText reverses sealText; plain text written before sealing passes through.
func (s *Store) openText(purpose, stored string) (string, error) {
	if !seal.IsSealed(stored) {
		return stored, nil
	}
	if s.sealer == nil {
		return "", errNoKey
	}
	plain, err := s.sealer.Open(purpose, stored)
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	return string(plain), nil
}

// credentialsArg encodes credentials for the credentials column: a JSON object,
// or with a Sealer a JSON string holding the sealed object. Secrets marshal as
// "[redacted]", so they are revealed into plain strings first; the result must
// never be logged.
func (s *Store) credentialsArg(c map[string]watan.Secret) (string, error) {
	plain := make(map[string]string, len(c))
	for k, v := range c {
		plain[k] = v.Reveal()
	}
	obj, err := jsonArg(plain)
	if err != nil || s.sealer == nil {
		return obj, err
	}
	sealed, err := s.sealText(purposeCredentials, obj)
	if err != nil {
		return "", err
	}
	return jsonArg(sealed)
}

// openCredentials decodes the credentials column, sealed or not.
func (s *Store) openCredentials(raw json.RawMessage) (map[string]watan.Secret, error) {
	obj := []byte(raw)
	var sealed string
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &sealed); err != nil {
			return nil, fmt.Errorf("store: credentials: %w", err)
		}
		plain, err := s.openText(purposeCredentials, sealed)
		if err != nil {
			return nil, err
		}
		obj = []byte(plain)
	}
	var m map[string]string
	if len(obj) > 0 && string(obj) != "null" {
		if err := json.Unmarshal(obj, &m); err != nil {
			return nil, fmt.Errorf("store: credentials: %w", err)
		}
	}
	out := make(map[string]watan.Secret, len(m))
	for k, v := range m {
		out[k] = watan.Secret(v)
	}
	return out, nil
}

// SealPlainSecrets seals every provider credential set and webhook secret that an
// older version stored in plain text, and returns how many it sealed. Serve runs it
// at start.
func (s *Store) SealPlainSecrets(ctx context.Context) (int, error) { return s.reseal(ctx, false) }

// ResealSecrets seals, under the Sealer's newest key, every provider credential
// set and webhook secret stored in plain text or under an older key (`watan secrets
// rotate`). Run it only once every node holds the newest key: a node without it
// cannot read what is sealed under it.
func (s *Store) ResealSecrets(ctx context.Context) (int, error) { return s.reseal(ctx, true) }

// reseal seals what is plain, and with rotate what is sealed under an older key. A
// row changed meanwhile is left for the next run rather than overwritten with what
// was read before the change.
func (s *Store) reseal(ctx context.Context, rotate bool) (int, error) {
	if s.sealer == nil {
		return 0, errors.New("store: reseal: no secret key is configured")
	}
	type row struct {
		id      int64 // provider account id, or tenant id of a webhook endpoint
		stored  string
		updated time.Time
	}
	read := func(what, query string) ([]row, error) {
		return list(ctx, s.db, what, func(r rowScanner) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.stored, timeCol{&x.updated})
			return x, err
		}, query)
	}
	n := 0
	accounts, err := read("provider credentials", `SELECT id, CAST(credentials AS TEXT), updated_at FROM provider_accounts ORDER BY id`)
	if err != nil {
		return 0, err
	}
	for _, a := range accounts {
		var sealed string
		if json.Unmarshal([]byte(a.stored), &sealed) == nil && seal.IsSealed(sealed) && (!rotate || s.sealer.Current(sealed)) {
			continue
		}
		creds, err := s.openCredentials(json.RawMessage(a.stored))
		if err != nil {
			return n, fmt.Errorf("provider account %d: %w", a.id, err)
		}
		arg, err := s.credentialsArg(creds)
		if err != nil {
			return n, err
		}
		res, err := s.db.ExecContext(ctx, `UPDATE provider_accounts SET credentials = $1 WHERE id = $2 AND updated_at = $3`,
			arg, a.id, s.ts(a.updated))
		if err != nil {
			return n, fmt.Errorf("store: reseal provider account %d: %w", a.id, err)
		}
		if k, _ := res.RowsAffected(); k == 1 {
			n++
		}
	}
	endpoints, err := read("webhook secrets", `SELECT tenant_id, secret, updated_at FROM webhook_endpoints ORDER BY tenant_id`)
	if err != nil {
		return n, err
	}
	for _, e := range endpoints {
		if seal.IsSealed(e.stored) && (!rotate || s.sealer.Current(e.stored)) {
			continue
		}
		plain, err := s.openText(purposeWebhookSecret, e.stored)
		if err != nil {
			return n, fmt.Errorf("webhook endpoint of tenant %d: %w", e.id, err)
		}
		sealed, err := s.sealText(purposeWebhookSecret, plain)
		if err != nil {
			return n, err
		}
		res, err := s.db.ExecContext(ctx, `UPDATE webhook_endpoints SET secret = $1 WHERE tenant_id = $2 AND updated_at = $3`,
			sealed, e.id, s.ts(e.updated))
		if err != nil {
			return n, fmt.Errorf("store: reseal webhook endpoint of tenant %d: %w", e.id, err)
		}
		if k, _ := res.RowsAffected(); k == 1 {
			n++
		}
	}
	return n, nil
}
