package instrument

// Differential tests: raw nats.go and the instrumented wrappers side by side
// on the same embedded server, with the same inputs. Every case runs once on
// each side (state such as streams and buckets is reset before each run) and
// asserts the same return values, the same errors (same message, same
// sentinels for errors.Is, same error types down the wrap chain, same
// JetStream API error code) and the same messages on the wire as a raw
// subscriber sees them (subject, reply, data and every header except the
// trace-context keys traceparent, tracestate and baggage).
//
// The instrumented side uses a recording TracerProvider and a ManualReader
// MeterProvider, so trace context really is injected; the core cases run a
// second time with tracing off and metrics on.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
)

// diffMaxPayload is the servers' max_payload: small, so that payloads at the
// limit stay cheap.
const diffMaxPayload = 64 * 1024

// Names used by the differential cases.
const (
	diffStream   = "DIFF"
	diffBucket   = "DIFFKV"
	diffConsumer = "diffc"
	echoSubject  = "svc.echo"   // replies with the request's data and non-trace headers
	silentSubj   = "svc.silent" // subscribed, never replies
)

// coreConn is what *nats.Conn and *Conn have in common: the core calls the
// differential cases make.
type coreConn interface {
	Publish(subj string, data []byte) error
	PublishMsg(m *nats.Msg) error
	PublishRequest(subj, reply string, data []byte) error
	Request(subj string, data []byte, timeout time.Duration) (*nats.Msg, error)
	RequestMsg(msg *nats.Msg, timeout time.Duration) (*nats.Msg, error)
	RequestWithContext(ctx context.Context, subj string, data []byte) (*nats.Msg, error)
	RequestMsgWithContext(ctx context.Context, msg *nats.Msg) (*nats.Msg, error)
	Subscribe(subj string, cb nats.MsgHandler) (*nats.Subscription, error)
	QueueSubscribe(subj, queue string, cb nats.MsgHandler) (*nats.Subscription, error)
	ChanSubscribe(subj string, ch chan *nats.Msg) (*nats.Subscription, error)
	SubscribeSync(subj string) (*nats.Subscription, error)
}

var (
	_ coreConn = (*nats.Conn)(nil)
	_ coreConn = (*Conn)(nil)
)

// diffSide is one half of a differential run.
type diffSide struct {
	name string
	nc   *nats.Conn          // this side's nats.go connection
	conn coreConn            // nc, or NewConn(nc)
	js   jetstream.JetStream // jetstream.New(nc), or NewJetStream of it
	// next receives from a sync subscription: sub.NextMsg, or Conn.NextMsg.
	next func(sub *nats.Subscription, timeout time.Duration) (*nats.Msg, error)
	tel  *telemetry // instrumented side with tracing: its spans; else nil
}

// diffEnv is a server with everything the cases need: a raw and an
// instrumented side, an observer connection that records what goes on the
// wire, an admin JetStream context for resets and a responder.
type diffEnv struct {
	srv      *natstest.Server
	raw      *diffSide
	inst     *diffSide
	observer *nats.Conn
	admin    jetstream.JetStream
	feeder   *nats.Conn // publishes to subscriptions under test
	closed   bool       // the sides' connections are closed
}

type diffEnvConfig struct {
	noHeaders bool
	closed    bool
	instOpts  func(tel *telemetry) []Option // default tel.opts()
	tracing   bool                          // the instrumented side records spans
}

func newDiffEnv(t *testing.T, cfg diffEnvConfig) *diffEnv {
	t.Helper()
	opts := []natstest.Option{func(o *server.Options) { o.MaxPayload = diffMaxPayload }}
	if cfg.noHeaders {
		opts = append(opts, natstest.WithoutHeaders())
	}
	srv := natstest.RunServer(t, opts...)
	e := &diffEnv{srv: srv, closed: cfg.closed}

	e.observer = connect(t, srv, nats.Name("observer"))
	e.feeder = connect(t, srv, nats.Name("feeder"))
	admin := connect(t, srv, nats.Name("admin"))
	var err error
	e.admin, err = jetstream.New(admin)
	require.NoError(t, err)

	responder := connect(t, srv, nats.Name("responder"))
	_, err = responder.Subscribe(echoSubject, func(m *nats.Msg) {
		out := &nats.Msg{Subject: m.Reply, Data: m.Data, Header: withoutTraceKeys(m.Header)}
		_ = responder.PublishMsg(out)
	})
	require.NoError(t, err)
	_, err = responder.Subscribe(silentSubj, func(*nats.Msg) {})
	require.NoError(t, err)
	require.NoError(t, responder.Flush())

	rawNC := connect(t, srv, nats.Name("raw"))
	rawJS, err := jetstream.New(rawNC)
	require.NoError(t, err)
	e.raw = &diffSide{
		name: "raw", nc: rawNC, conn: rawNC, js: rawJS,
		next: func(sub *nats.Subscription, d time.Duration) (*nats.Msg, error) { return sub.NextMsg(d) },
	}

	tel := newTelemetry(t)
	instOpts := tel.opts()
	if cfg.instOpts != nil {
		instOpts = cfg.instOpts(tel)
	}
	instNC := connect(t, srv, nats.Name("instrumented"))
	ic := NewConn(instNC, instOpts...)
	instJS, err := jetstream.New(instNC)
	require.NoError(t, err)
	e.inst = &diffSide{
		name: "instrumented", nc: instNC, conn: ic, js: NewJetStream(instJS, instOpts...),
		next: ic.NextMsg,
	}
	if cfg.tracing {
		e.inst.tel = tel
	}
	if cfg.closed {
		rawNC.Close()
		instNC.Close()
	}
	return e
}

// wireMsg is a message as a raw subscriber sees it, normalised for
// comparison: reply inboxes (random per connection) become "_INBOX.*",
// payloads over 64 bytes become their length and hash, and the trace-context
// headers are dropped.
type wireMsg struct {
	Subject string
	Reply   string
	Data    string
	Header  nats.Header
}

func wireOf(m *nats.Msg) wireMsg {
	if m == nil {
		return wireMsg{Subject: "<nil>"}
	}
	return wireMsg{Subject: normInbox(m.Subject), Reply: normInbox(m.Reply), Data: dataOf(m.Data), Header: withoutTraceKeys(m.Header)}
}

func normInbox(s string) string {
	if strings.HasPrefix(s, nats.InboxPrefix) {
		return nats.InboxPrefix + "*"
	}
	return s
}

func dataOf(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	if len(b) <= 64 {
		return string(b)
	}
	h := sha256.Sum256(b)
	return fmt.Sprintf("<%d bytes %s>", len(b), hex.EncodeToString(h[:8]))
}

// isTraceHeader reports whether k is a trace-context key (any case), or
// the Nats-Trace-Dest header of WithServerTrace.
func isTraceHeader(k string) bool {
	switch strings.ToLower(k) {
	case "traceparent", "tracestate", "baggage", "nats-trace-dest":
		return true
	}
	return false
}

// withoutTraceKeys copies h without the trace-context keys; nil when
// nothing else is left.
func withoutTraceKeys(h nats.Header) nats.Header {
	var out nats.Header
	for k, v := range h {
		if isTraceHeader(k) {
			continue
		}
		if out == nil {
			out = nats.Header{}
		}
		out[k] = slices.Clone(v)
	}
	return out
}

// outcome is what one side's run produced.
type outcome struct {
	vals  []any   // normalised return values, in call order
	errs  []error // errors, in call order (nil entries included)
	panic string  // recovered panic, "" when none
	wire  []wireMsg
}

// rec collects the results of the calls of one run.
type rec struct{ o *outcome }

func (r rec) val(v ...any)  { r.o.vals = append(r.o.vals, v...) }
func (r rec) err(err error) { r.o.errs = append(r.o.errs, err) }

// diffCase is one differential case.
type diffCase struct {
	name      string
	observe   []string                       // subjects the observer records ("" = none)
	setup     func(t *testing.T, e *diffEnv) // before each side's run (reset state)
	run       func(t *testing.T, s *diffSide, r rec)
	unordered bool                                              // wire order is not deterministic (concurrent publishers)
	skip      string                                            // a known difference outside the wrappers' own code: why
	check     func(t *testing.T, spans []sdktrace.ReadOnlySpan) // instrumented spans of the run, when recorded
}

