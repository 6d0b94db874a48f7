package main

import (
	"context"
	"errors"
)

// Placeholders replaced as the subcommands land.
func cmdServe(ctx context.Context, env *Env, args []string) error {
	return errors.New("serve: not yet")
}
func cmdMigrate(ctx context.Context, env *Env, args []string) error {
	return errors.New("migrate: not yet")
}
func cmdTenant(ctx context.Context, env *Env, args []string) error {
	return errors.New("tenant: not yet")
}
func cmdAPIKey(ctx context.Context, env *Env, args []string) error {
	return errors.New("apikey: not yet")
}
