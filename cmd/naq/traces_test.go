package main

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// spanLine matches one line of --traces=stdout-spans: time, span name,
// kind, duration, status, ids.
var spanLine = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} (\S+)(?: (\S+))? kind=(\w+) duration=\S+ status=(?:ok|error|unset) trace_id=([0-9a-f]{32}) span_id=([0-9a-f]{16}) parent_id=([0-9a-f]{16}|-)(?: .*)?$`)

// TestDemoPrintsSpans runs the documented `naq demo --traces=stdout-spans
// --rate 2`: every span is printed as it ends, one line each, with the ids
// that tie a delivered message's process span to its publish span, only
// templated subjects, and the span summary still follows at exit.
// --traces=stdout prints the summary only.
func TestDemoPrintsSpans(t *testing.T) {
	t.Parallel()
	r := naq(t, 90*time.Second, cleanEnv(), "demo", "--duration", "4s", "--interval", "2s",
		"--metrics-addr", "127.0.0.1:0", "--traces", "stdout-spans", "--rate", "2")
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	out := r.stdout
	assert.Contains(t, out, "traces: every span as it ends and a span summary at exit (--traces=stdout-spans)")
	assert.Contains(t, out, "spans: ", "the span summary still follows at exit")

	lines := spanLine.FindAllStringSubmatch(out, -1)
	require.NotEmpty(t, lines, "no span lines in:\n%s", out)
	kinds := map[string]bool{}
	publishes := map[string]bool{} // span ids of publish spans
	for _, l := range lines {
		name, dest, kind := l[1], l[2], l[3]
		kinds[name+" "+kind] = true
		assert.NotRegexp(t, `^demo\.orders\.\d`, dest, "raw subject in span line %q", l[0])
		if name == "publish" && dest == "demo.orders.*" {
			publishes[l[5]] = true
		}
	}
	assert.True(t, kinds["publish producer"], "no publish span line; got %v", kinds)
	assert.True(t, kinds["process consumer"], "no process span line; got %v", kinds)
	children := 0
	for _, l := range lines {
		if l[1] == "process" && publishes[l[6]] {
			children++
		}
	}
	assert.Positive(t, children, "no process span printed as the child of a printed publish span")

	r = naq(t, 90*time.Second, cleanEnv(), "demo", "--duration", "2s", "--interval", "1s",
		"--metrics-addr", "127.0.0.1:0", "--traces", "stdout", "--rate", "2")
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "spans: ")
	assert.Empty(t, spanLine.FindAllString(r.stdout, -1), "--traces=stdout prints no span lines")
}
