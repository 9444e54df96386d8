// Package oteltest holds telemetry checks shared by naq's tests. It imports
// the OpenTelemetry SDK and testify, so only test files may import it.
package oteltest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// AssertNoSecrets fails t when any of the forbidden strings (payloads,
// passwords, tokens, KV values, inbox prefixes) appears, case-insensitively,
// in a span's name, status description, attributes, event names and
// attributes or link attributes, or in the attributes of any metric data
// point of rm. It also fails when there is no span or no data point to
// scan: an empty scan proves nothing.
//
// A forbidden string must not be able to turn up by chance in the random
// parts of telemetry (ports, connection and server ids, trace and span ids,
// addresses, timestamps), or the test flakes: "4111" once matched a random
// port about once in 2,000 runs. AssertNoSecrets stops the test (t.Fatal)
// before scanning when a forbidden string could (see [ChanceMatchable]): use
// a marker of 16 or more characters with letters beyond a–f, such as
// "pw-Qz7vKw9LmTxR4pNs", or a structural token holding a character random
// values never carry, such as "_INBOX." or "$JS.ACK".
func AssertNoSecrets(t testing.TB, spans []sdktrace.ReadOnlySpan, rm metricdata.ResourceMetrics, forbidden ...string) {
	t.Helper()
	for _, f := range forbidden {
		if why := ChanceMatchable(f); why != "" {
			t.Fatalf("oteltest.AssertNoSecrets: forbidden string %q %s, so it can occur by chance in a port, id, "+
				"trace id or timestamp and make the test flaky; use a marker of at least %d characters with "+
				"letters beyond a-f (e.g. %q) or a structural token such as \"_INBOX.\"",
				f, why, MinMarkerLen, "pw-Qz7vKw9LmTxR4pNs")
		}
	}
	check := func(where, s string) {
		ls := strings.ToLower(s)
		for _, f := range forbidden {
			assert.NotContains(t, ls, strings.ToLower(f), "%s leaks %q", where, f)
		}
	}
	checkAttrs := func(where string, kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			check(where+" "+string(kv.Key), string(kv.Key)+"="+kv.Value.Emit())
		}
	}
	for _, s := range spans {
		where := "span " + s.Name()
		check(where+" name", s.Name())
		check(where+" status", s.Status().Description)
		checkAttrs(where, s.Attributes())
		for _, e := range s.Events() {
			check(where+" event", e.Name)
			checkAttrs(where+" event "+e.Name, e.Attributes)
		}
		for _, l := range s.Links() {
			checkAttrs(where+" link", l.Attributes)
		}
	}
	points := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, set := range PointAttributes(m) {
				points++
				checkAttrs("metric "+m.Name, set.ToSlice())
			}
		}
	}
	require.NotEmpty(t, spans, "no spans recorded to scan")
	require.NotZero(t, points, "no metric data points recorded to scan")
}

// MinMarkerLen is the shortest forbidden string [AssertNoSecrets] accepts
// when it is made only of characters random telemetry values hold.
const MinMarkerLen = 16

// ChanceMatchable explains why forbidden could appear by chance in the
// random parts of telemetry, or returns "" when it cannot. Random values
// (NUIDs, hex trace and span ids, UUIDs, ports, IP addresses, timestamps,
// durations) are made of letters, digits and '-', '.', ':', '+', '/', ' ';
// a string of those characters only is chance-matchable when it is shorter
// than [MinMarkerLen] or has no letter beyond the hex digits a–f. A string
// that holds any other character ('_', '$', '>', ...) is structural and
// cannot be produced by randomness, but it must still be at least 4
// characters long.
func ChanceMatchable(forbidden string) string {
	if len(forbidden) < 4 {
		return "is shorter than 4 characters"
	}
	structural, nonHexLetter := false, false
	for _, r := range forbidden {
		switch {
		case (r >= 'g' && r <= 'z') || (r >= 'G' && r <= 'Z'):
			nonHexLetter = true
		case (r >= '0' && r <= '9') || (r >= 'a' && r <= 'f') || (r >= 'A' && r <= 'F'):
		case strings.ContainsRune("-.:+/ ", r):
		default:
			structural = true
		}
	}
	switch {
	case structural:
		return ""
	case !nonHexLetter:
		return "is made only of digits, hex letters and separators"
	case len(forbidden) < MinMarkerLen:
		return fmt.Sprintf("is shorter than %d characters", MinMarkerLen)
	}
	return ""
}

// PointAttributes returns the attribute set of every data point of m
// (histograms, sums and gauges, int64 and float64).
func PointAttributes(m metricdata.Metrics) []attribute.Set {
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		return histSets(d.DataPoints)
	case metricdata.Histogram[int64]:
		return histSets(d.DataPoints)
	case metricdata.Sum[int64]:
		return pointSets(d.DataPoints)
	case metricdata.Sum[float64]:
		return pointSets(d.DataPoints)
	case metricdata.Gauge[int64]:
		return pointSets(d.DataPoints)
	case metricdata.Gauge[float64]:
		return pointSets(d.DataPoints)
	}
	return nil
}

func pointSets[N int64 | float64](dps []metricdata.DataPoint[N]) []attribute.Set {
	sets := make([]attribute.Set, len(dps))
	for i, p := range dps {
		sets[i] = p.Attributes
	}
	return sets
}

func histSets[N int64 | float64](dps []metricdata.HistogramDataPoint[N]) []attribute.Set {
	sets := make([]attribute.Set, len(dps))
	for i, p := range dps {
		sets[i] = p.Attributes
	}
	return sets
}
