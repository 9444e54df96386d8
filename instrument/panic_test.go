package instrument

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/benchutil"
	"github.com/naq-io/naq/internal/semconv"
)

// A panic in an instrumented call or handler (issue 10, "Panics leak
// state"): on every wrapper family the span still ends (status Error,
// error.type=panic, an exception event), the duration metric gets a data
// point with error.type=panic, the gate hears the outcome (a half-open
// probe slot is freed at once), and the panic goes on with the very same
// value, as it would without naq.

// panicValue is a panic value whose identity the tests check.
type panicValue struct{ where string }

func (p *panicValue) String() string { return "panic value from " + p.where }

// catch runs fn and returns what it panicked with (nil if it returned).
func catch(fn func()) (r any) {
	defer func() { r = recover() }()
	fn()
	return nil
}

// assertPanicked checks a span ended by a panic with value v.
func assertPanicked(t *testing.T, s sdktrace.ReadOnlySpan, v any) {
	t.Helper()
	assert.Equal(t, codes.Error, s.Status().Code, "status of %q", s.Name())
	assert.Equal(t, semconv.ErrorTypePanic, s.Status().Description, "status description of %q", s.Name())
	assertAttrs(t, s.Attributes(), errAttr(semconv.ErrorTypePanic))
	var ev []sdktrace.Event
	for _, e := range s.Events() {
		if e.Name == semconv.EventException {
			ev = append(ev, e)
		}
	}
	require.Len(t, ev, 1, "one exception event on %q", s.Name())
	a := attrs(ev[0].Attributes)
	assert.Equal(t, fmt.Sprintf("%T", v), a[semconv.ExceptionTypeKey].AsString())
	if re, ok := v.(runtime.Error); ok {
		assert.Equal(t, re.Error(), a[semconv.ExceptionMessageKey].AsString(), "a runtime error's message is about code")
	} else {
		_, has := a[semconv.ExceptionMessageKey]
		assert.False(t, has, "other panic values may carry data: type only")
	}
	assert.Contains(t, a[semconv.ExceptionStacktraceKey].AsString(), "panic_test.go",
		"the stack is the panicking goroutine's, taken before it unwound")
	assert.False(t, s.EndTime().Before(s.StartTime()))
}

// assertNoPanic checks a span ended normally: no exception, no panic.
func assertNoPanic(t *testing.T, s sdktrace.ReadOnlySpan) {
	t.Helper()
	for _, e := range s.Events() {
		assert.NotEqual(t, semconv.EventException, e.Name, "exception event on %q", s.Name())
	}
	assert.NotEqual(t, semconv.ErrorTypePanic, attrs(s.Attributes())[semconv.ErrorTypeKey].AsString())
}

// panicPoints returns how many data points of histogram name carry
// error.type=panic and the extra attributes.
func panicPoints(t *testing.T, tel *telemetry, name string, extra ...attribute.KeyValue) uint64 {
	t.Helper()
	return histCount(tel.collect(t), name, append([]attribute.KeyValue{errAttr(semconv.ErrorTypePanic)}, extra...)...)
}

