// Command naq observes and checks NATS clients built with naq.
//
//	naq demo            run a realistic, instrumented workload (embedded server by default)
//	naq health          check a server once: id, version, JetStream, RTT
//	naq wait            wait until a server is ready (scripts, init containers)
//	naq perf            measure connect time, RTT and operation latency
//	naq config check    validate a config file and print it with secrets redacted
//
// Every command takes --url, --config and --profile; flags win over NAQ_*
// environment variables, which win over the config file.
//
// Exit codes: 0 success; 1 failure (unhealthy, not ready in time, an
// operation failed); 2 usage or configuration error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.opentelemetry.io/otel"
)

// Exit codes, documented in the root command's help.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// failure returns an error that exits with code 1.
func failure(err error) error { return &exitError{code: exitFailure, err: err} }

// usageErr returns an error that exits with code 2.
func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

func main() {
	// OpenTelemetry's internal errors (a failing export) are printed once
	// per message and window instead of once per batch.
	telErrs := newTelemetryErrors(os.Stderr)
	otel.SetErrorHandler(telErrs)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful stop; restoring the default
	// behaviour then lets a second Ctrl-C end the process at once.
	go func() { <-ctx.Done(); stop() }()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	telErrs.Flush()
	os.Exit(code)
}

// run executes the CLI with args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(stderr, "naq: %v\n", ee.err)
		}
		return ee.code
	}
	// Errors that are not ours come from cobra: bad flags, unknown commands,
	// wrong number of arguments.
	fmt.Fprintf(stderr, "naq: %v\nRun 'naq --help' for usage.\n", err)
	return exitUsage
}
