package scope_test

// Differential tests for the handles scope hands out: raw nats.go on one
// side; on the other, the instrumented connection, JetStream context and
// KeyValue bucket a scope.Pool hands to Run, JetStream and KeyValue
// closures (one pooled connection, its default circuit breaker, recording
// telemetry). Same server, same inputs; the cases assert the same return
// values, the same errors (message, errors.Is sentinels, error types down
// the wrap chain, JetStream API code) and the same messages on the wire, as
// a raw subscriber sees them, except for the trace-context headers.
//
// A case that fails with an error matching circuit.ErrOpen on the scope side
// is a gate rejection: the pool's breaker, shared by the connection, opened
// after earlier cases' errors.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/scope"
)

const (
	sdMaxPayload = 32 * 1024
	sdStream     = "SDIFF"
	sdBucket     = "SDIFFKV"
	sdEcho       = "sd.svc.echo"
	sdSilent     = "sd.svc.silent"
)

// sdConn is what *nats.Conn and *instrument.Conn have in common.
type sdConn interface {
	Publish(subj string, data []byte) error
	PublishMsg(m *nats.Msg) error
	PublishRequest(subj, reply string, data []byte) error
	Request(subj string, data []byte, timeout time.Duration) (*nats.Msg, error)
	RequestWithContext(ctx context.Context, subj string, data []byte) (*nats.Msg, error)
	Subscribe(subj string, cb nats.MsgHandler) (*nats.Subscription, error)
}

// sdRec collects the results of one side's run.
type sdRec struct {
	vals []any
	errs []error
}

func (r *sdRec) val(v ...any)  { r.vals = append(r.vals, v...) }
func (r *sdRec) err(err error) { r.errs = append(r.errs, err) }

// sdCase is one case: exactly one of conn, js and kv is set.
type sdCase struct {
	name    string
	observe []string
	setup   func(t *testing.T, e *sdEnv)
	conn    func(ctx context.Context, c sdConn, r *sdRec)
	js      func(ctx context.Context, js jetstream.JetStream, r *sdRec)
	kv      func(ctx context.Context, kv jetstream.KeyValue, r *sdRec)
	bucket  string // kv: the bucket to bind; default sdBucket
}

type sdEnv struct {
	srv      *natstest.Server
	rawNC    *nats.Conn
	rawJS    jetstream.JetStream
	observer *nats.Conn
	admin    jetstream.JetStream
	opts     []scope.Option // WithPool and a clean environment
}

func newSDEnv(t *testing.T, extra ...natstest.Option) *sdEnv {
	t.Helper()
	opts := append([]natstest.Option{func(o *server.Options) { o.MaxPayload = sdMaxPayload }}, extra...)
	srv := startServer(t, opts...)
	conn := func(name string) *nats.Conn {
		nc, err := nats.Connect(srv.URL(), nats.Name(name))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		return nc
	}
	e := &sdEnv{srv: srv, rawNC: conn("raw"), observer: conn("observer")}
	var err error
	e.rawJS, err = jetstream.New(e.rawNC)
	require.NoError(t, err)
	e.admin, err = jetstream.New(conn("admin"))
	require.NoError(t, err)

	responder := conn("responder")
	_, err = responder.Subscribe(sdEcho, func(m *nats.Msg) {
		_ = responder.PublishMsg(&nats.Msg{Subject: m.Reply, Data: m.Data, Header: sdNoTrace(m.Header)})
	})
	require.NoError(t, err)
	_, err = responder.Subscribe(sdSilent, func(*nats.Msg) {})
	require.NoError(t, err)
	require.NoError(t, responder.Flush())

	tel := newTelemetry(t)
	w3c := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	pool := newPool(t, append(tel.options(), scope.WithPropagators(w3c))...)
	e.opts = []scope.Option{scope.WithPool(pool), scope.WithLookupEnv(noEnv), scope.WithConnectionTimeout(2 * time.Second)}
	return e
}

