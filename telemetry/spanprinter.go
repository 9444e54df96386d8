package telemetry

import (
	"context"
	"io"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/naq-io/naq/internal/durfmt"
	"github.com/naq-io/naq/internal/semconv"
)

// SpanPrinter is a span processor that writes one compact line per span as
// it ends, for a terminal: the CLI's --traces=stdout-spans. A line reads
//
//	14:03:07.412 publish demo.orders.* kind=producer duration=84µs status=ok trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 parent_id=-
//
// followed, when present, by error.type=<type> (a failed span), links=<n>
// (a batch receive, or a process span linked to its producer) and
// events=<n>. The time is the span's end in local time. It prints no other
// attribute, no event content and no status description, so no payload,
// key or subject beyond the span name's template reaches the terminal. Each
// span is written with a single Write call; a write error is dropped.
//
// Add it with [WithSpanProcessor]. It is safe for concurrent use; create it
// with [NewSpanPrinter].
type SpanPrinter struct {
	mu sync.Mutex
	w  io.Writer
}

var _ sdktrace.SpanProcessor = (*SpanPrinter)(nil)

// NewSpanPrinter returns a printer writing to w. A nil w means io.Discard.
func NewSpanPrinter(w io.Writer) *SpanPrinter {
	if w == nil {
		w = io.Discard
	}
	return &SpanPrinter{w: w}
}

// OnStart implements sdktrace.SpanProcessor; it does nothing.
func (p *SpanPrinter) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd implements sdktrace.SpanProcessor: it writes the span's line.
func (p *SpanPrinter) OnEnd(sp sdktrace.ReadOnlySpan) {
	line := FormatSpan(sp)
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = io.WriteString(p.w, line)
}

// Shutdown implements sdktrace.SpanProcessor; it does nothing.
func (p *SpanPrinter) Shutdown(context.Context) error { return nil }

// ForceFlush implements sdktrace.SpanProcessor; it does nothing (every line
// is written when its span ends).
func (p *SpanPrinter) ForceFlush(context.Context) error { return nil }

// FormatSpan returns the line [SpanPrinter] writes for sp, ending in a
// newline.
func FormatSpan(sp sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	b.Grow(192)
	b.WriteString(sp.EndTime().Local().Format("15:04:05.000"))
	b.WriteByte(' ')
	b.WriteString(sp.Name())
	b.WriteString(" kind=")
	b.WriteString(sp.SpanKind().String())
	b.WriteString(" duration=")
	b.WriteString(durfmt.Compact(sp.EndTime().Sub(sp.StartTime())))
	b.WriteString(" status=")
	switch sp.Status().Code {
	case codes.Error:
		b.WriteString("error")
	case codes.Ok:
		b.WriteString("ok")
	default:
		b.WriteString("unset")
	}
	sc := sp.SpanContext()
	b.WriteString(" trace_id=")
	b.WriteString(sc.TraceID().String())
	b.WriteString(" span_id=")
	b.WriteString(sc.SpanID().String())
	b.WriteString(" parent_id=")
	if p := sp.Parent(); p.SpanID().IsValid() {
		b.WriteString(p.SpanID().String())
	} else {
		b.WriteByte('-')
	}
	for _, kv := range sp.Attributes() {
		if kv.Key == semconv.ErrorTypeKey {
			b.WriteString(" error.type=")
			b.WriteString(kv.Value.Emit())
		}
	}
	if n := len(sp.Links()); n > 0 {
		b.WriteString(" links=")
		b.WriteString(strconv.Itoa(n))
	}
	if n := len(sp.Events()); n > 0 {
		b.WriteString(" events=")
		b.WriteString(strconv.Itoa(n))
	}
	b.WriteByte('\n')
	return b.String()
}
