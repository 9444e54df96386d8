package docs_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type promQuery struct {
	file string
	line int
	expr string
}

func promQueries(t *testing.T) []promQuery {
	var out []promQuery
	for _, f := range markdownFiles(t) {
		for _, fc := range readMarkdown(t, f).fences {
			if fc.lang == "promql" {
				out = append(out, promQuery{file: f, line: fc.line, expr: fc.body})
			}
		}
	}
	return out
}

// documentedSeries returns the Prometheus series names of the metrics table
// of docs/observability.md (histograms as _bucket, _sum and _count).
func documentedSeries(t *testing.T) map[string]bool {
	doc := readMarkdown(t, "docs/observability.md")
	tb, ok := doc.table("OTel instrument")
	require.True(t, ok)
	series := map[string]bool{}
	for _, row := range tb.rows {
		for _, name := range codeSpans(row[3]) {
			if strings.TrimSpace(row[1]) == "histogram" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					series[name+s] = true
				}
				continue
			}
			series[name] = true
		}
	}
	return series
}

var metricRef = regexp.MustCompile(`\b(?:messaging|nats)_[a-z_]+\b`)

// TestPromQLMetricNames checks that every ```promql block of the docs only
// uses metric names of the names table, so a renamed metric breaks the
// runbooks' queries here rather than during an incident.
func TestPromQLMetricNames(t *testing.T) {
	queries := promQueries(t)
	require.NotEmpty(t, queries)
	series := documentedSeries(t)
	labels := map[string]bool{ // label names that look like metric names
		"messaging_system": true, "messaging_operation_name": true, "messaging_operation_type": true,
		"messaging_destination_name": true, "messaging_destination_template": true,
		"nats_connection_name": true, "nats_circuit_name": true, "nats_circuit_destination": true,
		"nats_circuit_from": true, "nats_circuit_to": true,
		"messaging_consumer_group_name": true, "messaging_nats_stream": true, "messaging_nats_kv_bucket": true,
	}
	for _, q := range queries {
		for _, m := range metricRef.FindAllString(q.expr, -1) {
			if labels[m] {
				continue
			}
			assert.True(t, series[m], "%s:%d: %s is not a series of the names table (docs/observability.md)", q.file, q.line, m)
		}
	}
}

// TestPromQLSyntax parses every ```promql block with promtool (as recording
// rules). Without promtool the test is skipped, except in CI.
func TestPromQLSyntax(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if v := os.Getenv("CI"); v != "" && v != "false" && v != "0" {
			t.Fatal("promtool is not installed; CI must install it (see .ci/run)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus); skipping")
	}
	queries := promQueries(t)
	var b strings.Builder
	b.WriteString("groups:\n  - name: docs\n    rules:\n")
	for i, q := range queries {
		fmt.Fprintf(&b, "      - record: docs:query_%d\n        expr: |\n", i)
		for _, l := range strings.Split(strings.TrimRight(q.expr, "\n"), "\n") {
			fmt.Fprintf(&b, "          %s\n", l)
		}
	}
	path := filepath.Join(t.TempDir(), "docs-queries.yml")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		var where []string
		for i, q := range queries {
			where = append(where, fmt.Sprintf("docs:query_%d = %s:%d", i, q.file, q.line))
		}
		t.Fatalf("promtool rejects a PromQL query of the docs: %v\n%s\n%s", err, out, strings.Join(where, "\n"))
	}
}