// runDiff runs every case on both sides of e and compares.
func runDiff(t *testing.T, e *diffEnv, cases []diffCase) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range cases {
		require.False(t, seen[c.name], "duplicate case name %q", c.name)
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" {
				t.Skip(c.skip)
			}
			raw := e.runSide(t, c, e.raw)
			var before int
			if e.inst.tel != nil {
				before = len(e.inst.tel.spans())
			}
			inst := e.runSide(t, c, e.inst)
			compareOutcomes(t, raw, inst)
			if c.check != nil && e.inst.tel != nil {
				c.check(t, e.inst.tel.spans()[before:])
			}
		})
	}
}

func (e *diffEnv) runSide(t *testing.T, c diffCase, s *diffSide) *outcome {
	t.Helper()
	if c.setup != nil {
		c.setup(t, e)
	}
	var subs []*nats.Subscription
	for _, subj := range c.observe {
		sub, err := e.observer.SubscribeSync(subj)
		require.NoError(t, err)
		subs = append(subs, sub)
	}
	require.NoError(t, e.observer.Flush())

	o := &outcome{}
	func() {
		defer func() {
			if p := recover(); p != nil {
				o.panic = fmt.Sprint(p)
			}
		}()
		c.run(t, s, rec{o})
	}()

	if !e.closed {
		require.NoError(t, s.nc.FlushTimeout(5*time.Second), "%s: flush", s.name)
	}
	require.NoError(t, e.observer.Flush())
	for _, sub := range subs {
		for {
			m, err := sub.NextMsg(50 * time.Millisecond)
			if err != nil {
				break
			}
			o.wire = append(o.wire, wireOf(m))
		}
		require.NoError(t, sub.Unsubscribe())
	}
	if c.unordered {
		sort.Slice(o.wire, func(i, j int) bool { return fmt.Sprint(o.wire[i]) < fmt.Sprint(o.wire[j]) })
	}
	return o
}

func compareOutcomes(t *testing.T, raw, inst *outcome) {
	t.Helper()
	assert.Equal(t, raw.panic, inst.panic, "panic")
	assert.Equal(t, raw.vals, inst.vals, "return values")
	if assert.Equal(t, len(raw.errs), len(inst.errs), "number of errors recorded") {
		for i := range raw.errs {
			assertSameError(t, fmt.Sprintf("call %d", i), raw.errs[i], inst.errs[i])
		}
	}
	// Message by message, so that a long sequence names the first
	// differences instead of dumping both lists.
	assert.Equal(t, len(raw.wire), len(inst.wire), "number of messages on the wire")
	diffs := 0
	for i := 0; i < max(len(raw.wire), len(inst.wire)) && diffs < 5; i++ {
		var r, in any = "<none>", "<none>"
		if i < len(raw.wire) {
			r = raw.wire[i]
		}
		if i < len(inst.wire) {
			in = inst.wire[i]
		}
		if !reflect.DeepEqual(r, in) {
			diffs++
			assert.Failf(t, "message on the wire differs", "message %d:\n raw:          %+v\n instrumented: %+v", i, r, in)
		}
	}
}

// diffSentinels are the sentinels whose errors.Is answer must not differ.
var diffSentinels = []error{
	nats.ErrBadSubject, nats.ErrMaxPayload, nats.ErrHeadersNotSupported, nats.ErrConnectionClosed,
	nats.ErrNoResponders, nats.ErrTimeout, nats.ErrInvalidMsg, nats.ErrInvalidContext,
	nats.ErrBadSubscription, nats.ErrBadQueueName, nats.ErrBadHeaderMsg, nats.ErrInvalidConnection,
	nats.ErrConnectionDraining, nats.ErrSyncSubRequired, nats.ErrInvalidArg,
	context.Canceled, context.DeadlineExceeded,
	jetstream.ErrNoStreamResponse, jetstream.ErrStreamNotFound, jetstream.ErrConsumerNotFound,
	jetstream.ErrInvalidStreamName, jetstream.ErrStreamNameAlreadyInUse, jetstream.ErrStreamNameRequired,
	jetstream.ErrKeyNotFound, jetstream.ErrKeyExists, jetstream.ErrInvalidKey, jetstream.ErrKeyDeleted,
	jetstream.ErrInvalidBucketName, jetstream.ErrBucketNotFound, jetstream.ErrNoKeysFound,
	jetstream.ErrAsyncPublishReplySubjectSet, jetstream.ErrInvalidJSAck, jetstream.ErrHandlerRequired,
	jetstream.ErrMsgNotFound, jetstream.ErrJetStreamNotEnabled, jetstream.ErrInvalidOption,
	jetstream.ErrNoMessages,
}

// assertSameError checks that inst is the error raw is: both nil, or the
// same message, the same errors.Is answers, the same types down the wrap
// chain and the same JetStream API error code.
func assertSameError(t *testing.T, what string, raw, inst error) {
	t.Helper()
	if raw == nil || inst == nil {
		assert.True(t, raw == nil && inst == nil, "%s: raw error %v, instrumented error %v", what, raw, inst)
		return
	}
	assert.Equal(t, raw.Error(), inst.Error(), "%s: error message", what)
	for _, s := range diffSentinels {
		assert.Equal(t, errors.Is(raw, s), errors.Is(inst, s), "%s: errors.Is(err, %q)", what, s)
	}
	assert.Equal(t, chainTypes(raw), chainTypes(inst), "%s: error types down the wrap chain", what)
	var rAPI, iAPI *jetstream.APIError
	if errors.As(raw, &rAPI) && assert.True(t, errors.As(inst, &iAPI), "%s: not a *jetstream.APIError: %v", what, inst) {
		assert.Equal(t, rAPI.ErrorCode, iAPI.ErrorCode, "%s: JetStream error code", what)
	}
}

// chainTypes lists the dynamic types of err and everything it wraps.
func chainTypes(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		out = append(out, reflect.TypeOf(e).String())
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

// --- value normalisers ---

func msgVal(m *nats.Msg) any {
	if m == nil {
		return "<nil msg>"
	}
	return wireOf(m)
}

func ackVal(a *jetstream.PubAck) any {
	if a == nil {
		return "<nil ack>"
	}
	return *a
}

func entryVal(e jetstream.KeyValueEntry) any {
	if e == nil {
		return "<nil entry>"
	}
	return fmt.Sprintf("bucket=%s key=%s value=%q rev=%d delta=%d op=%v",
		e.Bucket(), e.Key(), e.Value(), e.Revision(), e.Delta(), e.Operation())
}

func subVal(sub *nats.Subscription) any {
	if sub == nil {
		return "<nil subscription>"
	}
	return fmt.Sprintf("subject=%s queue=%s valid=%v", sub.Subject, sub.Queue, sub.IsValid())
}

// msgState is the caller-visible content of a message (for "unchanged
// afterwards" checks), trace keys included: they must never appear.
func msgState(m *nats.Msg) string {
	keys := make([]string, 0, len(m.Header))
	for k := range m.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "subject=%s reply=%s data=%s nilheader=%v", m.Subject, m.Reply, dataOf(m.Data), m.Header == nil)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%q", k, m.Header[k])
	}
	return b.String()
}

// --- span checks ---

// skipEvents returns the nats.propagation.skipped reasons of spans.
func skipEvents(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		for _, ev := range s.Events() {
			if ev.Name != semconv.EventPropagationSkipped {
				continue
			}
			for _, kv := range ev.Attributes {
				if kv.Key == semconv.NATSPropagationReasonKey {
					out = append(out, kv.Value.AsString())
				}
			}
		}
	}
	return out
}

func wantSkip(reason string) func(*testing.T, []sdktrace.ReadOnlySpan) {
	return func(t *testing.T, spans []sdktrace.ReadOnlySpan) {
		t.Helper()
		require.NotEmpty(t, spans, "no span recorded")
		assert.Contains(t, skipEvents(spans), reason, "nats.propagation.skipped event")
	}
}

func wantNoSkip(t *testing.T, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	require.NotEmpty(t, spans, "no span recorded")
	assert.Empty(t, skipEvents(spans), "no nats.propagation.skipped event")
}

// --- state resets ---

