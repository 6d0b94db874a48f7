// Package seal encrypts secrets at rest: provider credentials and webhook secrets
// are stored sealed with AES-256-GCM, so that a copy of the database (a backup, a
// replica, a leaked dump) holds no usable credential without the key, which lives
// outside the database.
//
// A Keyring holds one or more keys. It seals under the newest and opens what any of
// them sealed, so keys rotate without downtime: add a new key (as the newest) on
// every node, run `watan secrets rotate` to re-seal everything under it, then drop
// the old key.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// prefix marks a sealed value: "sealed:v1:<key id>:<base64(nonce ‖ ciphertext)>".
const prefix = "sealed:v1:"

// ErrUnknownKey is the error of a value sealed under a key the Keyring lacks.
var ErrUnknownKey = errors.New("seal: sealed under a key this keyring does not hold")

// Keyring seals and opens secrets. It is safe for concurrent use.
type Keyring struct {
	keys []key // newest last
}

type key struct {
	id   string
	aead cipher.AEAD
}

// New returns a Keyring of keys, each KeySize bytes; the last is the newest.
func New(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no key")
	}
	k := &Keyring{}
	for i, raw := range keys {
		if len(raw) != KeySize {
			return nil, fmt.Errorf("seal: key %d has %d bytes, want %d", i+1, len(raw), KeySize)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		sum := sha256.Sum256(raw)
		k.keys = append(k.keys, key{id: hex.EncodeToString(sum[:4]), aead: aead})
	}
	return k, nil
}

// ParseKeys reads keys written as base64 (standard or URL alphabet), separated by
// commas or new lines; blank lines and lines starting with # are skipped.
func ParseKeys(text string) ([][]byte, error) {
	var out [][]byte
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, f := range strings.Split(line, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(f)
			if err != nil {
				raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(f, "="))
			}
			if err != nil || len(raw) != KeySize {
				return nil, fmt.Errorf("seal: a key is not %d bytes of base64", KeySize)
			}
			out = append(out, raw)
		}
	}
	return out, nil
}

// GenerateKey returns a new random key, base64-encoded.
func GenerateKey() (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// IsSealed reports whether s is a sealed value (of any key).
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }

// Seal encrypts plain under the newest key. purpose is authenticated with it (a
// value sealed for one purpose does not open for another).
func (k *Keyring) Seal(purpose string, plain []byte) (string, error) {
	cur := k.keys[len(k.keys)-1]
	nonce := make([]byte, cur.aead.NonceSize(), cur.aead.NonceSize()+len(plain)+cur.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	sealed := cur.aead.Seal(nonce, nonce, plain, []byte(purpose))
	return prefix + cur.id + ":" + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// Open decrypts a value Seal made for purpose under any key of the Keyring.
func (k *Keyring) Open(purpose, s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return nil, errors.New("seal: not a sealed value")
	}
	id, data, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, errors.New("seal: malformed sealed value")
	}
	for _, kk := range k.keys {
		if kk.id != id {
			continue
		}
		raw, err := base64.RawStdEncoding.DecodeString(data)
		if err != nil || len(raw) < kk.aead.NonceSize() {
			return nil, errors.New("seal: malformed sealed value")
		}
		plain, err := kk.aead.Open(nil, raw[:kk.aead.NonceSize()], raw[kk.aead.NonceSize():], []byte(purpose))
		if err != nil {
			return nil, errors.New("seal: sealed value does not authenticate (tampered, or sealed for something else)")
		}
		return plain, nil
	}
	return nil, ErrUnknownKey
}

// Current reports whether s is sealed under the newest key: rotation re-seals the
// values for which it is false.
func (k *Keyring) Current(s string) bool {
	return strings.HasPrefix(s, prefix+k.keys[len(k.keys)-1].id+":")
}
