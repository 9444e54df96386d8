// Command naq observes and checks NATS clients: demo, health, wait, perf.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "naq: the CLI is not built yet (see issue: naq CLI and the demo)")
	os.Exit(2)
}