func resetStream(t *testing.T, e *diffEnv) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.admin.DeleteStream(ctx, diffStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		require.NoError(t, err)
	}
	_, err := e.admin.CreateStream(ctx, jetstream.StreamConfig{Name: diffStream, Subjects: []string{"js.>"}, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
}

func resetStreamAndConsumer(t *testing.T, e *diffEnv) {
	t.Helper()
	resetStream(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 1; i <= 3; i++ {
		_, err := e.admin.PublishMsg(ctx, &nats.Msg{Subject: "js.fetch", Data: []byte(fmt.Sprintf("m%d", i)),
			Header: nats.Header{"X-Seq": {fmt.Sprint(i)}}})
		require.NoError(t, err)
	}
	_, err := e.admin.CreateConsumer(ctx, diffStream, jetstream.ConsumerConfig{Durable: diffConsumer, AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
}

func resetBucket(t *testing.T, e *diffEnv) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.admin.DeleteKeyValue(ctx, diffBucket); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		require.NoError(t, err)
	}
	kv, err := e.admin.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: diffBucket, History: 5, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	_, err = kv.Put(ctx, "present", []byte("v1"))
	require.NoError(t, err)
}

func deleteStream(t *testing.T, e *diffEnv) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.admin.DeleteStream(ctx, diffStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		require.NoError(t, err)
	}
}

func ctxT() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// payload returns n bytes.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// traceHeaderSize is the encoded size of a lone W3C traceparent header
// ("NATS/1.0\r\n" + "traceparent: <55>\r\n" + "\r\n").
const traceHeaderSize = 12 + len("traceparent") + 55 + 4

// --- the cases ---

// coreCases are the core connection cases (run with tracing on, and again
// with tracing off and metrics on).
func coreCases() []diffCase {
	pub := func(subj string, data []byte) func(*testing.T, *diffSide, rec) {
		return func(_ *testing.T, s *diffSide, r rec) { r.err(s.conn.Publish(subj, data)) }
	}
	pubMsg := func(m func() *nats.Msg) func(*testing.T, *diffSide, rec) {
		return func(_ *testing.T, s *diffSide, r rec) {
			msg := m()
			var before string
			if msg != nil {
				before = msgState(msg)
			}
			r.err(s.conn.PublishMsg(msg))
			if msg != nil {
				r.val(msgState(msg) == before)
			}
		}
	}
	request := func(subj string, data []byte, timeout time.Duration) func(*testing.T, *diffSide, rec) {
		return func(_ *testing.T, s *diffSide, r rec) {
			m, err := s.conn.Request(subj, data, timeout)
			r.val(msgVal(m))
			r.err(err)
		}
	}
	mixed := nats.Header{"X-Mixed-Case": {"One"}, "x-lower": {"a", "b"}, "X-UPPER": {" padded "}}
	return []diffCase{
		{name: "publish/plain", observe: []string{"core.plain"}, run: pub("core.plain", []byte("hello")), check: wantNoSkip},
		{name: "publish/nil-data", observe: []string{"core.nil"}, run: pub("core.nil", nil)},
		{name: "publish/empty-subject", run: pub("", []byte("x"))},
		{name: "publish/subject-with-space", run: pub("a b", []byte("x"))},
		{name: "publish/wildcard-a.*", observe: []string{"a.*"}, run: pub("a.*", []byte("x"))},
		{name: "publish/wildcard->", observe: []string{">"}, run: pub(">", []byte("x"))},
		{name: "publish/at-max-payload", observe: []string{"core.big"}, run: pub("core.big", payload(diffMaxPayload)),
			check: wantSkip(semconv.PropagationMaxPayload)},
		{name: "publish/max-payload+1", observe: []string{"core.big"}, run: pub("core.big", payload(diffMaxPayload+1))},
		{name: "publish/fits-only-without-trace-header", observe: []string{"core.big"},
			run: pub("core.big", payload(diffMaxPayload-traceHeaderSize+1)), check: wantSkip(semconv.PropagationMaxPayload)},
		{name: "publish/fits-exactly-with-trace-header", observe: []string{"core.big"},
			run: pub("core.big", payload(diffMaxPayload-traceHeaderSize)), check: wantNoSkip},

		{name: "publishMsg/nil-message", run: pubMsg(func() *nats.Msg { return nil })},
		{name: "publishMsg/caller-headers-mixed-case-multi-value", observe: []string{"core.hdr"},
			run: pubMsg(func() *nats.Msg { return &nats.Msg{Subject: "core.hdr", Data: []byte("d"), Header: cloneHeader(mixed)} })},
		{name: "publishMsg/caller-traceparent-header", observe: []string{"core.hdr"},
			run: pubMsg(func() *nats.Msg {
				return &nats.Msg{Subject: "core.hdr", Data: []byte("d"), Header: nats.Header{"Traceparent": {"00-caller"}, "X-A": {"1"}}}
			})},
		{name: "publishMsg/empty-non-nil-header", observe: []string{"core.hdr"},
			run: pubMsg(func() *nats.Msg { return &nats.Msg{Subject: "core.hdr", Data: []byte("d"), Header: nats.Header{}} })},
		{name: "publishMsg/with-reply", observe: []string{"core.reply"},
			run: pubMsg(func() *nats.Msg { return &nats.Msg{Subject: "core.reply", Reply: "reply.here", Data: []byte("d")} })},
		{name: "publishMsg/invalid-reply", observe: []string{"core.reply"},
			run: pubMsg(func() *nats.Msg { return &nats.Msg{Subject: "core.reply", Reply: "bad reply", Data: []byte("d")} })},
		{name: "publishMsg/invalid-header-key", observe: []string{"core.hdr"},
			run: pubMsg(func() *nats.Msg {
				return &nats.Msg{Subject: "core.hdr", Data: []byte("d"), Header: nats.Header{"bad key": {"v"}}}
			})},
		{name: "publishMsg/empty-subject", run: pubMsg(func() *nats.Msg { return &nats.Msg{Data: []byte("d")} })},
		{name: "publishMsg/at-max-payload-with-caller-header", observe: []string{"core.big"},
			run: pubMsg(func() *nats.Msg {
				h := nats.Header{"X-A": {"1"}}
				return &nats.Msg{Subject: "core.big", Header: h, Data: payload(diffMaxPayload - headerSize(h))}
			}), check: wantSkip(semconv.PropagationMaxPayload)},
		{name: "publishMsg/max-payload+1-with-caller-header", observe: []string{"core.big"},
			run: pubMsg(func() *nats.Msg {
				h := nats.Header{"X-A": {"1"}}
				return &nats.Msg{Subject: "core.big", Header: h, Data: payload(diffMaxPayload - headerSize(h) + 1)}
			})},

		{name: "publishRequest/plain", observe: []string{"core.preq"},
			run: func(_ *testing.T, s *diffSide, r rec) {
				r.err(s.conn.PublishRequest("core.preq", "reply.x", []byte("q")))
			}},
		{name: "publishRequest/empty-reply", observe: []string{"core.preq"},
			run: func(_ *testing.T, s *diffSide, r rec) { r.err(s.conn.PublishRequest("core.preq", "", []byte("q"))) }},
		{name: "publishRequest/invalid-reply", observe: []string{"core.preq"},
			run: func(_ *testing.T, s *diffSide, r rec) { r.err(s.conn.PublishRequest("core.preq", "a b", []byte("q"))) }},
		{name: "publishRequest/empty-subject",
			run: func(_ *testing.T, s *diffSide, r rec) { r.err(s.conn.PublishRequest("", "reply.x", []byte("q"))) }},
		{name: "publishRequest/at-max-payload", observe: []string{"core.big"},
			run: func(_ *testing.T, s *diffSide, r rec) {
				r.err(s.conn.PublishRequest("core.big", "reply.x", payload(diffMaxPayload)))
			}},

		{name: "sequence/publishRequest-then-publish-reuses-pooled-messages", observe: []string{"core.seq"},
			run: func(_ *testing.T, s *diffSide, r rec) {
				for i := 0; i < 25; i++ {
					r.err(s.conn.PublishRequest("core.seq", fmt.Sprintf("reply.%d", i), []byte("req")))
					for j := 0; j < 4; j++ {
						r.err(s.conn.Publish("core.seq", []byte("plain")))
					}
					r.err(s.conn.PublishMsg(&nats.Msg{Subject: "core.seq", Reply: "reply.msg", Data: []byte("m"),
						Header: nats.Header{"X-Once": {"1"}}}))
					r.err(s.conn.Publish("core.seq", []byte("after-msg")))
					m, err := s.conn.Request(echoSubject, []byte("ping"), 5*time.Second)
					r.val(msgVal(m))
					r.err(err)
					r.err(s.conn.Publish("core.seq", []byte("after-request")))
				}
			}},
		{name: "sequence/publishMsg-shared-by-two-goroutines", observe: []string{"core.shared"}, unordered: true,
			run: func(_ *testing.T, s *diffSide, r rec) {
				msg := &nats.Msg{Subject: "core.shared", Data: []byte("shared"), Header: nats.Header{"X-Shared": {"1"}}}
				before := msgState(msg)
				var wg sync.WaitGroup
				errs := make([]error, 2)
				for g := 0; g < 2; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 50; i++ {
							if err := s.conn.PublishMsg(msg); err != nil {
								errs[g] = err
							}
						}
					}()
				}
				wg.Wait()
				r.err(errors.Join(errs...))
				r.val(msgState(msg) == before, msgState(msg))
			}},

		{name: "request/echo", run: request(echoSubject, []byte("ping"), 5*time.Second), check: wantNoSkip},
		{name: "request/no-responders", run: request("svc.none", []byte("ping"), 5*time.Second)},
		{name: "request/deadline-expires", run: request(silentSubj, []byte("ping"), 100*time.Millisecond)},
		{name: "request/empty-subject", run: request("", []byte("ping"), time.Second)},
		{name: "request/at-max-payload", run: request(echoSubject, payload(diffMaxPayload), 5*time.Second),
			check: wantSkip(semconv.PropagationMaxPayload)},
		{name: "request/max-payload+1", run: request(echoSubject, payload(diffMaxPayload+1), 5*time.Second)},
		{name: "requestMsg/caller-headers", run: func(_ *testing.T, s *diffSide, r rec) {
			msg := &nats.Msg{Subject: echoSubject, Data: []byte("ping"), Header: cloneHeader(mixed)}
			before := msgState(msg)
			m, err := s.conn.RequestMsg(msg, 5*time.Second)
			r.val(msgVal(m), msgState(msg) == before)
			r.err(err)
		}},
		{name: "requestMsg/nil-message", run: func(_ *testing.T, s *diffSide, r rec) {
			m, err := s.conn.RequestMsg(nil, time.Second)
			r.val(msgVal(m))
			r.err(err)
		}},
		{name: "requestWithContext/cancelled-context", run: func(_ *testing.T, s *diffSide, r rec) {
			m, err := s.conn.RequestWithContext(cancelled(), echoSubject, []byte("ping"))
			r.val(msgVal(m))
			r.err(err)
		}},
		{name: "requestWithContext/deadline-expires", run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			m, err := s.conn.RequestWithContext(ctx, silentSubj, []byte("ping"))
			r.val(msgVal(m))
			r.err(err)
		}},
		{name: "requestWithContext/nil-context", run: func(_ *testing.T, s *diffSide, r rec) {
			var nilCtx context.Context
			m, err := s.conn.RequestWithContext(nilCtx, echoSubject, []byte("ping"))
			r.val(msgVal(m))
			r.err(err)
		}},
		{name: "requestWithContext/no-responders", run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			m, err := s.conn.RequestWithContext(ctx, "svc.none", []byte("ping"))
			r.val(msgVal(m))
			r.err(err)
		}},
		{name: "requestMsgWithContext/echo-caller-headers", run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			msg := &nats.Msg{Subject: echoSubject, Data: []byte("ping"), Header: cloneHeader(mixed)}
			before := msgState(msg)
			m, err := s.conn.RequestMsgWithContext(ctx, msg)
			r.val(msgVal(m), msgState(msg) == before)
			r.err(err)
		}},
		{name: "requestMsgWithContext/nil-message", run: func(_ *testing.T, s *diffSide, r rec) {
			m, err := s.conn.RequestMsgWithContext(context.Background(), nil)
			r.val(msgVal(m))
			r.err(err)
		}},

		{name: "subscribe/nil-handler", run: func(_ *testing.T, s *diffSide, r rec) {
			sub, err := s.conn.Subscribe("core.sub", nil)
			r.val(subVal(sub))
			r.err(err)
			if sub != nil {
				_ = sub.Unsubscribe()
			}
		}},
		{name: "subscribe/empty-subject", run: func(_ *testing.T, s *diffSide, r rec) {
			sub, err := s.conn.Subscribe("", func(*nats.Msg) {})
			r.val(subVal(sub))
			r.err(err)
		}},
		{name: "queueSubscribe/invalid-queue", run: func(_ *testing.T, s *diffSide, r rec) {
			sub, err := s.conn.QueueSubscribe("core.sub", "bad queue", func(*nats.Msg) {})
			r.val(subVal(sub))
			r.err(err)
		}},
		{name: "chanSubscribe/nil-channel", run: func(_ *testing.T, s *diffSide, r rec) {
			sub, err := s.conn.ChanSubscribe("core.sub", nil)
			r.val(subVal(sub))
			r.err(err)
			if sub != nil {
				_ = sub.Unsubscribe()
			}
		}},
	}
}

