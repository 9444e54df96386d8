package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// summaryRow is one row of the demo's final summary table.
type summaryRow struct {
	ops    int
	errors int
}

// summaryLine is a table row: operation, destination, ops, p50, p99,
// errors (a count, then the top error type in parentheses when not 0).
var summaryLine = regexp.MustCompile(`^  (\S+)\s+(\S+)\s+(\d+)\s+\S+\s+\S+\s+(\d+)`)

// finalSummary parses the table the demo prints at exit ("naq demo: N
// operations in ...", up to the "connections:" line), keyed by
// "<operation> <destination>".
func finalSummary(t *testing.T, out string) map[string]summaryRow {
	t.Helper()
	_, table, ok := strings.Cut(out, "\nnaq demo: ")
	for ok && !strings.Contains(strings.SplitN(table, "\n", 2)[0], " operations in ") {
		_, table, ok = strings.Cut(table, "\nnaq demo: ")
	}
	require.True(t, ok, "no final summary in:\n%s", out)
	table, _, _ = strings.Cut(table, "\nconnections:")
	rows := map[string]summaryRow{}
	for _, line := range strings.Split(table, "\n")[1:] {
		m := summaryLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		ops, _ := strconv.Atoi(m[3])
		errs, _ := strconv.Atoi(m[4])
		rows[m[1]+" "+m[2]] = summaryRow{ops: ops, errors: errs}
	}
	return rows
}

// workloadFamilyRows are the summary rows (operation, destination) of the
// legacy JetStream context, the micro service and the ObjectStore bucket;
// the same strings are the span names (DESIGN.md's name table).
var workloadFamilyRows = []string{
	// legacy nats.JetStreamContext: stream, publish, push handler and
	// pull fetch (process), settles.
	"js.stream.create DEMO_LEGACY",
	"publish demo.legacy.invoice",
	"receive DEMO_LEGACY",
	"process DEMO_LEGACY",
	"ack DEMO_LEGACY",
	// micro service endpoint and its client.
	"request demo.quotes.get",
	"process demo.quotes.get",
	// ObjectStore data operations.
	"obj.put demo_objects",
	"obj.get demo_objects",
}

// assertWorkloadFamilies checks that the demo's final summary has a row with
// operations and no error for each of workloadFamilyRows, and that both
// legacy subscriptions (push and pull) processed the legacy messages.
func assertWorkloadFamilies(t *testing.T, out string) {
	t.Helper()
	rows := finalSummary(t, out)
	for _, name := range workloadFamilyRows {
		r, ok := rows[name]
		if assert.True(t, ok, "no summary row %q in:\n%s", name, out) {
			assert.Positive(t, r.ops, name)
			assert.Zero(t, r.errors, name)
		}
	}
	pub, proc := rows["publish demo.legacy.invoice"], rows["process DEMO_LEGACY"]
	assert.Greater(t, proc.ops, pub.ops, "each legacy message is processed by the push handler and by the pull subscription")
}

func TestFinalSummaryParse(t *testing.T) {
	out := `[00:01]  10 ops/s, 0 errors | connection CONNECTED
  operation  destination  ops/s  p50  p99  errors  
  obj.put    demo_objects 9.0    1ms  2ms  0       

naq demo: stopping: workload, drain, flush telemetry

naq demo: 12 operations in 2s (6 ops/s), 1 error
  operation             destination          ops  p50     p99     errors  
  connect               -                    1    1.75ms  2.48ms  0       
  publish               demo.legacy.invoice  7    1.45ms  2.48ms  1 (timeout)  
  obj.put               demo_objects         3    1.75ms  2.48ms  0       
connections: opened 1, failed 0, disconnects 0, reconnects 0, avg connect 2.94ms
`
	assert.Equal(t, map[string]summaryRow{
		"connect -":                   {ops: 1},
		"publish demo.legacy.invoice": {ops: 7, errors: 1},
		"obj.put demo_objects":        {ops: 3},
	}, finalSummary(t, out))
}
