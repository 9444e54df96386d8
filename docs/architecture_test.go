package docs_test

import (
	"go/parser"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/naq-io/naq/"

// allowedImports is the import direction docs/architecture.md documents:
// the naq packages each non-test file of a package may import.
var allowedImports = map[string][]string{
	"tracing":    {"internal/semconv", "internal/version"},
	"metrics":    {"internal/semconv", "internal/connevents", "internal/meters", "internal/version"},
	"circuit":    {"internal/semconv", "internal/connevents", "internal/version"},
	"instrument": {"internal/semconv", "internal/meters", "internal/msgcount", "internal/version", "tracing", "metrics", "circuit"},
	"scope":      {"internal/semconv", "internal/version", "metrics", "circuit", "instrument", "tracing"},
	"telemetry":  {"internal/semconv", "internal/durfmt", "internal/version"},

	"internal/meters": {"internal/semconv", "internal/msgcount", "internal/version"},
}

// TestImportDirection keeps docs/architecture.md true: imports among naq's
// packages flow one way, and only telemetry imports the OpenTelemetry SDK or
// exporters.
func TestImportDirection(t *testing.T) {
	root := repoRoot(t)
	for pkg, allowed := range allowedImports {
		imports := packageImports(t, filepath.Join(root, pkg))
		ok := map[string]bool{}
		for _, a := range allowed {
			ok[module+a] = true
		}
		for _, imp := range imports {
			if strings.HasPrefix(imp, module) {
				assert.True(t, ok[imp], "%s imports %s, against the import direction of docs/architecture.md", pkg, imp)
			}
			if pkg != "telemetry" {
				assert.False(t, strings.HasPrefix(imp, "go.opentelemetry.io/otel/sdk") ||
					strings.HasPrefix(imp, "go.opentelemetry.io/otel/exporters"),
					"library package %s imports the OpenTelemetry SDK (%s); only telemetry may", pkg, imp)
			}
			// The server is for tests, the demo and the CLI: a library user
			// never links it (tracing has its own trace event types).
			assert.False(t, strings.HasPrefix(imp, "github.com/nats-io/nats-server"),
				"library package %s imports nats-server (%s)", pkg, imp)
		}
	}
}

func packageImports(t *testing.T, dir string) []string {
	_, pkgs := parseSources(t, dir, parser.ImportsOnly)
	seen := map[string]bool{}
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, s := range f.Imports {
				path, err := strconv.Unquote(s.Path.Value)
				require.NoError(t, err)
				seen[path] = true
			}
		}
	}
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