// deliveryCases check what a subscriber made through each side receives
// from a plain publisher.
func deliveryCases() []diffCase {
	feed := func(e *diffEnv, subj string) {
		for i := 0; i < 3; i++ {
			_ = e.feeder.PublishMsg(&nats.Msg{Subject: subj, Reply: "reply.feed", Data: []byte(fmt.Sprint(i)),
				Header: nats.Header{"X-I": {fmt.Sprint(i)}, "traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}})
		}
		_ = e.feeder.Flush()
	}
	receive := func(name string, subscribe func(s *diffSide, subj string, got chan<- *nats.Msg) (*nats.Subscription, error)) diffCase {
		subj := "core.deliver." + name
		var env *diffEnv
		return diffCase{
			name:  "deliver/" + name,
			setup: func(_ *testing.T, e *diffEnv) { env = e },
			run: func(t *testing.T, s *diffSide, r rec) {
				got := make(chan *nats.Msg, 8)
				sub, err := subscribe(s, subj, got)
				r.err(err)
				if err != nil {
					return
				}
				defer func() { _ = sub.Unsubscribe() }()
				require.NoError(t, s.nc.Flush())
				feed(env, subj)
				for i := 0; i < 3; i++ {
					select {
					case m := <-got:
						r.val(msgVal(m))
					case <-time.After(5 * time.Second):
						r.val("<no message>")
					}
				}
			},
		}
	}
	return []diffCase{
		receive("subscribe", func(s *diffSide, subj string, got chan<- *nats.Msg) (*nats.Subscription, error) {
			return s.conn.Subscribe(subj, func(m *nats.Msg) { got <- m })
		}),
		receive("queue-subscribe", func(s *diffSide, subj string, got chan<- *nats.Msg) (*nats.Subscription, error) {
			return s.conn.QueueSubscribe(subj, "q", func(m *nats.Msg) { got <- m })
		}),
		receive("chan-subscribe", func(s *diffSide, subj string, got chan<- *nats.Msg) (*nats.Subscription, error) {
			ch := make(chan *nats.Msg, 8)
			sub, err := s.conn.ChanSubscribe(subj, ch)
			if err == nil {
				go func() {
					for i := 0; i < 3; i++ {
						select {
						case m := <-ch:
							got <- m
						case <-time.After(5 * time.Second):
							return
						}
					}
				}()
			}
			return sub, err
		}),
		receive("subscribe-sync-next", func(s *diffSide, subj string, got chan<- *nats.Msg) (*nats.Subscription, error) {
			sub, err := s.conn.SubscribeSync(subj)
			if err == nil {
				go func() {
					for i := 0; i < 3; i++ {
						m, err := s.next(sub, 5*time.Second)
						if err != nil {
							return
						}
						got <- m
					}
				}()
			}
			return sub, err
		}),
		{name: "nextMsg/timeout", run: func(_ *testing.T, s *diffSide, r rec) {
			sub, err := s.conn.SubscribeSync("core.next.none")
			r.err(err)
			m, err := s.next(sub, 50*time.Millisecond)
			r.val(msgVal(m))
			r.err(err)
			_ = sub.Unsubscribe()
		}},
		{name: "nextMsg/nil-subscription", run: func(_ *testing.T, s *diffSide, r rec) {
			m, err := s.next(nil, 50*time.Millisecond)
			r.val(msgVal(m))
			r.err(err)
		}},
	}
}

// jsCases are the JetStream cases (stream DIFF on js.>).
func jsCases() []diffCase {
	publish := func(subj string, data []byte, opts ...jetstream.PublishOpt) func(*testing.T, *diffSide, rec) {
		return func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			ack, err := s.js.Publish(ctx, subj, data, opts...)
			r.val(ackVal(ack))
			r.err(err)
		}
	}
	publishMsg := func(m func() *nats.Msg, opts ...jetstream.PublishOpt) func(*testing.T, *diffSide, rec) {
		return func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			msg := m()
			ack, err := s.js.PublishMsg(ctx, msg, opts...)
			r.val(ackVal(ack))
			r.err(err)
			if msg != nil {
				// With options nats.go writes its headers into msg; the trace
				// context must never be there.
				r.val(msgState(msg))
			}
		}
	}
	async := func(m func() *nats.Msg, opts ...jetstream.PublishOpt) func(*testing.T, *diffSide, rec) {
		return func(_ *testing.T, s *diffSide, r rec) {
			msg := m()
			var f jetstream.PubAckFuture
			var err error
			if msg == nil {
				f, err = s.js.PublishAsync("js.async", []byte("async"), opts...)
			} else {
				f, err = s.js.PublishMsgAsync(msg, opts...)
			}
			r.err(err)
			if err != nil {
				r.val(f == nil)
				return
			}
			select {
			case ack := <-f.Ok():
				r.val(ackVal(ack))
			case err := <-f.Err():
				r.err(err)
			case <-time.After(10 * time.Second):
				r.val("<future never resolved>")
			}
			r.val(msgState(f.Msg()) != "" && !hasTraceKey(f.Msg().Header), wireOf(f.Msg()))
			if msg != nil {
				// Known, accepted difference: on a no-responders retry
				// nats.go's reply goroutine gives the message it holds an
				// empty header when it has none (applyPublishOpts). Raw, that
				// is the caller's message; instrumented, the traced copy, so
				// the caller's nil header stays nil. Only nil versus empty is
				// ignored here.
				r.val(f.Msg() == msg, strings.Replace(msgState(msg), "nilheader=false", "nilheader=true", 1))
			}
		}
	}
	withMsgIDHeader := nats.Header{jetstream.MsgIDHeader: {"id-1"}}
	return []diffCase{
		{name: "js.publish/ok", setup: resetStream, observe: []string{"js.>"}, run: publish("js.a", []byte("one")), check: wantNoSkip},
		{name: "js.publish/empty-subject", setup: resetStream, run: publish("", []byte("x"))},
		{name: "js.publish/wildcard-subject", setup: resetStream, observe: []string{"js.*"}, run: publish("js.*", []byte("x"))},
		// Not observed: a subscriber on the subject would answer for the
		// stream (and the publish would time out instead).
		{name: "js.publish/no-stream-captures-subject", setup: resetStream, run: publish("nostream.x", []byte("x"))},
		{name: "js.publishAsync/no-stream-captures-subject", setup: resetStream,
			run: async(func() *nats.Msg { return &nats.Msg{Subject: "nostream.x", Data: []byte("x")} })},
		{name: "js.publish/at-max-payload", setup: resetStream, observe: []string{"js.>"},
			run: publish("js.big", payload(diffMaxPayload)), check: wantSkip(semconv.PropagationMaxPayload)},
		{name: "js.publish/max-payload+1", setup: resetStream, observe: []string{"js.>"}, run: publish("js.big", payload(diffMaxPayload+1))},
		{name: "js.publish/msg-id-header-pushes-traced-copy-over-max-payload", setup: resetStream, observe: []string{"js.>"},
			// fits with the trace header alone, not with the trace header
			// plus the Nats-Msg-Id header nats.go adds; raw fits.
			run:   publish("js.big", payload(diffMaxPayload-traceHeaderSize), jetstream.WithMsgID("id-1")),
			check: wantSkip(semconv.PropagationMaxPayload)},
		{name: "js.publish/at-max-payload-with-msg-id", setup: resetStream, observe: []string{"js.>"},
			run: publish("js.big", payload(diffMaxPayload-headerSize(withMsgIDHeader)), jetstream.WithMsgID("id-1"))},
		{name: "js.publish/duplicate-msg-id", setup: resetStream, observe: []string{"js.>"},
			run: func(t *testing.T, s *diffSide, r rec) {
				publish("js.dup", []byte("1"), jetstream.WithMsgID("dup"))(t, s, r)
				publish("js.dup", []byte("2"), jetstream.WithMsgID("dup"))(t, s, r)
			}},
		{name: "js.publish/wrong-expected-stream", setup: resetStream, observe: []string{"js.>"},
			run: publish("js.a", []byte("x"), jetstream.WithExpectStream("OTHER"))},
		{name: "js.publish/wrong-expected-last-sequence", setup: resetStream, observe: []string{"js.>"},
			run: publish("js.a", []byte("x"), jetstream.WithExpectLastSequence(42))},
		{name: "js.publish/stall-wait-on-sync-publish", setup: resetStream,
			run: publishMsg(func() *nats.Msg { return &nats.Msg{Subject: "js.a", Data: []byte("x")} }, jetstream.WithStallWait(time.Second))},
		{name: "js.publish/cancelled-context", setup: resetStream, observe: []string{"js.>"},
			run: func(_ *testing.T, s *diffSide, r rec) {
				ack, err := s.js.Publish(cancelled(), "js.a", []byte("x"))
				r.val(ackVal(ack))
				r.err(err)
			}},
		{name: "js.publish/nil-context", setup: resetStream, observe: []string{"js.>"},
			run: func(_ *testing.T, s *diffSide, r rec) {
				var nilCtx context.Context
				ack, err := s.js.Publish(nilCtx, "js.a", []byte("x"))
				r.val(ackVal(ack))
				r.err(err)
			}},
		{name: "js.publishMsg/caller-headers-unchanged", setup: resetStream, observe: []string{"js.>"},
			run: publishMsg(func() *nats.Msg {
				return &nats.Msg{Subject: "js.h", Data: []byte("h"), Header: nats.Header{"X-Mixed-Case": {"A"}, "x-multi": {"1", "2"}}}
			}), check: wantNoSkip},
		{name: "js.publishMsg/nil-header-stays-nil", setup: resetStream, observe: []string{"js.>"},
			run: publishMsg(func() *nats.Msg { return &nats.Msg{Subject: "js.h", Data: []byte("h")} })},
		{name: "js.publishMsg/options-write-their-headers-into-the-message", setup: resetStream, observe: []string{"js.>"},
			run: func(t *testing.T, s *diffSide, r rec) {
				msg := &nats.Msg{Subject: "js.o", Data: []byte("o")}
				ctx, cancel := ctxT()
				defer cancel()
				ack, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID("o-1"), jetstream.WithExpectStream(diffStream))
				r.val(ackVal(ack), msgState(msg))
				r.err(err)
				// Published again as is (the option headers stay, as raw).
				ack, err = s.js.PublishMsg(ctx, msg)
				r.val(ackVal(ack), msgState(msg))
				r.err(err)
			}},
		{name: "js.publishMsg/nil-message", setup: resetStream, run: publishMsg(func() *nats.Msg { return nil })},
		{name: "js.publishMsg/shared-by-two-goroutines", setup: resetStream, observe: []string{"js.>"}, unordered: true,
			run: func(_ *testing.T, s *diffSide, r rec) {
				msg := &nats.Msg{Subject: "js.shared", Data: []byte("shared"), Header: nats.Header{"X-Shared": {"1"}}}
				before := msgState(msg)
				var wg sync.WaitGroup
				errs := make([]error, 2)
				seqs := make([][]uint64, 2)
				for g := 0; g < 2; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ctx, cancel := ctxT()
						defer cancel()
						for i := 0; i < 20; i++ {
							ack, err := s.js.PublishMsg(ctx, msg)
							if err != nil {
								errs[g] = err
								continue
							}
							seqs[g] = append(seqs[g], ack.Sequence)
						}
					}()
				}
				wg.Wait()
				r.err(errors.Join(errs...))
				all := append(seqs[0], seqs[1]...)
				slices.Sort(all)
				r.val(all, msgState(msg) == before, msgState(msg))
			}},

		{name: "js.publishAsync/ok", setup: resetStream, observe: []string{"js.>"}, run: async(func() *nats.Msg { return nil })},
		{name: "js.publishAsync/with-msg-id", setup: resetStream, observe: []string{"js.>"},
			run: async(func() *nats.Msg { return nil }, jetstream.WithMsgID("a-1"))},
		{name: "js.publishMsgAsync/caller-headers", setup: resetStream, observe: []string{"js.>"},
			run: async(func() *nats.Msg {
				return &nats.Msg{Subject: "js.am", Data: []byte("am"), Header: nats.Header{"X-Mixed-Case": {"A"}}}
			})},
		{name: "js.publishAsync/outcomes-ready-when-complete-closes", setup: resetStream, observe: []string{"js.>"},
			run: func(_ *testing.T, s *diffSide, r rec) {
				var fs []jetstream.PubAckFuture
				for i := 0; i < 20; i++ {
					f, err := s.js.PublishAsync("js.many", []byte(fmt.Sprint(i)))
					r.err(err)
					if err == nil {
						fs = append(fs, f)
					}
				}
				select {
				case <-s.js.PublishAsyncComplete():
				case <-time.After(10 * time.Second):
					r.val("<PublishAsyncComplete never closed>")
				}
				ready := 0
				for _, f := range fs { // without blocking, as a caller may after Complete
					select {
					case ack := <-f.Ok():
						ready++
						r.val(ackVal(ack))
					case err := <-f.Err():
						ready++
						r.err(err)
					default:
					}
				}
				r.val(ready)
			}},
		{name: "js.publishMsgAsync/reply-set", setup: resetStream, observe: []string{"js.>"},
			run: async(func() *nats.Msg { return &nats.Msg{Subject: "js.am", Reply: "reply.x", Data: []byte("am")} })},
		{name: "js.publishMsgAsync/empty-subject", setup: resetStream,
			run: async(func() *nats.Msg { return &nats.Msg{Data: []byte("am")} })},
		{name: "js.publishMsgAsync/at-max-payload", setup: resetStream, observe: []string{"js.>"},
			run:   async(func() *nats.Msg { return &nats.Msg{Subject: "js.big", Data: payload(diffMaxPayload)} }),
			check: wantSkip(semconv.PropagationMaxPayload)},
		{name: "js.publishMsgAsync/max-payload+1", setup: resetStream, observe: []string{"js.>"},
			run: async(func() *nats.Msg { return &nats.Msg{Subject: "js.big", Data: payload(diffMaxPayload + 1)} })},
		{name: "js.publishMsgAsync/msg-id-header-pushes-traced-copy-over-max-payload", setup: resetStream, observe: []string{"js.>"},
			run: async(func() *nats.Msg {
				return &nats.Msg{Subject: "js.big", Data: payload(diffMaxPayload - traceHeaderSize)}
			}, jetstream.WithMsgID("id-2")),
			check: wantSkip(semconv.PropagationMaxPayload)},

		{name: "js.createStream/invalid-name", run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			st, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: "bad.name", Subjects: []string{"bad.>"}})
			r.val(st == nil)
			r.err(err)
		}},
		{name: "js.createStream/overlapping-subjects", setup: resetStream, run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			st, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: "OVERLAP", Subjects: []string{"js.>"}})
			r.val(st == nil)
			r.err(err)
		}},
		{name: "js.stream/not-found", run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			st, err := s.js.Stream(ctx, "MISSING")
			r.val(st == nil)
			r.err(err)
		}},
		{name: "js.stream/empty-name", run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			st, err := s.js.Stream(ctx, "")
			r.val(st == nil)
			r.err(err)
		}},
		{name: "js.deleteStream/not-found", setup: deleteStream, run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			r.err(s.js.DeleteStream(ctx, diffStream))
		}},
		{name: "js.stream/nil-context", setup: resetStream,
			run: func(_ *testing.T, s *diffSide, r rec) {
				var nilCtx context.Context
				st, err := s.js.Stream(nilCtx, diffStream)
				r.val(st == nil)
				r.err(err)
			}},
		{name: "js.consumer/not-found", setup: resetStream, run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			c, err := s.js.Consumer(ctx, diffStream, "missing")
			r.val(c == nil)
			r.err(err)
		}},
		{name: "js.consumer/fetch-next-and-ack", setup: resetStreamAndConsumer, run: func(t *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			c, err := s.js.Consumer(ctx, diffStream, diffConsumer)
			r.err(err)
			if err != nil {
				return
			}
			b, err := c.Fetch(2, jetstream.FetchMaxWait(2*time.Second))
			r.err(err)
			if err == nil {
				for m := range b.Messages() {
					md, _ := m.Metadata()
					r.val(m.Subject(), string(m.Data()), withoutTraceKeys(m.Headers()), md.Sequence.Stream)
					r.err(m.Ack())
				}
				r.err(b.Error())
			}
			m, err := c.Next(jetstream.FetchMaxWait(2 * time.Second))
			r.err(err)
			if err == nil {
				r.val(m.Subject(), string(m.Data()))
				r.err(m.DoubleAck(ctx))
			}
			_, err = c.Next(jetstream.FetchMaxWait(100 * time.Millisecond))
			r.err(err)
		}},
		{name: "js.consumer/consume-nil-handler", setup: resetStreamAndConsumer, run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			c, err := s.js.Consumer(ctx, diffStream, diffConsumer)
			r.err(err)
			if err != nil {
				return
			}
			cc, err := c.Consume(nil)
			r.val(cc == nil)
			r.err(err)
			if cc != nil {
				cc.Stop()
			}
		}},
		{name: "js.consumer/consume-nak-then-ack", setup: resetStreamAndConsumer, run: func(t *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			c, err := s.js.Consumer(ctx, diffStream, diffConsumer)
			r.err(err)
			if err != nil {
				return
			}
			// NAK every first delivery, ack the redelivery: the messages,
			// their metadata and the settle results are the same either way.
			type delivery struct {
				seq, delivered uint64
				subject, data  string
				settle         error
			}
			var mu sync.Mutex
			var got []delivery
			acked := make(chan struct{}, 3)
			cc, err := c.Consume(func(m jetstream.Msg) {
				md, err := m.Metadata()
				if !assert.NoError(t, err) {
					return
				}
				d := delivery{seq: md.Sequence.Stream, delivered: md.NumDelivered, subject: m.Subject(), data: string(m.Data())}
				if md.NumDelivered == 1 {
					d.settle = m.Nak()
				} else {
					d.settle = m.Ack()
					acked <- struct{}{}
				}
				mu.Lock()
				got = append(got, d)
				mu.Unlock()
			})
			r.err(err)
			if err != nil {
				return
			}
			for range 3 {
				select {
				case <-acked:
				case <-ctx.Done():
					t.Fatal("not all messages acked")
				}
			}
			cc.Stop()
			<-cc.Closed()
			mu.Lock()
			defer mu.Unlock()
			sort.Slice(got, func(i, j int) bool {
				if got[i].seq != got[j].seq {
					return got[i].seq < got[j].seq
				}
				return got[i].delivered < got[j].delivered
			})
			for _, d := range got {
				r.val(d.seq, d.delivered, d.subject, d.data)
				r.err(d.settle)
			}
		}},
		{name: "js.consumer/messages-next", setup: resetStreamAndConsumer, run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			c, err := s.js.Consumer(ctx, diffStream, diffConsumer)
			r.err(err)
			if err != nil {
				return
			}
			it, err := c.Messages()
			r.err(err)
			if err != nil {
				return
			}
			for range 3 {
				m, err := it.Next()
				r.err(err)
				if err != nil {
					break
				}
				md, err := m.Metadata()
				r.err(err)
				if md != nil {
					r.val(md.Sequence.Stream, md.NumDelivered, md.NumPending, md.Stream, md.Consumer)
				}
				r.val(m.Subject(), string(m.Data()), withoutTraceKeys(m.Headers()))
				r.err(m.Ack())
			}
			it.Stop()
			_, err = it.Next()
			r.err(err)
		}},
		{name: "js.keyValue/invalid-bucket", run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			kv, err := s.js.KeyValue(ctx, "bad bucket")
			r.val(kv == nil)
			r.err(err)
		}},
		{name: "js.keyValue/missing-bucket", run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			kv, err := s.js.KeyValue(ctx, "MISSINGKV")
			r.val(kv == nil)
			r.err(err)
		}},
		{name: "js.createKeyValue/invalid-bucket", run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			kv, err := s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bad.bucket"})
			r.val(kv == nil)
			r.err(err)
		}},
	}
}

