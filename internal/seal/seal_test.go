package seal_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"watan/internal/seal"
)

func keys(t *testing.T, n int) [][]byte {
	var out [][]byte
	for range n {
		k, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := seal.ParseKeys(k)
		if err != nil || len(raw) != 1 {
			t.Fatalf("ParseKeys(GenerateKey()) = %v, %v", raw, err)
		}
		out = append(out, raw[0])
	}
	return out
}

func TestSealOpenRotate(t *testing.T) {
	ks := keys(t, 2)
	old, err := seal.New(ks[0])
	if err != nil {
		t.Fatal(err)
	}
	s, err := old.Seal("credentials", []byte(`{"sifre":"SIFRE-4711"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !seal.IsSealed(s) || strings.Contains(s, "SIFRE") {
		t.Fatalf("sealed value %q", s)
	}
	again, _ := old.Seal("credentials", []byte(`{"sifre":"SIFRE-4711"}`))
	if again == s {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	if _, err := old.Open("webhook", s); err == nil {
		t.Fatal("a value opened for another purpose")
	}
	tampered := s[:len(s)-2] + "AA"
	if _, err := old.Open("credentials", tampered); err == nil {
		t.Fatal("a tampered value opened")
	}
	// A ring with a newer key opens the old value and seals under the new key.
	both, err := seal.New(ks[0], ks[1])
	if err != nil {
		t.Fatal(err)
	}
	plain, err := both.Open("credentials", s)
	if err != nil || !bytes.Equal(plain, []byte(`{"sifre":"SIFRE-4711"}`)) {
		t.Fatalf("Open = %q, %v", plain, err)
	}
	if both.Current(s) || !old.Current(s) {
		t.Fatal("Current does not follow the newest key")
	}
	s2, _ := both.Seal("credentials", plain)
	newOnly, _ := seal.New(ks[1])
	if _, err := newOnly.Open("credentials", s2); err != nil {
		t.Fatalf("the new key alone cannot open what it sealed: %v", err)
	}
	if _, err := newOnly.Open("credentials", s); !errors.Is(err, seal.ErrUnknownKey) {
		t.Fatalf("old value under the new key alone: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	k1, _ := seal.GenerateKey()
	k2, _ := seal.GenerateKey()
	got, err := seal.ParseKeys("# old\n" + k1 + "\n\n" + k2 + "\n")
	if err != nil || len(got) != 2 {
		t.Fatalf("ParseKeys = %d keys, %v", len(got), err)
	}
	if got, err := seal.ParseKeys(k1 + "," + k2); err != nil || len(got) != 2 {
		t.Fatalf("comma-separated: %d, %v", len(got), err)
	}
	for _, bad := range []string{"short", "not base64 !!", strings.Repeat("A", 40)} {
		if _, err := seal.ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
	if _, err := seal.New([]byte("too short")); err == nil {
		t.Error("New accepted a short key")
	}
}