// endedNamed returns the ended spans called name.
func endedNamed(tel *telemetry, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tel.sr.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// do and run, the generic path of every management, KeyValue and
// JetStream API call: the panic of fn, whatever its value, ends the call.
func TestPanicDoAndRun(t *testing.T) {
	var nilSlice []int
	idx := 3
	pv := &panicValue{where: "fn"}
	cases := []struct {
		name  string
		panic func()
		same  bool // the recovered value is identical (a pointer or error)
	}{
		{"pointer", func() { panic(pv) }, true},
		{"error", func() { panic(errBoomPanic) }, true},
		{"string", func() { panic("boom") }, false},
		{"runtime error", func() { _ = nilSlice[idx] }, false},
		{"nil", func() { panic(nil) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The value raw code would panic with.
			want := catch(tc.panic)
			require.NotNil(t, want)

			tel := newTelemetry(t)
			p := newPipeline(nil, tel.opts())
			sDo := p.spec(specConfig{Op: semconv.OpKVGet, Kind: trace.SpanKindClient, Dest: "do"})
			sRun := p.spec(specConfig{Op: semconv.OpKVPut, Kind: trace.SpanKindClient, Dest: "run"})

			gotDo := catch(func() {
				_, _ = do(context.Background(), p, sDo, func(context.Context) (int, error) { tc.panic(); return 1, nil })
			})
			gotRun := catch(func() {
				_ = run(context.Background(), p, sRun, func(context.Context) error { tc.panic(); return nil })
			})
			for _, got := range []any{gotDo, gotRun} {
				if tc.same {
					assert.Same(t, want, got)
				}
				assert.Equal(t, fmt.Sprintf("%T", want), fmt.Sprintf("%T", got), "the panic goes on with the same value")
				assert.Equal(t, fmt.Sprint(want), fmt.Sprint(got))
			}
			if tc.name == "nil" {
				var pne *runtime.PanicNilError
				assert.ErrorAs(t, gotDo.(error), &pne)
			}

			assertPanicked(t, spanNamed(t, tel.spans(), "kv.get do"), gotDo)
			assertPanicked(t, spanNamed(t, tel.spans(), "kv.put run"), gotRun)
			assert.EqualValues(t, 1, panicPoints(t, tel, semconv.MetricOperationDuration, opAttr(semconv.OpKVGet)))
			assert.EqualValues(t, 1, panicPoints(t, tel, semconv.MetricOperationDuration, opAttr(semconv.OpKVPut)))
		})
	}
}

var errBoomPanic = errors.New("boom as an error")

// A panicking half-open probe hands its slot back at once: the gate hears
// the outcome (semconv.ErrPanicked) instead of waiting for the probe timeout
// (an hour here). With the gate's own classifier a panic is a failed probe:
// the breaker opens again and probes anew after its open timeout. With a
// classifier that forgives it, the next call goes through at once.
func TestPanicReleasesGateProbe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure bool // the classifier counts the panic as a failure
	}{
		{"destination classifier", true},
		{"forgiving classifier", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := runServer(t)
			tel := newTelemetry(t)
			shown := make(chan error, 100)
			g, err := circuit.NewGate("panic", circuit.WithMeterProvider(tel.mp),
				circuit.WithDestinationOptions(
					circuit.WithClassifier(func(err error) bool {
						shown <- err
						if tc.failure {
							return circuit.DestinationClassifier(err)
						}
						return errors.Is(err, nats.ErrTimeout)
					}),
					circuit.WithConsecutiveFailures(1),
					circuit.WithOpenTimeout(20*time.Millisecond), circuit.WithOpenBackoff(1, 20*time.Millisecond),
					circuit.WithHalfOpen(1, 2),
					circuit.WithProbeTimeout(time.Hour)))
			require.NoError(t, err)
			t.Cleanup(func() { _ = g.Close() })
			c := NewConn(connect(t, srv), tel.opts(WithGate(g))...)
			s := c.request.spec("svc.panic")
			require.True(t, s.active())
			ctx := context.Background()
			state := func() circuit.State {
				for _, d := range g.State().Destinations {
					return d.State
				}
				return circuit.StateClosed
			}

			// Trip the destination's breaker and let it go half-open.
			require.ErrorIs(t, run(ctx, c.p, s, func(context.Context) error { return nats.ErrTimeout }), nats.ErrTimeout)
			require.ErrorIs(t, <-shown, nats.ErrTimeout)
			require.ErrorIs(t, run(ctx, c.p, s, func(context.Context) error { return nil }), circuit.ErrOpen)
			require.Eventually(t, func() bool { return state() == circuit.StateHalfOpen }, 5*time.Second, 5*time.Millisecond)

			// The one probe slot goes to a call that panics.
			v := &panicValue{where: "probe"}
			got := catch(func() { _ = run(ctx, c.p, s, func(context.Context) error { panic(v) }) })
			assert.Same(t, v, got)
			select {
			case e := <-shown:
				assert.ErrorIs(t, e, errPanicked, "the gate hears the panic as the call's outcome")
				assert.ErrorIs(t, e, semconv.ErrPanicked)
			default:
				t.Fatal("the panicking probe's outcome never reached the gate")
			}

			// The slot is free: the next call is made, at once or after the
			// open timeout (rejected for an hour if the slot were held).
			called := false
			if tc.failure {
				require.Eventually(t, func() bool {
					return run(ctx, c.p, s, func(context.Context) error { called = true; return nil }) == nil
				}, 5*time.Second, 5*time.Millisecond)
			} else {
				assert.NoError(t, run(ctx, c.p, s, func(context.Context) error { called = true; return nil }))
			}
			assert.True(t, called, "the call after a panicking probe is made")

			var probe sdktrace.ReadOnlySpan
			for _, sp := range endedNamed(tel, "request svc.panic") {
				if sp.Status().Description == semconv.ErrorTypePanic {
					probe = sp
				}
			}
			require.NotNil(t, probe, "the probe's span ended")
			assertPanicked(t, probe, v)
			assert.EqualValues(t, 1, panicPoints(t, tel, semconv.MetricOperationDuration, opAttr(semconv.OpRequest)))
		})
	}
}