// kvCases are the KeyValue cases (bucket DIFFKV holding "present"=v1).
func kvCases() []diffCase {
	bind := func(t *testing.T, s *diffSide) jetstream.KeyValue {
		t.Helper()
		ctx, cancel := ctxT()
		defer cancel()
		kv, err := s.js.KeyValue(ctx, diffBucket)
		require.NoError(t, err)
		return kv
	}
	kvCase := func(name string, fn func(ctx context.Context, kv jetstream.KeyValue, r rec)) diffCase {
		return diffCase{name: "kv/" + name, setup: resetBucket, run: func(t *testing.T, s *diffSide, r rec) {
			kv := bind(t, s)
			ctx, cancel := ctxT()
			defer cancel()
			fn(ctx, kv, r)
		}}
	}
	return []diffCase{
		kvCase("get-present", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			e, err := kv.Get(ctx, "present")
			r.val(entryVal(e))
			r.err(err)
		}),
		kvCase("get-missing-key", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			e, err := kv.Get(ctx, "missing")
			r.val(entryVal(e))
			r.err(err)
		}),
		kvCase("get-invalid-key", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			e, err := kv.Get(ctx, "bad key")
			r.val(entryVal(e))
			r.err(err)
		}),
		kvCase("put", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			rev, err := kv.Put(ctx, "k", []byte("v"))
			r.val(rev)
			r.err(err)
		}),
		kvCase("put-invalid-key", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			rev, err := kv.Put(ctx, ".bad", []byte("v"))
			r.val(rev)
			r.err(err)
		}),
		kvCase("put-wildcard-key", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			rev, err := kv.Put(ctx, "a.*", []byte("v"))
			r.val(rev)
			r.err(err)
		}),
		kvCase("create-existing-key", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			rev, err := kv.Create(ctx, "present", []byte("v2"))
			r.val(rev)
			r.err(err)
		}),
		kvCase("create-new-key", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			rev, err := kv.Create(ctx, "fresh", []byte("v"))
			r.val(rev)
			r.err(err)
		}),
		kvCase("update-wrong-revision", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			rev, err := kv.Update(ctx, "present", []byte("v2"), 42)
			r.val(rev)
			r.err(err)
		}),
		kvCase("update-right-revision", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			rev, err := kv.Update(ctx, "present", []byte("v2"), 1)
			r.val(rev)
			r.err(err)
		}),
		kvCase("delete-then-get", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			r.err(kv.Delete(ctx, "present"))
			e, err := kv.Get(ctx, "present")
			r.val(entryVal(e))
			r.err(err)
		}),
		kvCase("history-missing-key", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			h, err := kv.History(ctx, "missing")
			r.val(len(h))
			r.err(err)
		}),
		kvCase("keys", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			keys, err := kv.Keys(ctx)
			r.val(keys)
			r.err(err)
		}),
		kvCase("watch-initial-values-and-update", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			w, err := kv.Watch(ctx, "present")
			r.err(err)
			if err != nil {
				return
			}
			defer func() { r.err(w.Stop()) }()
			next := func() {
				select {
				case en := <-w.Updates():
					r.val(entryVal(en))
				case <-time.After(5 * time.Second):
					r.val("<no update>")
				}
			}
			next() // present=v1
			next() // nil: end of initial values
			_, err = kv.Put(ctx, "present", []byte("v2"))
			r.err(err)
			next()
		}),
		kvCase("list-keys", func(ctx context.Context, kv jetstream.KeyValue, r rec) {
			l, err := kv.ListKeys(ctx)
			r.err(err)
			if err != nil {
				return
			}
			var keys []string
			for k := range l.Keys() {
				keys = append(keys, k)
			}
			r.val(keys)
			r.err(l.Stop())
		}),
		kvCase("put-cancelled-context", func(_ context.Context, kv jetstream.KeyValue, r rec) {
			rev, err := kv.Put(cancelled(), "k", []byte("v"))
			r.val(rev)
			r.err(err)
		}),
		kvCase("get-nil-context", func(_ context.Context, kv jetstream.KeyValue, r rec) {
			var nilCtx context.Context
			e, err := kv.Get(nilCtx, "present")
			r.val(entryVal(e))
			r.err(err)
		}),
	}
}

