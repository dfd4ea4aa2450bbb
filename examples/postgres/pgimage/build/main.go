// Command build makes the PostgreSQL example's image (rewind-postgres:15-bookworm) unless the
// engine has it.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/examples/postgres/pgimage"
)

func main() {
	ctx := context.Background()
	engine, err := engine.New(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	start := time.Now()
	built, err := pgimage.Ensure(ctx, engine)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	if built {
		fmt.Printf("built %s in %s\n", pgimage.Image, time.Since(start).Round(time.Second))
		return
	}
	fmt.Printf("%s is there already\n", pgimage.Image)
}