// run runs c on the raw side or through scope's helpers.
func (e *sdEnv) run(t *testing.T, c sdCase, viaScope bool) (*sdRec, []string) {
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

	r := &sdRec{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bucket := c.bucket
	if bucket == "" {
		bucket = sdBucket
	}
	switch {
	case !viaScope && c.conn != nil:
		c.conn(ctx, e.rawNC, r)
	case !viaScope && c.js != nil:
		c.js(ctx, e.rawJS, r)
	case !viaScope && c.kv != nil:
		kv, err := e.rawJS.KeyValue(ctx, bucket)
		if err != nil {
			r.err(err)
			break
		}
		c.kv(ctx, kv, r)
	case c.conn != nil:
		helperErr := scope.Run(ctx, e.srv.URL(), func(ctx context.Context, ic *instrument.Conn) error {
			c.conn(ctx, ic, r)
			return nil
		}, e.opts...)
		require.NoError(t, helperErr, "scope.Run")
	case c.js != nil:
		helperErr := scope.JetStream(ctx, e.srv.URL(), func(ctx context.Context, js jetstream.JetStream) error {
			c.js(ctx, js, r)
			return nil
		}, e.opts...)
		require.NoError(t, helperErr, "scope.JetStream")
	case c.kv != nil:
		helperErr := scope.KeyValue(ctx, e.srv.URL(), bucket, func(ctx context.Context, kv jetstream.KeyValue) error {
			c.kv(ctx, kv, r)
			return nil
		}, e.opts...)
		if helperErr != nil {
			r.err(helperErr) // binding failed, as js.KeyValue did raw
		}
	}

	var wire []string
	if viaScope {
		// The pooled connection is the scope's: flush it through a scope.
		require.NoError(t, scope.Run(ctx, e.srv.URL(), func(_ context.Context, nc *instrument.Conn) error {
			return nc.FlushTimeout(5 * time.Second)
		}, e.opts...))
	} else {
		require.NoError(t, e.rawNC.FlushTimeout(5*time.Second))
	}
	require.NoError(t, e.observer.Flush())
	for _, sub := range subs {
		for {
			m, err := sub.NextMsg(50 * time.Millisecond)
			if err != nil {
				break
			}
			wire = append(wire, sdWire(m))
		}
		require.NoError(t, sub.Unsubscribe())
	}
	return r, wire
}

func sdNoTrace(h nats.Header) nats.Header {
	var out nats.Header
	for k, v := range h {
		switch strings.ToLower(k) {
		case "traceparent", "tracestate", "baggage":
			continue
		}
		if out == nil {
			out = nats.Header{}
		}
		out[k] = slices.Clone(v)
	}
	return out
}

func sdNormInbox(s string) string {
	if strings.HasPrefix(s, nats.InboxPrefix) {
		return nats.InboxPrefix + "*"
	}
	return s
}

// sdWire is a message as a raw subscriber sees it, normalised: random
// inboxes become "_INBOX.*", long payloads their length, trace keys dropped.
func sdWire(m *nats.Msg) string {
	if m == nil {
		return "<nil msg>"
	}
	data := string(m.Data)
	if len(m.Data) > 64 {
		data = fmt.Sprintf("<%d bytes>", len(m.Data))
	}
	h := sdNoTrace(m.Header)
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var hs []string
	for _, k := range keys {
		hs = append(hs, fmt.Sprintf("%s=%q", k, h[k]))
	}
	return fmt.Sprintf("subject=%s reply=%s data=%q header=%v", sdNormInbox(m.Subject), sdNormInbox(m.Reply), data, hs)
}

var sdSentinels = []error{
	nats.ErrBadSubject, nats.ErrMaxPayload, nats.ErrHeadersNotSupported, nats.ErrConnectionClosed,
	nats.ErrNoResponders, nats.ErrTimeout, nats.ErrInvalidMsg, nats.ErrInvalidContext, nats.ErrBadSubscription,
	context.Canceled, context.DeadlineExceeded,
	jetstream.ErrNoStreamResponse, jetstream.ErrStreamNotFound, jetstream.ErrInvalidStreamName,
	jetstream.ErrKeyNotFound, jetstream.ErrKeyExists, jetstream.ErrInvalidKey,
	jetstream.ErrInvalidBucketName, jetstream.ErrBucketNotFound,
	circuit.ErrOpen,
}

func sdChainTypes(err error) []string {
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

func sdSameError(t *testing.T, what string, raw, got error) {
	t.Helper()
	if errors.Is(got, circuit.ErrOpen) {
		assert.Failf(t, "gate rejection", "%s: the scope side was rejected by its circuit breaker (%v); raw nats.go returned %v", what, got, raw)
		return
	}
	if raw == nil || got == nil {
		assert.True(t, raw == nil && got == nil, "%s: raw error %v, scope error %v", what, raw, got)
		return
	}
	assert.Equal(t, raw.Error(), got.Error(), "%s: error message", what)
	for _, s := range sdSentinels {
		assert.Equal(t, errors.Is(raw, s), errors.Is(got, s), "%s: errors.Is(err, %q)", what, s)
	}
	assert.Equal(t, sdChainTypes(raw), sdChainTypes(got), "%s: error types down the wrap chain", what)
	var rAPI, gAPI *jetstream.APIError
	if errors.As(raw, &rAPI) && assert.True(t, errors.As(got, &gAPI), "%s: not a *jetstream.APIError: %v", what, got) {
		assert.Equal(t, rAPI.ErrorCode, gAPI.ErrorCode, "%s: JetStream error code", what)
	}
}

func runSDiff(t *testing.T, e *sdEnv, cases []sdCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, rawWire := e.run(t, c, false)
			got, gotWire := e.run(t, c, true)
			assert.Equal(t, raw.vals, got.vals, "return values")
			if assert.Equal(t, len(raw.errs), len(got.errs), "number of errors recorded (raw %v, scope %v)", raw.errs, got.errs) {
				for i := range raw.errs {
					sdSameError(t, fmt.Sprintf("call %d", i), raw.errs[i], got.errs[i])
				}
			}
			assert.Equal(t, rawWire, gotWire, "messages on the wire")
		})
	}
}

