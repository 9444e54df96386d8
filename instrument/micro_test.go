package instrument

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

const (
	microDesc = "description-secret-Vb7nQx2Rt5"
	microData = "request-body-secret-Jm3kLp8Wz1"
)

// microEnv is a server, an instrumented client connection and a server
// connection for services, sharing in-memory telemetry.
type microEnv struct {
	*telemetry
	t      *testing.T
	client *Conn
	server *nats.Conn
}

func newMicroEnv(t *testing.T) *microEnv {
	t.Helper()
	srv := runServer(t)
	tel := newTelemetry(t)
	return &microEnv{
		telemetry: tel, t: t,
		client: NewConn(connect(t, srv), tel.opts()...),
		server: connect(t, srv),
	}
}

// service adds an instrumented service on the server connection, stopped
// at cleanup.
func (e *microEnv) service(cfg micro.Config, extra ...Option) micro.Service {
	e.t.Helper()
	if cfg.Version == "" {
		cfg.Version = "1.0.0"
	}
	svc, err := AddService(e.server, cfg, e.opts(extra...)...)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = svc.Stop() })
	return svc
}

func (e *microEnv) request(subject string) *nats.Msg {
	e.t.Helper()
	require.NoError(e.t, e.server.Flush()) // the endpoints' subscriptions are in place
	reply, err := e.client.Request(subject, []byte(microData), 5*time.Second)
	require.NoError(e.t, err)
	return reply
}

// A request from an instrumented client to an instrumented service is one
// trace: client span → endpoint SERVER span (child and link), and the
// handler's context carries the endpoint span.
func TestMicroRequestReplyOneTrace(t *testing.T) {
	e := newMicroEnv(t)
	svc := e.service(micro.Config{Name: "calc"})
	require.NoError(t, svc.AddEndpoint("add", micro.HandlerFunc(func(req micro.Request) {
		ctx := ContextFromRequest(req)
		_, span := e.tp.Tracer("handler").Start(ctx, "handler work")
		span.End()
		_ = req.Respond([]byte("42"))
	})))

	reply := e.request("add")
	assert.Equal(t, "42", string(reply.Data))
	spans := e.waitSpans(t, 3)
	client := spanNamed(t, spans, "request add")
	server := spanNamed(t, spans, "process add")
	work := spanNamed(t, spans, "handler work")

	assert.Equal(t, trace.SpanKindServer, server.SpanKind())
	assert.Equal(t, client.SpanContext().TraceID(), server.SpanContext().TraceID(), "one trace")
	assert.Equal(t, client.SpanContext().SpanID(), server.Parent().SpanID(), "child of the client span")
	require.Len(t, server.Links(), 1)
	assert.Equal(t, client.SpanContext().SpanID(), server.Links()[0].SpanContext.SpanID(), "linked to it too")
	assert.Equal(t, server.SpanContext().SpanID(), work.Parent().SpanID(), "ContextFromRequest carries the endpoint span")
	assertAttrs(t, server.Attributes(), semconv.System, opAttr(semconv.OpProcess),
		semconv.MessagingOperationTypeKey.String(semconv.OpTypeProcess), destAttr("add"),
		semconv.MessagingDestinationTemplateKey.String("add"))
	assertOK(t, server)

	rm := e.collect(t)
	assert.EqualValues(t, 1, histCount(rm, semconv.MetricProcessDuration, opAttr(semconv.OpProcess), destAttr("add")))
	assert.EqualValues(t, 1, sumValue(rm, semconv.MetricConsumedMessages, opAttr(semconv.OpProcess), destAttr("add")))
	assertNoSecrets(t, e.telemetry, microData)
}

// req.Error codes become error.type: a number from 100 to 999 as given,
// anything else _OTHER; descriptions and data are never recorded.
func TestMicroErrorCodes(t *testing.T) {
	e := newMicroEnv(t)
	svc := e.service(micro.Config{Name: "errs"})
	for name, code := range map[string]string{"unavailable": "503", "bad": "400", "named": "E_BAD_INPUT", "huge": "12345", "zero": "099"} {
		require.NoError(t, svc.AddEndpoint(name, micro.HandlerFunc(func(req micro.Request) {
			_ = req.Error(code, microDesc, []byte(microData))
		})))
	}
	require.NoError(t, svc.AddEndpoint("fine", micro.HandlerFunc(func(req micro.Request) { _ = req.Respond(nil) })))
	require.NoError(t, svc.AddEndpoint("badarg", micro.HandlerFunc(func(req micro.Request) {
		if err := req.Error("", "", nil); err != nil { // micro rejects it: no response
			_ = req.Respond([]byte("fallback"))
		}
	})))

	for name, want := range map[string]string{
		"unavailable": "503", "bad": "400", "named": semconv.ErrorTypeOther, "huge": semconv.ErrorTypeOther,
		"zero": semconv.ErrorTypeOther,
	} {
		reply := e.request(name)
		assert.Equal(t, microDesc, reply.Header.Get(micro.ErrorHeader))
		s := waitSpan(t, e.telemetry, "process "+name)
		assertFailed(t, s, want)
		assert.EqualValues(t, 1, histCount(e.collect(t), semconv.MetricProcessDuration, destAttr(name), errAttr(want)), name)
	}
	e.request("fine")
	assertOK(t, waitSpan(t, e.telemetry, "process fine"))
	reply := e.request("badarg")
	assert.Equal(t, "fallback", string(reply.Data))
	// micro refused the call before sending anything and does not count
	// it as an error: neither does the span.
	assertOK(t, waitSpan(t, e.telemetry, "process badarg"))
	assertNoSecrets(t, e.telemetry, microDesc, microData)
}

