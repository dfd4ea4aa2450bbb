// Command rewind starts, approves and follows rollbacks of Docker Compose stacks.
package main

import (
	"os"

	"github.com/algotrendy/rewind/starter/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