// Connect runs the caller's dial: a panicking dial ends the connect span and
// reports a failed probe to the gate's connect breaker, which can probe
// again after its open timeout instead of staying stuck for the probe
// timeout.
func TestPanicInConnectDial(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	g, err := circuit.NewGate("panic-connect", circuit.WithMeterProvider(tel.mp),
		circuit.WithDialOptions(
			circuit.WithConsecutiveFailures(1),
			circuit.WithOpenTimeout(20*time.Millisecond), circuit.WithOpenBackoff(1, 20*time.Millisecond),
			circuit.WithHalfOpen(1, 1),
			circuit.WithProbeTimeout(time.Hour)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close() })
	opts := tel.opts(WithGate(g))
	ctx := context.Background()

	_, err = Connect(ctx, func(context.Context) (*nats.Conn, error) { return nil, nats.ErrNoServers }, opts...)
	require.ErrorIs(t, err, nats.ErrNoServers)
	require.Eventually(t, func() bool { return g.State().Dial == circuit.StateHalfOpen }, 5*time.Second, 5*time.Millisecond)

	v := &panicValue{where: "dial"}
	got := catch(func() {
		_, _ = Connect(ctx, func(context.Context) (*nats.Conn, error) { panic(v) }, opts...)
	})
	assert.Same(t, v, got)
	var panicked sdktrace.ReadOnlySpan
	for _, sp := range endedNamed(tel, "connect") {
		if sp.Status().Description == semconv.ErrorTypePanic {
			panicked = sp
		}
	}
	require.NotNil(t, panicked, "the connect span ended")
	assertPanicked(t, panicked, v)
	assert.EqualValues(t, 1, panicPoints(t, tel, semconv.MetricOperationDuration, opAttr(semconv.OpConnect)))

	// The probe slot was given back: a dial is let through again once the
	// open timeout has passed (it would be rejected for an hour otherwise).
	var nc *nats.Conn
	require.Eventually(t, func() bool {
		nc, err = Connect(ctx, func(context.Context) (*nats.Conn, error) { return nats.Connect(srv.URL()) }, opts...)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond, "last error: %v", err)
	nc.Close()
}

// Core subscription handlers (Subscribe, QueueSubscribe, SubscribeContext,
// QueueSubscribeContext): nats.go runs them on its own goroutine, where a
// panic ends the process (see TestPanicInHandlerCrashesLikeRawNATS), so the
// wrapped handler is called here on the test goroutine.
func TestPanicCoreSubscriptionHandlers(t *testing.T) {
	srv := runServer(t)
	raw := connect(t, srv)
	sub, err := raw.SubscribeSync("orders.*")
	require.NoError(t, err)
	require.NoError(t, raw.Flush(), "the subscription reaches the server before the publish")
	producer := NewConn(connect(t, srv), newTelemetry(t).opts()...)
	require.NoError(t, producer.Publish("orders.1", []byte("x")))
	m, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err)
	require.NotEmpty(t, m.Header.Get("traceparent"), "a message carrying a producer context")

	for _, tc := range []struct {
		name  string
		queue string
		ctx   bool
	}{
		{"Subscribe", "", false},
		{"QueueSubscribe", "workers", false},
		{"SubscribeContext", "", true},
		{"QueueSubscribeContext", "workers", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tel := newTelemetry(t)
			c := NewConn(raw, tel.opts()...)
			s := c.processSpec("orders.*", tc.queue, countAuto)
			v := &panicValue{where: tc.name}
			var h nats.MsgHandler
			if tc.ctx {
				h = c.msgHandler(s, nil, func(ctx context.Context, _ *nats.Msg) {
					assert.True(t, trace.SpanContextFromContext(ctx).IsValid())
					panic(v)
				})
			} else {
				h = c.msgHandler(s, func(m *nats.Msg) {
					assert.True(t, trace.SpanContextFromContext(ContextFromMsg(m)).IsValid())
					panic(v)
				}, nil)
			}
			assert.Same(t, v, catch(func() { h(m) }))
			sp := spanNamed(t, tel.spans(), "process orders.*")
			assertPanicked(t, sp, v)
			assert.Equal(t, trace.SpanKindConsumer, sp.SpanKind())
			assert.EqualValues(t, 1, panicPoints(t, tel, semconv.MetricProcessDuration))
			assert.EqualValues(t, 1, sumValue(tel.collect(t), semconv.MetricConsumedMessages, errAttr(semconv.ErrorTypePanic)))
			_, stale := msgContexts.Load(m)
			assert.False(t, stale, "the message's context is dropped on a panic too")
		})
	}
}