func sdResetStream(t *testing.T, e *sdEnv) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.admin.DeleteStream(ctx, sdStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		require.NoError(t, err)
	}
	_, err := e.admin.CreateStream(ctx, jetstream.StreamConfig{Name: sdStream, Subjects: []string{"sdjs.>"}, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
}

func sdResetBucket(t *testing.T, e *sdEnv) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.admin.DeleteKeyValue(ctx, sdBucket); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		require.NoError(t, err)
	}
	kv, err := e.admin.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: sdBucket, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	_, err = kv.Put(ctx, "present", []byte("v1"))
	require.NoError(t, err)
}

func sdPayload(n int) []byte { return []byte(strings.Repeat("p", n)) }

func sdAck(a *jetstream.PubAck) any {
	if a == nil {
		return "<nil ack>"
	}
	return *a
}

func sdEntry(en jetstream.KeyValueEntry) any {
	if en == nil {
		return "<nil entry>"
	}
	return fmt.Sprintf("key=%s value=%q rev=%d op=%v", en.Key(), en.Value(), en.Revision(), en.Operation())
}

func sdPublish(subj string, data []byte) func(context.Context, sdConn, *sdRec) {
	return func(_ context.Context, c sdConn, r *sdRec) { r.err(c.Publish(subj, data)) }
}

func sdRequest(subj string, data []byte, timeout time.Duration) func(context.Context, sdConn, *sdRec) {
	return func(_ context.Context, c sdConn, r *sdRec) {
		m, err := c.Request(subj, data, timeout)
		r.val(sdWire(m))
		r.err(err)
	}
}

func sdJSPublish(subj string, data []byte, opts ...jetstream.PublishOpt) func(context.Context, jetstream.JetStream, *sdRec) {
	return func(ctx context.Context, js jetstream.JetStream, r *sdRec) {
		ack, err := js.Publish(ctx, subj, data, opts...)
		r.val(sdAck(ack))
		r.err(err)
	}
}

