package telemetry

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/naq-io/naq/internal/durfmt"
)

// SpanSummary is a span processor that counts finished spans per span name,
// with their errors and total duration. It keeps nothing else: no
// attributes, no events, no payloads. Add it with [WithSpanProcessor]; the
// naq CLI prints it for --traces=stdout. The zero value is not usable; use
// [NewSpanSummary]. It is safe for concurrent use.
type SpanSummary struct {
	mu    sync.Mutex
	names map[string]*SpanStats
}

// SpanStats is the per-name entry of a [SpanSummary].
type SpanStats struct {
	// Name is the span name, e.g. "publish orders.*".
	Name string
	// Count is the number of ended spans with that name.
	Count int64
	// Errors is how many of them had status Error.
	Errors int64
	// Total is the sum of their durations.
	Total time.Duration
}

// Mean returns the average span duration, or 0 when Count is 0.
func (s SpanStats) Mean() time.Duration {
	if s.Count == 0 {
		return 0
	}
	return s.Total / time.Duration(s.Count)
}

var _ sdktrace.SpanProcessor = (*SpanSummary)(nil)

// NewSpanSummary returns an empty summary.
func NewSpanSummary() *SpanSummary {
	return &SpanSummary{names: make(map[string]*SpanStats)}
}

// OnStart implements sdktrace.SpanProcessor; it does nothing.
func (s *SpanSummary) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd implements sdktrace.SpanProcessor: it counts the span under its name.
func (s *SpanSummary) OnEnd(sp sdktrace.ReadOnlySpan) {
	d := sp.EndTime().Sub(sp.StartTime())
	isErr := sp.Status().Code == codes.Error
	s.mu.Lock()
	st := s.names[sp.Name()]
	if st == nil {
		st = &SpanStats{Name: sp.Name()}
		s.names[sp.Name()] = st
	}
	st.Count++
	st.Total += d
	if isErr {
		st.Errors++
	}
	s.mu.Unlock()
}

// Shutdown implements sdktrace.SpanProcessor; it does nothing.
func (s *SpanSummary) Shutdown(context.Context) error { return nil }

// ForceFlush implements sdktrace.SpanProcessor; it does nothing.
func (s *SpanSummary) ForceFlush(context.Context) error { return nil }

// Stats returns a copy of the per-name counts, most frequent first (ties by
// name).
func (s *SpanSummary) Stats() []SpanStats {
	s.mu.Lock()
	out := make([]SpanStats, 0, len(s.names))
	for _, st := range s.names {
		out = append(out, *st)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b SpanStats) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// WriteTo writes a table of span names, counts, errors and mean durations to
// w, most frequent first. It implements io.WriterTo.
func (s *SpanSummary) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	tw := tabwriter.NewWriter(cw, 0, 0, 2, ' ', 0)
	stats := s.Stats()
	var total int64
	for _, st := range stats {
		total += st.Count
	}
	fmt.Fprintf(tw, "spans: %d in %d names\n", total, len(stats))
	fmt.Fprintln(tw, "SPAN\tCOUNT\tERRORS\tMEAN")
	for _, st := range stats {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", st.Name, st.Count, st.Errors, durfmt.Compact(st.Mean()))
	}
	err := tw.Flush()
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