func cloneHeader(h nats.Header) nats.Header {
	out := make(nats.Header, len(h))
	for k, v := range h {
		out[k] = slices.Clone(v)
	}
	return out
}

func hasTraceKey(h nats.Header) bool {
	for k := range h {
		if isTraceHeader(k) {
			return true
		}
	}
	return false
}

// TestDifferential runs every case on raw nats.go and on the instrumented
// wrappers (tracing and metrics recording) against one server.
func TestDifferential(t *testing.T) {
	e := newDiffEnv(t, diffEnvConfig{tracing: true})
	t.Run("core", func(t *testing.T) { runDiff(t, e, coreCases()) })
	t.Run("delivery", func(t *testing.T) { runDiff(t, e, deliveryCases()) })
	t.Run("jetstream", func(t *testing.T) { runDiff(t, e, jsCases()) })
	t.Run("kv", func(t *testing.T) { runDiff(t, e, kvCases()) })
}

// TestDifferentialServerTrace runs the core and JetStream cases with
// WithServerTrace on: every sampled publish and request asks the server for
// its hops, and the calls still return exactly what raw nats.go returns (a
// request's reply, a JetStream ack, every error) and put the same messages
// on the wire apart from the trace headers. The traces are asked for for
// real: the server publishes events to the destination. Cases that watch
// every subject (">") are left out, since they would see those events; the
// span checks are about the size of the traceparent header alone.
func TestDifferentialServerTrace(t *testing.T) {
	const dest = "zz.diff.hops"
	e := newDiffEnv(t, diffEnvConfig{tracing: true, instOpts: func(tel *telemetry) []Option {
		return tel.opts(WithServerTrace(ServerTrace{Dest: dest}))
	}})
	events, err := e.feeder.SubscribeSync(dest)
	require.NoError(t, err)
	require.NoError(t, e.feeder.Flush())
	var cases []diffCase
	for _, c := range append(coreCases(), jsCases()...) {
		if slices.Contains(c.observe, ">") {
			continue
		}
		c.check = nil
		cases = append(cases, c)
	}
	runDiff(t, e, cases)
	n, _, err := events.Pending()
	require.NoError(t, err)
	assert.Greater(t, n, 20, "the servers traced the instrumented side's messages")
	m, err := events.NextMsg(time.Second)
	require.NoError(t, err)
	assert.Contains(t, string(m.Data), `"traceparent"`, "a trace event names the publisher's trace")
}