// TestScopeDifferential runs raw nats.go and scope's pooled, instrumented
// handles side by side. The error cases come first on purpose: the calls
// after them run on the same pooled connection, so a breaker that counted a
// caller mistake or one destination's failures against the connection shows
// up as a circuit.ErrOpen rejection of an unrelated later call.
func TestScopeDifferential(t *testing.T) {
	e := newSDEnv(t)
	// traceHdr is the size nats.go counts for a lone traceparent header.
	traceHdr := 12 + len("traceparent") + 55 + 4
	runSDiff(t, e, []sdCase{
		{name: "conn/publish-empty-subject", conn: sdPublish("", []byte("x"))},
		{name: "conn/publish-subject-with-space", conn: sdPublish("a b", []byte("x"))},
		{name: "conn/publish-max-payload+1", observe: []string{"sd.big"}, conn: sdPublish("sd.big", sdPayload(sdMaxPayload+1))},
		{name: "conn/request-no-responders", conn: sdRequest("sd.none", []byte("x"), 5*time.Second)},
		{name: "conn/request-deadline-expires", conn: sdRequest(sdSilent, []byte("x"), 100*time.Millisecond)},
		{name: "conn/request-cancelled-context", conn: func(_ context.Context, c sdConn, r *sdRec) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			m, err := c.RequestWithContext(ctx, sdEcho, []byte("x"))
			r.val(sdWire(m))
			r.err(err)
		}},
		{name: "conn/subscribe-nil-handler", conn: func(_ context.Context, c sdConn, r *sdRec) {
			sub, err := c.Subscribe("sd.sub", nil)
			r.val(sub == nil)
			r.err(err)
		}},
		{name: "js/publish-no-stream-captures-subject", setup: sdResetStream, js: sdJSPublish("sd.nostream", []byte("x"))},
		{name: "js/publish-max-payload+1", setup: sdResetStream, js: sdJSPublish("sdjs.big", sdPayload(sdMaxPayload+1))},
		{name: "js/create-stream-invalid-name", js: func(ctx context.Context, js jetstream.JetStream, r *sdRec) {
			st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "bad.name"})
			r.val(st == nil)
			r.err(err)
		}},
		{name: "kv/bind-invalid-bucket", bucket: "bad bucket", kv: func(context.Context, jetstream.KeyValue, *sdRec) {}},
		{name: "kv/bind-missing-bucket", bucket: "SDMISSING", kv: func(context.Context, jetstream.KeyValue, *sdRec) {}},
		{name: "kv/get-missing-key", setup: sdResetBucket, kv: func(ctx context.Context, kv jetstream.KeyValue, r *sdRec) {
			en, err := kv.Get(ctx, "missing")
			r.val(sdEntry(en))
			r.err(err)
		}},
		{name: "kv/put-invalid-key", setup: sdResetBucket, kv: func(ctx context.Context, kv jetstream.KeyValue, r *sdRec) {
			rev, err := kv.Put(ctx, "bad key", []byte("v"))
			r.val(rev)
			r.err(err)
		}},
		{name: "kv/create-existing-key", setup: sdResetBucket, kv: func(ctx context.Context, kv jetstream.KeyValue, r *sdRec) {
			rev, err := kv.Create(ctx, "present", []byte("v2"))
			r.val(rev)
			r.err(err)
		}},
		{name: "kv/update-wrong-revision", setup: sdResetBucket, kv: func(ctx context.Context, kv jetstream.KeyValue, r *sdRec) {
			rev, err := kv.Update(ctx, "present", []byte("v2"), 42)
			r.val(rev)
			r.err(err)
		}},

		// Calls that succeed raw must succeed through scope after all that.
		{name: "conn/publish", observe: []string{"sd.plain"}, conn: sdPublish("sd.plain", []byte("hello"))},
		{name: "conn/publish-wildcard-subject", observe: []string{"sd.*"}, conn: sdPublish("sd.*", []byte("x"))},
		{name: "conn/publish-at-max-payload", observe: []string{"sd.big"}, conn: sdPublish("sd.big", sdPayload(sdMaxPayload))},
		{name: "conn/publish-fits-only-without-trace-header", observe: []string{"sd.big"},
			conn: sdPublish("sd.big", sdPayload(sdMaxPayload-traceHdr+1))},
		{name: "conn/publishMsg-caller-headers", observe: []string{"sd.hdr"}, conn: func(_ context.Context, c sdConn, r *sdRec) {
			msg := &nats.Msg{Subject: "sd.hdr", Data: []byte("d"), Header: nats.Header{"X-Mixed-Case": {"A"}, "x-multi": {"1", "2"}}}
			r.err(c.PublishMsg(msg))
			r.val(len(msg.Header), msg.Header.Get("traceparent") == "")
		}},
		{name: "conn/publishRequest-then-publish", observe: []string{"sd.seq"}, conn: func(_ context.Context, c sdConn, r *sdRec) {
			for i := 0; i < 10; i++ {
				r.err(c.PublishRequest("sd.seq", fmt.Sprintf("sd.reply.%d", i), []byte("req")))
				r.err(c.Publish("sd.seq", []byte("plain")))
				r.err(c.Publish("sd.seq", []byte("plain")))
			}
		}},
		{name: "conn/request-echo", conn: sdRequest(sdEcho, []byte("ping"), 5*time.Second)},
		{name: "conn/request-at-max-payload", conn: sdRequest(sdEcho, sdPayload(sdMaxPayload), 5*time.Second)},
		{name: "js/publish", setup: sdResetStream, observe: []string{"sdjs.>"}, js: sdJSPublish("sdjs.a", []byte("x"))},
		{name: "js/publish-at-max-payload", setup: sdResetStream, observe: []string{"sdjs.>"},
			js: sdJSPublish("sdjs.big", sdPayload(sdMaxPayload))},
		{name: "js/publishMsg-caller-message-unchanged", setup: sdResetStream, observe: []string{"sdjs.>"},
			js: func(ctx context.Context, js jetstream.JetStream, r *sdRec) {
				msg := &nats.Msg{Subject: "sdjs.m", Data: []byte("m"), Header: nats.Header{"X-A": {"1"}}}
				ack, err := js.PublishMsg(ctx, msg)
				r.val(sdAck(ack), len(msg.Header), msg.Header.Get("traceparent") == "")
				r.err(err)
			}},
		{name: "kv/put-and-get", setup: sdResetBucket, kv: func(ctx context.Context, kv jetstream.KeyValue, r *sdRec) {
			rev, err := kv.Put(ctx, "k", []byte("v"))
			r.val(rev)
			r.err(err)
			en, err := kv.Get(ctx, "k")
			r.val(sdEntry(en))
			r.err(err)
		}},
	})
}

