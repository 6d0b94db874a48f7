package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise the
// module's build information is used.
var version = ""

func cmdVersion(ctx context.Context, env *Env, args []string) error {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v = "devel-" + s.Value[:12]
				}
			}
		}
	}
	fmt.Fprintln(env.Stdout, "watan", v)
	return nil
}