// TestDifferentialCoreMetricsOnly runs the core cases with tracing off and
// metrics on (nothing to inject: the wrappers call nats.go's header-less
// methods).
func TestDifferentialCoreMetricsOnly(t *testing.T) {
	e := newDiffEnv(t, diffEnvConfig{instOpts: func(tel *telemetry) []Option {
		return []Option{WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(tel.mp), WithPropagators(w3c)}
	}})
	runDiff(t, e, append(coreCases(), deliveryCases()...))
}

// TestDifferentialHeadersDisabled runs against a server without header
// support: raw nats.go publishes and requests without headers succeed, so
// the instrumented ones must too (the trace context is skipped, with a span
// event saying why), while a message that carries its own header fails the
// same way on both.
func TestDifferentialHeadersDisabled(t *testing.T) {
	e := newDiffEnv(t, diffEnvConfig{noHeaders: true, tracing: true})
	headersUnsupported := wantSkip(semconv.PropagationHeadersUnsupported)
	runDiff(t, e, []diffCase{
		{name: "publish", observe: []string{"nh.>"},
			run:   func(_ *testing.T, s *diffSide, r rec) { r.err(s.conn.Publish("nh.pub", []byte("x"))) },
			check: headersUnsupported},
		{name: "publishMsg/no-header", observe: []string{"nh.>"},
			run: func(_ *testing.T, s *diffSide, r rec) {
				r.err(s.conn.PublishMsg(&nats.Msg{Subject: "nh.pub", Reply: "reply.x", Data: []byte("x")}))
			}, check: headersUnsupported},
		{name: "publishMsg/caller-header", observe: []string{"nh.>"},
			run: func(_ *testing.T, s *diffSide, r rec) {
				r.err(s.conn.PublishMsg(&nats.Msg{Subject: "nh.pub", Data: []byte("x"), Header: nats.Header{"X-A": {"1"}}}))
			}},
		{name: "publishRequest", observe: []string{"nh.>"},
			run:   func(_ *testing.T, s *diffSide, r rec) { r.err(s.conn.PublishRequest("nh.pub", "reply.x", []byte("x"))) },
			check: headersUnsupported},
		{name: "request/echo", run: func(_ *testing.T, s *diffSide, r rec) {
			m, err := s.conn.Request(echoSubject, []byte("ping"), 5*time.Second)
			r.val(msgVal(m))
			r.err(err)
		}, check: headersUnsupported},
		{name: "request/no-responders-times-out", run: func(_ *testing.T, s *diffSide, r rec) {
			// Without headers the server cannot send the no-responders status.
			m, err := s.conn.Request("svc.none", []byte("ping"), 200*time.Millisecond)
			r.val(msgVal(m))
			r.err(err)
		}},
		{name: "requestWithContext/echo", run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			m, err := s.conn.RequestWithContext(ctx, echoSubject, []byte("ping"))
			r.val(msgVal(m))
			r.err(err)
		}, check: headersUnsupported},
		{name: "js.publish", setup: resetStream, observe: []string{"js.>"}, run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			ack, err := s.js.Publish(ctx, "js.nh", []byte("x"))
			r.val(ackVal(ack))
			r.err(err)
		}, check: headersUnsupported},
		{name: "js.publishMsg/with-msg-id-option", setup: resetStream, observe: []string{"js.>"}, run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			msg := &nats.Msg{Subject: "js.nh", Data: []byte("x")}
			ack, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID("nh-1"))
			r.val(ackVal(ack), msgState(msg))
			r.err(err)
		}},
		{name: "js.publishAsync", setup: resetStream, observe: []string{"js.>"}, run: func(_ *testing.T, s *diffSide, r rec) {
			f, err := s.js.PublishAsync("js.nh", []byte("x"))
			r.err(err)
			if err != nil {
				return
			}
			select {
			case ack := <-f.Ok():
				r.val(ackVal(ack))
			case err := <-f.Err():
				r.err(err)
			case <-time.After(10 * time.Second):
				r.val("<future never resolved>")
			}
		}, check: headersUnsupported},
	})
}