// TestScopeDifferentialHeadersDisabled: scope's handles on a server without
// header support publish and request exactly as raw nats.go does.
func TestScopeDifferentialHeadersDisabled(t *testing.T) {
	e := newSDEnv(t, natstest.WithoutHeaders())
	runSDiff(t, e, []sdCase{
		{name: "conn/publish", observe: []string{"sd.>"}, conn: sdPublish("sd.nh", []byte("x"))},
		{name: "conn/publishMsg-caller-header", observe: []string{"sd.>"}, conn: func(_ context.Context, c sdConn, r *sdRec) {
			r.err(c.PublishMsg(&nats.Msg{Subject: "sd.nh", Data: []byte("x"), Header: nats.Header{"X-A": {"1"}}}))
		}},
		{name: "conn/request-echo", conn: sdRequest(sdEcho, []byte("x"), 5*time.Second)},
		{name: "js/publish", setup: sdResetStream, observe: []string{"sdjs.>"}, js: sdJSPublish("sdjs.nh", []byte("x"))},
		{name: "kv/put", setup: sdResetBucket, kv: func(ctx context.Context, kv jetstream.KeyValue, r *sdRec) {
			rev, err := kv.Put(ctx, "k", []byte("v"))
			r.val(rev)
			r.err(err)
		}},
	})
}