// ProcessMsg runs fn on the caller's goroutine.
func TestPanicProcessMsg(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	c := NewConn(connect(t, srv), tel.opts()...)
	sub, err := c.SubscribeSync("jobs.*")
	require.NoError(t, err)
	require.NoError(t, c.Publish("jobs.1", []byte("x")))
	m, err := c.NextMsg(sub, 5*time.Second)
	require.NoError(t, err)

	v := &panicValue{where: "ProcessMsg"}
	got := catch(func() { _ = c.ProcessMsg(m, func(context.Context, *nats.Msg) error { panic(v) }) })
	assert.Same(t, v, got)
	assertPanicked(t, spanNamed(t, tel.spans(), "process jobs.*"), v)
	assert.EqualValues(t, 1, panicPoints(t, tel, semconv.MetricProcessDuration))

	// The next message is processed as usual.
	require.NoError(t, c.ProcessMsg(m, func(context.Context, *nats.Msg) error { return nil }))
	assert.Len(t, endedNamed(tel, "process jobs.*"), 2)
}

// JetStream: the Consume handler wrapper (pull and push consumers share
// it), the Messages iterator, Fetch (the call and the batch forwarder),
// settles, and the async publish future. Each is driven on the test
// goroutine with a real message from an embedded server.
func TestPanicJetStream(t *testing.T) {
	e := newJSEnv(t)
	e.stream("PN", "pn.>")
	e.publishN("pn.x", 4)
	cons := e.consumer("PN", "worker")
	wc, ok := cons.(*consumer)
	require.True(t, ok, "the instrumented consumer, got %T", cons)
	cs := wc.cs
	rawCons, err := e.raw2.Consumer(context.Background(), "PN", "worker")
	require.NoError(t, err)
	rawMsg := func(t *testing.T) jetstream.Msg {
		t.Helper()
		m, err := rawCons.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(t, err)
		return m
	}
	consumed := func(t *testing.T) int64 {
		return sumValue(e.collect(t), semconv.MetricConsumedMessages, errAttr(semconv.ErrorTypePanic))
	}

	t.Run("Consume handler", func(t *testing.T) {
		m := rawMsg(t)
		v := &panicValue{where: "Consume"}
		h := cs.handler(func(m jetstream.Msg) {
			_, wrapped := m.(*jsMsg)
			assert.True(t, wrapped)
			panic(v)
		})
		assert.Same(t, v, catch(func() { h(m) }))
		assertPanicked(t, spanNamed(t, e.spans(), "process PN"), v)
		assert.EqualValues(t, 1, panicPoints(t, e.telemetry, semconv.MetricProcessDuration))
		assert.EqualValues(t, 1, consumed(t))
	})

	t.Run("Messages iterator", func(t *testing.T) {
		before := len(e.named("process PN"))
		v := &panicValue{where: "Messages"}
		it := &messagesContext{cs: cs, MessagesContext: fakeIterator{next: func() (jetstream.Msg, error) {
			return panickyMetadata{Msg: rawMsg(t), v: v}, nil
		}}}
		assert.Same(t, v, catch(func() { _, _ = it.Next() }))
		spans := e.named("process PN")
		require.Len(t, spans, before+1, "the process span started by Next ended")
		assertPanicked(t, spans[before], v)
	})

	t.Run("settle", func(t *testing.T) {
		m := rawMsg(t)
		pr := &processing{}
		var ctx context.Context
		ctx = cs.p.beginProcess(context.Background(), cs.process, m.Headers(), &pr.c)
		jm := cs.wrapMsg(m, ctx, pr, nil).(*jsMsg)
		before := len(e.named("process PN"))
		v := &panicValue{where: "Ack"}
		got := catch(func() { _ = jm.settle(nil, cs.ack, true, func(context.Context) error { panic(v) }) })
		assert.Same(t, v, got)
		assertPanicked(t, spanNamed(t, e.spans(), "ack PN"), v)
		spans := e.named("process PN")
		require.Len(t, spans, before+1, "a final settle ends the message's process span, panic or not")
		assertNoPanic(t, spans[before])
	})

	t.Run("Fetch", func(t *testing.T) {
		v := &panicValue{where: "Fetch"}
		got := catch(func() {
			_, _ = wc.fetch(func() (jetstream.MessageBatch, error) { panic(v) })
		})
		assert.Same(t, v, got)
		assertPanicked(t, spanNamed(t, e.spans(), "receive PN"), v)
	})

	t.Run("Fetch forwarder", func(t *testing.T) {
		before := len(e.named("receive PN"))
		v := &panicValue{where: "batch"}
		var cl call
		ctx, err := cs.p.begin(context.Background(), cs.receive, &cl)
		require.NoError(t, err)
		in := make(chan jetstream.Msg, 1)
		in <- rawMsg(t)
		close(in)
		b := &messageBatch{MessageBatch: panickyBatch{v: v}, out: make(chan jetstream.Msg, 1)}
		assert.Same(t, v, catch(func() { b.forward(in, cs, ctx, cl) }))
		spans := e.named("receive PN")
		require.Len(t, spans, before+1)
		assertPanicked(t, spans[before], v)
		<-b.out
		_, open := <-b.out
		assert.False(t, open, "the batch channel closes after the span ended")
	})

	t.Run("async publish future", func(t *testing.T) {
		j, ok := e.js.(*jetStream)
		require.True(t, ok)
		s := j.publish.spec("pn.async")
		var c call
		_, err := j.p.begin(context.Background(), s, &c)
		require.NoError(t, err)
		v := &panicValue{where: "future"}
		f := &pubAckFuture{PubAckFuture: panickyFuture{v: v}, ok: make(chan *jetstream.PubAck, 1), err: make(chan error, 1)}
		assert.Same(t, v, catch(func() { f.wait(c, nil) }))
		assertPanicked(t, spanNamed(t, e.spans(), "publish pn.async"), v)
	})

	assert.EqualValues(t, 3, consumed(t),
		"consumed with error.type=panic: the messages of the Consume handler, of Messages and of the batch")
}

