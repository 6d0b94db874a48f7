package store_test

import (
	"context"
	"strings"
	"testing"

	"watan"
	"watan/internal/seal"
	"watan/internal/store"
	"watan/internal/store/storetest"
)

func keyring(t *testing.T, n int) (*seal.Keyring, [][]byte) {
	t.Helper()
	var raw [][]byte
	for range n {
		k, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		ks, _ := seal.ParseKeys(k)
		raw = append(raw, ks[0])
	}
	k, err := seal.New(raw...)
	if err != nil {
		t.Fatal(err)
	}
	return k, raw
}

// TestSecretsSealedAtRest: with a key, provider credentials and webhook secrets are
// stored sealed (a dump of the tables holds none of them) and read back plain;
// rows written in plain text before a key was configured are read as they are and
// sealed by ResealSecrets; rotation re-seals under the newest key, after which the
// old key is no longer needed; a store with no key refuses a sealed value.
func TestSecretsSealedAtRest(t *testing.T) {
	storetest.RunEngines(t, func(t *testing.T, e store.Engine) {
		ctx := context.Background()
		url := storetest.URL(t, e)
		open := func(s store.Sealer) *store.Store {
			st, err := store.Open(ctx, store.Config{URL: url, Sealer: s})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			return st
		}
		const sifre, token, hook = "SIFRE-SEALED-4711", "TOKEN-SEALED-0815", "hook-secret-SEALED-0042"
		dump := func(st *store.Store) string {
			var creds, secrets string
			if err := st.DB().QueryRowContext(ctx, `SELECT COALESCE(string_agg(CAST(credentials AS TEXT), ' '), '') FROM provider_accounts`).Scan(&creds); err != nil {
				// SQLite spells it group_concat.
				if err := st.DB().QueryRowContext(ctx, `SELECT COALESCE(group_concat(credentials, ' '), '') FROM provider_accounts`).Scan(&creds); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.DB().QueryRowContext(ctx, `SELECT COALESCE(MAX(secret), '') FROM webhook_endpoints`).Scan(&secrets); err != nil {
				t.Fatal(err)
			}
			return creds + " " + secrets
		}

		// Written by an older version, in plain text.
		plain := open(nil)
		ten, err := plain.CreateTenant(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		old, err := plain.CreateProviderAccount(ctx, watan.ProviderAccount{TenantID: ten.ID, Name: "old", Kind: watan.ProviderZnet,
			BaseURL: "https://z.example", Credentials: map[string]watan.Secret{"kod": "k", "sifre": sifre}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := plain.PutWebhookEndpoint(ctx, ten.ID, "https://shop.example/hook", hook, true); err != nil {
			t.Fatal(err)
		}

		_, raw := keyring(t, 2)
		k1, _ := seal.New(raw[0])
		sealed := open(k1)
		got, err := sealed.FindProviderAccount(ctx, ten.ID, old.ID)
		if err != nil || got.Credentials["sifre"].Reveal() != sifre {
			t.Fatalf("plain credentials read by a keyed store: %v, %v", got.Credentials, err)
		}
		n, err := sealed.SealPlainSecrets(ctx)
		if err != nil || n != 2 {
			t.Fatalf("SealPlainSecrets = %d, %v; want the credentials and the webhook secret", n, err)
		}
		b, err := sealed.CreateProviderAccount(ctx, watan.ProviderAccount{TenantID: ten.ID, Name: "new", Kind: watan.ProviderBarakat,
			BaseURL: "https://b.example", Credentials: map[string]watan.Secret{"token": token}})
		if err != nil {
			t.Fatal(err)
		}
		if d := dump(sealed); strings.Contains(d, sifre) || strings.Contains(d, token) || strings.Contains(d, hook) || !strings.Contains(d, "sealed:v1:") {
			t.Fatalf("the tables hold a secret in plain text: %s", d)
		}
		if got, err := sealed.FindProviderAccount(ctx, ten.ID, b.ID); err != nil || got.Credentials["token"].Reveal() != token {
			t.Fatalf("sealed credentials read back: %v, %v", got.Credentials, err)
		}
		if ep, err := sealed.FindWebhookEndpoint(ctx, ten.ID); err != nil || ep.Secret.Reveal() != hook {
			t.Fatalf("sealed webhook secret read back: %v", err)
		}
		if n, err := sealed.ResealSecrets(ctx); err != nil || n != 0 {
			t.Fatalf("a second ResealSecrets = %d, %v; want nothing to do", n, err)
		}
		if _, err := plain.FindProviderAccount(ctx, ten.ID, b.ID); err == nil {
			t.Fatal("a store without the key read sealed credentials")
		}

		// Rotation: a ring whose newest key is new re-seals everything; then the
		// new key alone suffices.
		rotating, _ := seal.New(raw[0], raw[1])
		if n, err := open(rotating).SealPlainSecrets(ctx); err != nil || n != 0 {
			t.Fatalf("SealPlainSecrets with a new key = %d, %v; it must leave rotation to ResealSecrets", n, err)
		}
		if n, err := open(rotating).ResealSecrets(ctx); err != nil || n != 3 {
			t.Fatalf("rotation resealed %d, %v; want 3", n, err)
		}
		newOnly, _ := seal.New(raw[1])
		st := open(newOnly)
		for _, id := range []int64{old.ID, b.ID} {
			if _, err := st.FindProviderAccount(ctx, ten.ID, id); err != nil {
				t.Fatalf("after rotation the new key alone cannot read account %d: %v", id, err)
			}
		}
		if ep, err := st.FindWebhookEndpoint(ctx, ten.ID); err != nil || ep.Secret.Reveal() != hook {
			t.Fatalf("after rotation: %v", err)
		}
	})
}
