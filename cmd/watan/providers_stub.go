package main

import (
	"context"
	"errors"
)

// Placeholders replaced by the provider-clients work.
func cmdFakeProvider(ctx context.Context, env *Env, args []string) error {
	return errors.New("fakeprovider: not yet")
}
func cmdProvider(ctx context.Context, env *Env, args []string) error {
	return errors.New("provider: not yet")
}