type fakeIterator struct {
	jetstream.MessagesContext
	next func() (jetstream.Msg, error)
}

func (f fakeIterator) Next(...jetstream.NextOpt) (jetstream.Msg, error) { return f.next() }

type panickyMetadata struct {
	jetstream.Msg
	v any
}

func (p panickyMetadata) Metadata() (*jetstream.MsgMetadata, error) { panic(p.v) }

type panickyBatch struct {
	jetstream.MessageBatch
	v any
}

func (p panickyBatch) Error() error { panic(p.v) }

type panickyFuture struct {
	jetstream.PubAckFuture
	v any
}

func (p panickyFuture) Ok() <-chan *jetstream.PubAck { panic(p.v) }

type panickyEntry struct {
	jetstream.KeyValueEntry
	v any
}

func (p panickyEntry) Key() string { panic(p.v) }

// A KeyValue watch update is a process span around handing the update over.
func TestPanicKVWatch(t *testing.T) {
	e := newJSEnv(t)
	_, wrapped := e.kv("PB", WithKVKeys(true))
	kv, ok := wrapped.(*keyValue)
	require.True(t, ok)
	w := &keyWatcher{out: make(chan jetstream.KeyValueEntry, 1), stop: make(chan struct{})}
	v := &panicValue{where: "watch"}
	assert.Same(t, v, catch(func() { w.pass(panickyEntry{v: v}, nil, kv, false) }))
	assertPanicked(t, spanNamed(t, e.spans(), "kv.watch PB"), v)
	assert.EqualValues(t, 1, panicPoints(t, e.telemetry, semconv.MetricProcessDuration, bucketAttr("PB")))
}

