// Package version holds naq's identity: the one instrumentation scope name
// and version that every tracer and meter of the library reports, and that
// every package's ScopeName and Version constant is.
package version

// Version is the version of the naq module.
const Version = "0.1.0"

// ScopeName is the instrumentation scope name of every naq tracer and meter:
// the module path. One library, one identity, so that a wrapper call's span
// and its metric data points (and the breaker's, the hop collector's, the
// connection metrics') carry the same otel_scope_name.
const ScopeName = "github.com/naq-io/naq"