func waitSpan(t *testing.T, tel *telemetry, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, s := range tel.spans() {
			if s.Name() == name {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond, "span %q", name)
	return spanNamed(t, tel.spans(), name)
}

// Endpoints of cfg.Endpoint, AddEndpoint with and without a subject option,
// and of groups (nested, empty names) are traced under the subject micro
// registers them on.
func TestMicroEndpointsAndGroups(t *testing.T) {
	e := newMicroEnv(t)
	ok := micro.HandlerFunc(func(req micro.Request) { _ = req.Respond([]byte("ok")) })
	svc := e.service(micro.Config{Name: "shop", Endpoint: &micro.EndpointConfig{Subject: "shop.echo", Handler: ok}})
	require.NoError(t, svc.AddEndpoint("plain", ok))
	require.NoError(t, svc.AddEndpoint("custom", ok, micro.WithEndpointMetadataKey("k", "v"), micro.WithEndpointSubject("orders.*")))
	billing := svc.AddGroup("billing", micro.WithGroupQueueGroup("bq"))
	require.NoError(t, billing.AddEndpoint("invoice", ok))
	v1 := billing.AddGroup("v1")
	require.NoError(t, v1.AddEndpoint("pay", ok, micro.WithEndpointSubject("pay.>")))
	require.NoError(t, v1.AddGroup("").AddEndpoint("refund", ok))
	require.NoError(t, svc.AddGroup("").AddEndpoint("top", ok))

	// The spans are named after exactly the subjects micro registered.
	var subjects []string
	for _, ep := range svc.Info().Endpoints {
		subjects = append(subjects, ep.Subject)
	}
	assert.ElementsMatch(t, []string{
		"shop.echo", "plain", "orders.*", "billing.invoice", "billing.v1.pay.>", "billing.v1.refund", "top",
	}, subjects)
	for subject, send := range map[string]string{
		"shop.echo": "shop.echo", "plain": "plain", "orders.*": "orders.new", "billing.invoice": "billing.invoice",
		"billing.v1.pay.>": "billing.v1.pay.card.visa", "billing.v1.refund": "billing.v1.refund", "top": "top",
	} {
		assert.Equal(t, "ok", string(e.request(send).Data))
		s := waitSpan(t, e.telemetry, "process "+subject)
		assert.Equal(t, trace.SpanKindServer, s.SpanKind())
		assertAttrs(t, s.Attributes(), destAttr(subject))
	}
}

// Raw micro and instrumented services answer the same requests with the
// same replies and keep the same stats; configuration errors are micro's.
func TestMicroDifferential(t *testing.T) {
	e := newMicroEnv(t)
	handler := micro.HandlerFunc(func(req micro.Request) {
		switch string(req.Data()) {
		case "json":
			_ = req.RespondJSON(map[string]int{"n": 1}, micro.WithHeaders(micro.Headers{"X-A": {"1"}}))
		case "error":
			_ = req.Error("409", "conflict", []byte("d"), micro.WithHeaders(micro.Headers{"X-B": {"2"}}))
		case "badjson":
			if err := req.RespondJSON(func() {}); err != nil {
				_ = req.Respond([]byte(err.Error()))
			}
		default:
			_ = req.Respond(append([]byte("echo:"), req.Data()...))
		}
	})
	raw, err := micro.AddService(e.server, micro.Config{Name: "raw", Version: "1.0.0"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = raw.Stop() })
	require.NoError(t, raw.AddGroup("raw").AddEndpoint("do", handler))
	inst := e.service(micro.Config{Name: "inst"})
	require.NoError(t, inst.AddGroup("inst").AddEndpoint("do", handler))

	require.NoError(t, e.server.Flush())
	plain := e.client.Conn()
	for _, in := range []string{"x", "json", "error", "badjson"} {
		rawReply, err := plain.Request("raw.do", []byte(in), 5*time.Second)
		require.NoError(t, err)
		instReply, err := plain.Request("inst.do", []byte(in), 5*time.Second)
		require.NoError(t, err)
		assert.Equal(t, rawReply.Data, instReply.Data, in)
		assert.Equal(t, rawReply.Header, instReply.Header, in)
	}
	// micro counts a request after its handler returns, after the reply.
	require.Eventually(t, func() bool {
		return raw.Stats().Endpoints[0].NumRequests == 4 && inst.Stats().Endpoints[0].NumRequests == 4
	}, 5*time.Second, time.Millisecond)
	rs, is := raw.Stats().Endpoints[0], inst.Stats().Endpoints[0]
	assert.Equal(t, rs.NumRequests, is.NumRequests)
	assert.Equal(t, rs.NumErrors, is.NumErrors)
	assert.Equal(t, rs.LastError, is.LastError)

	// Configuration errors come back as micro returns them.
	_, rawErr := micro.AddService(e.server, micro.Config{Name: "bad name", Version: "1.0.0"})
	_, err = AddService(e.server, micro.Config{Name: "bad name", Version: "1.0.0"})
	require.Error(t, err)
	assert.Equal(t, rawErr, err)
	assert.True(t, errors.Is(err, micro.ErrConfigValidation))
	rawErr = raw.AddEndpoint("bad name", handler)
	err = inst.AddEndpoint("bad name", handler)
	assert.Equal(t, rawErr, err)
	rawErr = raw.AddEndpoint("limits", handler, micro.WithEndpointPendingLimits(0, 0))
	err = inst.AddEndpoint("limits", handler, micro.WithEndpointPendingLimits(0, 0))
	require.Error(t, err)
	assert.Equal(t, rawErr, err)
}

// Conn.AddService uses the connection's options; a Filter can leave an
// endpoint untraced (its handler then gets micro's request).
func TestMicroConnAddServiceAndFilter(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	conn := NewConn(connect(t, srv), tel.opts(WithConnectionName("svc-conn"),
		WithFilter(func(op, dest string) bool { return dest != "health" }))...)
	svc, err := conn.AddService(micro.Config{Name: "filtered", Version: "1.0.0"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Stop() })
	got := make(chan bool, 2)
	h := micro.HandlerFunc(func(req micro.Request) {
		got <- trace.SpanContextFromContext(ContextFromRequest(req)).IsValid()
		_ = req.Respond(nil)
	})
	require.NoError(t, svc.AddEndpoint("health", h))
	require.NoError(t, svc.AddEndpoint("work", h))
	require.NoError(t, conn.Flush())
	client := connect(t, srv)
	_, err = client.Request("health", nil, 5*time.Second)
	require.NoError(t, err)
	assert.False(t, <-got, "filtered: no span")
	_, err = client.Request("work", nil, 5*time.Second)
	require.NoError(t, err)
	assert.True(t, <-got)
	s := waitSpan(t, tel, "process work")
	assertAttrs(t, s.Attributes(), semconv.NATSConnectionKey.String("svc-conn"))
	assert.False(t, s.Parent().IsValid(), "a raw client sends no trace context: a root span")
	for _, sp := range tel.spans() {
		assert.NotEqual(t, "process health", sp.Name())
	}
}

func TestContextFromRequest(t *testing.T) {
	assert.Equal(t, context.Background(), ContextFromRequest(nil))
	var r micro.Request = &serviceRequest{}
	assert.Equal(t, context.Background(), ContextFromRequest(r), "no context")
}

// The endpoint subject is read from micro's options; this guards the
// field it is read from.
func TestMicroEndpointSubject(t *testing.T) {
	for _, tc := range []struct {
		prefix, name string
		opts         []micro.EndpointOpt
		want         string
	}{
		{"", "get", nil, "get"},
		{"", "get", []micro.EndpointOpt{micro.WithEndpointSubject("a.b")}, "a.b"},
		{"", "get", []micro.EndpointOpt{micro.WithEndpointQueueGroup("q2"), micro.WithEndpointSubject("a.*"), micro.WithEndpointMetadataKey("k", "v")}, "a.*"},
		{"g.h", "get", []micro.EndpointOpt{micro.WithEndpointSubject("x")}, "g.h.x"},
		{"g", "get", []micro.EndpointOpt{micro.WithEndpointSubject("")}, "g.get"},
		{"", "get", []micro.EndpointOpt{nil}, "get"},
	} {
		t.Run(fmt.Sprint(tc.prefix, "/", tc.name, "/", len(tc.opts)), func(t *testing.T) {
			assert.Equal(t, tc.want, endpointSubject(tc.prefix, tc.name, tc.opts))
		})
	}
}

func TestMicroServiceErrorType(t *testing.T) {
	for code, want := range map[string]string{
		"100": "100", "404": "404", "503": "503", "999": "999",
		"99": "_OTHER", "1000": "_OTHER", "0400": "_OTHER", "+400": "_OTHER", " 400": "_OTHER",
		"E_BAD": "_OTHER", "": "_OTHER", "-500": "_OTHER",
	} {
		assert.Equal(t, want, semconv.ErrorType(serviceError(code)), "code %q", code)
	}
	assert.Equal(t, semconv.ClassCaller, semconv.Classify(serviceError("404")))
	assert.Equal(t, semconv.ClassServer, semconv.Classify(serviceError("503")))
}