// User hooks never panic into a core publish or request: Filter,
// SubjectNamer and ErrorClassifier panics go to otel.Handle and the call is
// made and recorded as usual. A panicking propagator (inject runs inside
// the call) never leaves the span open, whether or not its panic reaches
// the caller.
func TestPanicHooksInCorePublishAndRequest(t *testing.T) {
	srv := runServer(t)
	raw := connect(t, srv)
	tel := newTelemetry(t)
	c := NewConn(raw, tel.opts(
		WithFilter(func(string, string) bool { panic("filter") }),
		WithErrorClassifier(func(error) bool { panic("classifier") }),
		WithSubjectNamer(func(string) string { panic("namer") }),
	)...)
	require.NotPanics(t, func() {
		assert.NoError(t, c.Publish("hooks.1", []byte("x")))
		_, err := c.Request("hooks.nobody", nil, time.Second)
		assert.ErrorIs(t, err, nats.ErrNoResponders)
		_, rawErr := raw.Request("hooks.nobody", nil, time.Second)
		assert.Equal(t, rawErr, err)
	})
	assertOK(t, spanNamed(t, tel.spans(), "publish _OTHER"))
	assertFailed(t, spanNamed(t, tel.spans(), "request _OTHER"), "no_responders")

	tel2 := newTelemetry(t)
	c2 := NewConn(raw, tel2.opts(WithPropagators(panickyPropagator{}))...)
	for _, call := range []struct {
		name string
		fn   func()
	}{
		{"publish hooks.*", func() { _ = c2.Publish("hooks.2", []byte("x")) }},
		{"request hooks.*", func() { _, _ = c2.Request("hooks.3", nil, 100*time.Millisecond) }},
	} {
		r := catch(call.fn)
		sp := spanNamed(t, tel2.spans(), call.name)
		if r != nil {
			assert.Equal(t, "propagator", r)
			assertPanicked(t, sp, r)
		} else {
			assertNoPanic(t, sp)
		}
	}
}

type panickyPropagator struct{ propagation.TraceContext }

func (panickyPropagator) Inject(context.Context, propagation.TextMapCarrier) { panic("propagator") }

