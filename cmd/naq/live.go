package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/naq-io/naq/internal/semconv"
)

// opKey identifies one row of the live summary: an operation on a
// destination (subject template, stream or bucket).
type opKey struct {
	op, dest string
}

// opWindow is one row's numbers over an interval (or the whole run).
type opWindow struct {
	count   uint64
	errors  uint64
	errType map[string]uint64
	bounds  []float64
	buckets []uint64
}

func (w *opWindow) add(bounds []float64, buckets []uint64, count uint64, errType string) {
	if w.bounds == nil {
		w.bounds = bounds
		w.buckets = make([]uint64, len(buckets))
	}
	if len(buckets) == len(w.buckets) {
		for i, b := range buckets {
			w.buckets[i] += b
		}
	}
	w.count += count
	if errType != "" {
		w.errors += count
		if w.errType == nil {
			w.errType = map[string]uint64{}
		}
		w.errType[errType] += count
	}
}

// quantile estimates the q-quantile from the histogram buckets with the
// linear interpolation Prometheus' histogram_quantile uses, so the terminal
// agrees with the dashboards. It returns 0 without observations.
func (w *opWindow) quantile(q float64) time.Duration {
	var total uint64
	for _, c := range w.buckets {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum uint64
	for i, c := range w.buckets {
		if c == 0 || float64(cum+c) < rank {
			cum += c
			continue
		}
		lower := 0.0
		if i > 0 {
			lower = w.bounds[i-1]
		}
		if i >= len(w.bounds) { // +Inf bucket: report the highest bound
			return secs(w.bounds[len(w.bounds)-1])
		}
		upper := w.bounds[i]
		return secs(lower + (upper-lower)*(rank-float64(cum))/float64(c))
	}
	return secs(w.bounds[len(w.bounds)-1])
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// topError is the most frequent error type of the window, "" when none.
func (w *opWindow) topError() string {
	var best string
	var n uint64
	for t, c := range w.errType {
		if c > n || (c == n && t < best) {
			best, n = t, c
		}
	}
	return best
}

// liveStats turns the cumulative operation histograms of a manual reader
// into per-interval rows. It is used by one goroutine at a time.
type liveStats struct {
	reader *sdkmetric.ManualReader
	prev   map[attribute.Distinct]dpSnapshot
}

type dpSnapshot struct {
	count   uint64
	buckets []uint64
}

func newLiveStats(r *sdkmetric.ManualReader) *liveStats {
	return &liveStats{reader: r, prev: map[attribute.Distinct]dpSnapshot{}}
}

// collect returns the rows for the interval since the previous collect and
// for the whole run.
func (l *liveStats) collect(ctx context.Context) (interval, total map[opKey]*opWindow, err error) {
	var rm metricdata.ResourceMetrics
	if err := l.reader.Collect(ctx, &rm); err != nil {
		return nil, nil, err
	}
	interval, total = map[opKey]*opWindow{}, map[opKey]*opWindow{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != semconv.MetricOperationDuration && m.Name != semconv.MetricProcessDuration {
				continue
			}
			h, ok := m.Data.(metricdata.Histogram[float64])
			if !ok {
				continue
			}
			for _, dp := range h.DataPoints {
				key := rowKey(dp.Attributes)
				errType := attrString(dp.Attributes, semconv.ErrorTypeKey)
				win(total, key).add(dp.Bounds, dp.BucketCounts, dp.Count, errType)

				id := dp.Attributes.Equivalent()
				prev := l.prev[id]
				delta := make([]uint64, len(dp.BucketCounts))
				for i, c := range dp.BucketCounts {
					if i < len(prev.buckets) && c >= prev.buckets[i] {
						delta[i] = c - prev.buckets[i]
					} else {
						delta[i] = c
					}
				}
				dc := dp.Count
				if dc >= prev.count {
					dc -= prev.count
				}
				win(interval, key).add(dp.Bounds, delta, dc, errType)
				l.prev[id] = dpSnapshot{count: dp.Count, buckets: slices.Clone(dp.BucketCounts)}
			}
		}
	}
	return interval, total, nil
}

func win(m map[opKey]*opWindow, k opKey) *opWindow {
	w := m[k]
	if w == nil {
		w = &opWindow{}
		m[k] = w
	}
	return w
}

// rowKey names a data point: its operation and the first destination-like
// attribute it carries.
func rowKey(set attribute.Set) opKey {
	k := opKey{op: attrString(set, semconv.MessagingOperationNameKey)}
	for _, a := range []attribute.Key{
		semconv.MessagingDestinationTemplateKey,
		semconv.MessagingDestinationNameKey,
		semconv.NATSStreamKey,
		semconv.NATSKVBucketKey,
		semconv.NATSObjBucketKey,
	} {
		if v := attrString(set, a); v != "" {
			k.dest = v
			break
		}
	}
	return k
}

func attrString(set attribute.Set, k attribute.Key) string {
	v, ok := set.Value(k)
	if !ok {
		return ""
	}
	return v.Emit()
}

// sortedKeys orders rows by operation family (core, JetStream, KV) and name.
func sortedKeys(m map[opKey]*opWindow) []opKey {
	keys := make([]opKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b opKey) int {
		if c := strings.Compare(a.dest, b.dest); c != 0 {
			return c
		}
		return strings.Compare(a.op, b.op)
	})
	return keys
}

// writeTable prints the rows; seconds is the window length for ops/s (0:
// print totals instead of rates).
func writeTable(w io.Writer, rows map[opKey]*opWindow, seconds float64) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rate := "ops/s"
	if seconds <= 0 {
		rate = "ops"
	}
	fmt.Fprintf(tw, "  operation\tdestination\t%s\tp50\tp99\terrors\t\n", rate)
	for _, k := range sortedKeys(rows) {
		r := rows[k]
		if r.count == 0 && seconds > 0 {
			continue
		}
		n := fmt.Sprintf("%d", r.count)
		if seconds > 0 {
			n = fmt.Sprintf("%.1f", float64(r.count)/seconds)
		}
		errs := "0"
		if r.errors > 0 {
			errs = fmt.Sprintf("%d (%s)", r.errors, r.topError())
		}
		dest := k.dest
		if dest == "" {
			dest = "-" // connect has none
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t\n", k.op, dest, n,
			fmtDur(r.quantile(0.50)), fmtDur(r.quantile(0.99)), errs)
	}
	_ = tw.Flush()
}

// totals sums every row.
func totals(rows map[opKey]*opWindow) (count, errors uint64) {
	for _, r := range rows {
		count += r.count
		errors += r.errors
	}
	return count, errors
}

// roundRate formats ops/s with a sensible precision.
func roundRate(n uint64, seconds float64) string {
	if seconds <= 0 {
		return "0"
	}
	return fmt.Sprintf("%.0f", math.Round(float64(n)/seconds))
}