// TestDifferentialClosedConnection runs the calls on closed connections.
func TestDifferentialClosedConnection(t *testing.T) {
	e := newDiffEnv(t, diffEnvConfig{closed: true, tracing: true})
	runDiff(t, e, []diffCase{
		{name: "publish", run: func(_ *testing.T, s *diffSide, r rec) { r.err(s.conn.Publish("closed.x", []byte("x"))) }},
		{name: "publishMsg", run: func(_ *testing.T, s *diffSide, r rec) {
			r.err(s.conn.PublishMsg(&nats.Msg{Subject: "closed.x", Data: []byte("x"), Header: nats.Header{"X-A": {"1"}}}))
		}},
		{name: "publishRequest", run: func(_ *testing.T, s *diffSide, r rec) {
			r.err(s.conn.PublishRequest("closed.x", "reply.x", []byte("x")))
		}},
		{name: "request", run: func(_ *testing.T, s *diffSide, r rec) {
			m, err := s.conn.Request(echoSubject, []byte("x"), time.Second)
			r.val(msgVal(m))
			r.err(err)
		}},
		{name: "requestWithContext", run: func(_ *testing.T, s *diffSide, r rec) {
			m, err := s.conn.RequestWithContext(context.Background(), echoSubject, []byte("x"))
			r.val(msgVal(m))
			r.err(err)
		}},
		{name: "subscribe", run: func(_ *testing.T, s *diffSide, r rec) {
			sub, err := s.conn.Subscribe("closed.x", func(*nats.Msg) {})
			r.val(subVal(sub))
			r.err(err)
		}},
		{name: "chanSubscribe", run: func(_ *testing.T, s *diffSide, r rec) {
			sub, err := s.conn.ChanSubscribe("closed.x", make(chan *nats.Msg, 1))
			r.val(subVal(sub))
			r.err(err)
		}},
		{name: "js.publish", run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			ack, err := s.js.Publish(ctx, "js.x", []byte("x"))
			r.val(ackVal(ack))
			r.err(err)
		}},
		{name: "js.publishAsync", run: func(_ *testing.T, s *diffSide, r rec) {
			f, err := s.js.PublishAsync("js.x", []byte("x"))
			r.val(f == nil)
			r.err(err)
		}},
		{name: "js.keyValue", run: func(_ *testing.T, s *diffSide, r rec) {
			ctx, cancel := ctxT()
			defer cancel()
			kv, err := s.js.KeyValue(ctx, diffBucket)
			r.val(kv == nil)
			r.err(err)
		}},
	})
}

// TestDifferentialNilConn compares a nil *nats.Conn with NewConn(nil).
func TestDifferentialNilConn(t *testing.T) {
	e := newDiffEnv(t, diffEnvConfig{closed: true, tracing: true})
	var nilNC *nats.Conn
	e.raw = &diffSide{name: "raw", conn: nilNC}
	e.inst = &diffSide{name: "instrumented", conn: NewConn(nil, e.inst.tel.opts()...), tel: e.inst.tel}
	runDiff(t, e, []diffCase{
		{name: "publish", run: func(_ *testing.T, s *diffSide, r rec) { r.err(s.conn.Publish("nil.x", []byte("x"))) }},
		{name: "publishMsg", run: func(_ *testing.T, s *diffSide, r rec) {
			r.err(s.conn.PublishMsg(&nats.Msg{Subject: "nil.x", Data: []byte("x")}))
		}},
		{name: "publishRequest", run: func(_ *testing.T, s *diffSide, r rec) {
			r.err(s.conn.PublishRequest("nil.x", "reply.x", []byte("x")))
		}},
		{name: "request", run: func(_ *testing.T, s *diffSide, r rec) {
			m, err := s.conn.Request("nil.x", []byte("x"), time.Second)
			r.val(msgVal(m))
			r.err(err)
		}},
		{name: "requestWithContext", run: func(_ *testing.T, s *diffSide, r rec) {
			m, err := s.conn.RequestWithContext(context.Background(), "nil.x", []byte("x"))
			r.val(msgVal(m))
			r.err(err)
		}},
		{name: "subscribe", run: func(_ *testing.T, s *diffSide, r rec) {
			sub, err := s.conn.Subscribe("nil.x", func(*nats.Msg) {})
			r.val(subVal(sub))
			r.err(err)
		}},
	})
}

// TestPooledMessageIsReset checks putMsg: a message taken from the pool
// after any use carries nothing but what getMsg sets.
func TestPooledMessageIsReset(t *testing.T) {
	m := getMsg("a", []byte("data"))
	m.Reply = "reply.stale"
	m.Header.Set("X-Stale", "1")
	m.Sub = &nats.Subscription{}
	putMsg(m)
	assert.Equal(t, "", m.Subject)
	assert.Equal(t, "", m.Reply)
	assert.Nil(t, m.Data)
	assert.Nil(t, m.Sub)
	assert.NotNil(t, m.Header)
	assert.Empty(t, m.Header)

	for i := 0; i < 100; i++ { // whatever the pool hands out
		got := getMsg("b", nil)
		assert.Equal(t, "", got.Reply)
		assert.Empty(t, got.Header)
		assert.Nil(t, got.Sub)
		putMsg(got)
	}
}

// TestHeaderSizeMatchesNATS checks headerSize against what nats.go counts
// against max_payload: a message of exactly max_payload bytes (data plus
// headerSize) is accepted, one more byte is ErrMaxPayload.
func TestHeaderSizeMatchesNATS(t *testing.T) {
	srv := natstest.RunServer(t, func(o *server.Options) { o.MaxPayload = 4096 })
	nc := connect(t, srv)
	for _, h := range []nats.Header{
		{"traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
		{"X-A": {"1", "22"}, "b": {" padded\t"}, "Empty": {""}},
		{"K": {}},
	} {
		size := headerSize(h)
		ok := &nats.Msg{Subject: "hs", Header: h, Data: payload(4096 - size)}
		assert.NoError(t, nc.PublishMsg(ok), "header %v: %d bytes", h, size)
		over := &nats.Msg{Subject: "hs", Header: h, Data: payload(4096 - size + 1)}
		assert.ErrorIs(t, nc.PublishMsg(over), nats.ErrMaxPayload, "header %v: %d bytes", h, size)
	}
	assert.Zero(t, headerSize(nil))
	assert.Zero(t, headerSize(nats.Header{}))
}