// Without a panic nothing changes: one span per call, ended normally.
func TestPanicHappyPathOneSpanPerCall(t *testing.T) {
	e := newJSEnv(t)
	ctx := context.Background()

	// do and run.
	p := newPipeline(nil, e.opts())
	s := p.spec(specConfig{Op: semconv.OpKVGet, Kind: trace.SpanKindClient, Dest: "hp"})
	for i := 0; i < 3; i++ {
		n, err := do(ctx, p, s, func(context.Context) (int, error) { return i, nil })
		require.NoError(t, err)
		assert.Equal(t, i, n)
		require.NoError(t, run(ctx, p, s, func(context.Context) error { return nil }))
	}
	assert.Len(t, e.named("kv.get hp"), 6)

	// Core subscription, through nats.go's own goroutine.
	c := NewConn(e.nc, e.opts()...)
	got := make(chan struct{}, 3)
	_, err := c.Subscribe("hp.*", func(*nats.Msg) { got <- struct{}{} })
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		require.NoError(t, c.Publish(fmt.Sprintf("hp.%d", i), nil))
	}
	for i := 0; i < 3; i++ {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("messages not delivered")
		}
	}
	e.waitNamed("process hp.*", 3)

	// JetStream: async publish, Fetch, Consume.
	e.stream("HP", "hpjs.>")
	f, err := e.js.PublishAsync("hpjs.a", []byte("x"))
	require.NoError(t, err)
	select {
	case <-f.Ok():
	case err := <-f.Err():
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("no ack")
	}
	e.publishN("hpjs.a", 1)
	cons := e.consumer("HP", "hp")
	b, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	n := 0
	for m := range b.Messages() {
		require.NoError(t, m.Ack())
		n++
	}
	require.NoError(t, b.Error())
	require.Equal(t, 2, n)
	e.waitNamed("receive HP", 1)
	e.publishN("hpjs.b", 2)
	handled := make(chan struct{}, 2)
	cc, err := cons.Consume(func(m jetstream.Msg) { _ = m.Ack(); handled <- struct{}{} })
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		select {
		case <-handled:
		case <-time.After(5 * time.Second):
			t.Fatal("not consumed")
		}
	}
	cc.Stop()
	e.waitNamed("process HP", 2)

	// KeyValue watch: one update, one span.
	_, kv := e.kv("HPB")
	w, err := kv.WatchAll(ctx)
	require.NoError(t, err)
	next := func() jetstream.KeyValueEntry {
		select {
		case u := <-w.Updates():
			return u
		case <-time.After(5 * time.Second):
			t.Fatal("no watch update")
			return nil
		}
	}
	assert.Nil(t, next(), "the end of the initial values (no span)")
	_, err = kv.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	assert.NotNil(t, next())
	require.NoError(t, w.Stop())
	e.waitNamed("kv.watch HPB", 1)

	for name, n := range map[string]int{
		"kv.get hp": 6, "process hp.*": 3, "publish hpjs.a": 2, "process HP": 2,
		"receive HP": 1, "ack HP": 4, "kv.watch HPB": 1,
	} {
		spans := e.named(name)
		assert.Len(t, spans, n, "spans %q", name)
		for _, sp := range spans {
			assertNoPanic(t, sp)
			assertOK(t, sp)
		}
	}
	assert.Zero(t, histCount(e.collect(t), semconv.MetricOperationDuration, errAttr(semconv.ErrorTypePanic)))
	assert.Zero(t, histCount(e.collect(t), semconv.MetricProcessDuration, errAttr(semconv.ErrorTypePanic)))
}

// panicChildEnv selects the child mode of TestPanicInHandlerCrashesLikeRawNATS.
const panicChildEnv = "NAQ_TEST_PANIC_CHILD"

// A handler that panics on nats.go's goroutine ends the process, with or
// without naq: naq's wrapper swallows nothing, and it ends (and exports) the
// process span first. Each mode runs in a child process of the test binary.
func TestPanicInHandlerCrashesLikeRawNATS(t *testing.T) {
	if mode := os.Getenv(panicChildEnv); mode != "" {
		panicChild(t, mode)
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, mode := range []string{"core-raw", "core-naq", "js-raw", "js-naq"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestPanicInHandlerCrashesLikeRawNATS$", "-test.count=1")
			// The crashed child leaves its server's store behind: in a
			// directory of ours, removed at cleanup.
			cmd.Env = append(os.Environ(), panicChildEnv+"="+mode, "TMPDIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "the child must crash:\n%s", out)
			assert.Equal(t, 2, ee.ExitCode(), "a Go panic's exit status:\n%s", out)
			text := string(out)
			crash := strings.Index(text, "panic: naq-handler-boom")
			require.GreaterOrEqual(t, crash, 0, "the handler's panic ends the process:\n%s", out)
			assert.NotContains(t, text, "no crash")
			if strings.HasSuffix(mode, "-raw") {
				assert.NotContains(t, text, "SPAN-ENDED ")
				return
			}
			ended := strings.Index(text, `SPAN-ENDED name="process `)
			require.GreaterOrEqual(t, ended, 0, "the process span ended before the crash:\n%s", out)
			assert.Less(t, ended, crash)
			line := text[ended:]
			line = line[:strings.IndexByte(line, '\n')]
			assert.Contains(t, line, "kind=consumer status=Error error.type=panic exception=string")
		})
	}
}

// panicChild subscribes a panicking handler in the given mode, publishes one
// message and waits for the crash.
func panicChild(t *testing.T, mode string) {
	srv := runServer(t)
	nc := connect(t, srv)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(stderrSpans{}))
	opts := []Option{WithTracerProvider(tp), WithMeterProvider(metricnoop.NewMeterProvider())}
	handler := func() { panic("naq-handler-boom") }
	ctx := context.Background()
	switch mode {
	case "core-raw", "core-naq":
		var err error
		if mode == "core-raw" {
			_, err = nc.Subscribe("boom", func(*nats.Msg) { handler() })
		} else {
			_, err = NewConn(nc, opts...).Subscribe("boom", func(*nats.Msg) { handler() })
		}
		require.NoError(t, err)
		require.NoError(t, nc.Publish("boom", nil))
	case "js-raw", "js-naq":
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "BOOM", Subjects: []string{"boom"}})
		require.NoError(t, err)
		_, err = js.Publish(ctx, "boom", nil)
		require.NoError(t, err)
		if mode == "js-naq" {
			js = NewJetStream(js, opts...)
		}
		cons, err := js.CreateOrUpdateConsumer(ctx, "BOOM", jetstream.ConsumerConfig{Durable: "c"})
		require.NoError(t, err)
		_, err = cons.Consume(func(jetstream.Msg) { handler() })
		require.NoError(t, err)
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	require.NoError(t, nc.Flush())
	time.Sleep(time.Minute)
	t.Fatal("no crash: the handler's panic was swallowed")
}

// stderrSpans writes every ended span to stderr at once (the process is
// about to crash: nothing may be buffered).
type stderrSpans struct{}

func (stderrSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (stderrSpans) Shutdown(context.Context) error                  { return nil }
func (stderrSpans) ForceFlush(context.Context) error                { return nil }
func (stderrSpans) OnEnd(s sdktrace.ReadOnlySpan) {
	exc := ""
	for _, e := range s.Events() {
		if e.Name == semconv.EventException {
			exc = attrs(e.Attributes)[semconv.ExceptionTypeKey].AsString()
		}
	}
	fmt.Fprintf(os.Stderr, "SPAN-ENDED name=%q kind=%s status=%s error.type=%s exception=%s\n",
		s.Name(), s.SpanKind(), s.Status().Code, attrs(s.Attributes())[semconv.ErrorTypeKey].AsString(), exc)
}

// BenchmarkFinish prices ending a call in a defer that recovers (run:
// defer c.finish(&err)) against the inline end it replaced (begin, fn,
// c.end), side by side in the same run, with a gate and without. The
// sampled cases (sampled_snapshot; "sampled" in older commits, without a
// span processor) end their spans through benchutil's snapshot processor,
// as with an exporter.
func BenchmarkFinish(b *testing.B) {
	p := benchutil.NewProviders(b)
	mp, never, always := p.Meter, p.Unsampled, p.Sampled
	g, err := circuit.NewGate("bench-finish", circuit.WithMeterProvider(mp))
	require.NoError(b, err)
	b.Cleanup(func() { _ = g.Close() })
	fn := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"gate_only", []Option{WithMeterProvider(metricnoop.NewMeterProvider()), WithTracerProvider(tracenoop.NewTracerProvider()), WithGate(g)}},
		{"metrics_only", []Option{WithMeterProvider(mp), WithTracerProvider(tracenoop.NewTracerProvider())}},
		{"metrics_only_gate", []Option{WithMeterProvider(mp), WithTracerProvider(tracenoop.NewTracerProvider()), WithGate(g)}},
		{"unsampled", []Option{WithMeterProvider(mp), WithTracerProvider(never)}},
		{"sampled_snapshot", []Option{WithMeterProvider(mp), WithTracerProvider(always)}},
	} {
		p := newPipeline(nil, tc.opts)
		s := p.family(specConfig{Op: semconv.OpRequest, OpType: semconv.OpTypeSend, Gate: gateRequest}).spec("bench.finish")
		ctx := context.Background()
		b.Run(tc.name+"/inline_end", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var c call
				cctx, err := p.begin(ctx, s, &c)
				if err != nil {
					b.Fatal(err)
				}
				err = fn(cctx)
				c.end(err)
			}
		})
		b.Run(tc.name+"/deferred_finish", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := run(ctx, p, s, fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
