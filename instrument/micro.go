package instrument

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// AddService is micro.AddService(nc, cfg) with every endpoint request
// traced and measured through the one operation pipeline; it returns the
// upstream interface. Replace micro.AddService with instrument.AddService,
// nothing else changes (see also [Conn.AddService]).
//
// Each request of an endpoint (cfg.Endpoint, AddEndpoint, and AddEndpoint
// of groups from AddGroup, nested or not) runs its handler inside a SERVER
// span "process <endpoint subject template>" (messaging.operation.name
// process, type process; the template of the subject the endpoint is
// registered on, e.g. "orders.*" or "billing.invoice.create", never the
// request's raw subject or its reply inbox). The span is a child of the
// caller's span, whose trace context comes from the request headers (a
// [Conn.Request] of an instrumented connection puts it there), and links to
// it, so a request-reply is one trace. It records
// messaging.process.duration and messaging.client.consumed.messages.
//
// When the handler responds with req.Error(code, ...), the span has status
// Error and error.type is the code when it is a number from 100 to 999
// ("400", "503"), else "_OTHER", so the set stays closed; the description
// and data are never recorded. A response that could not be sent records
// its error instead. The last failure wins and a later successful Respond
// does not clear it; calls micro refuses before sending anything (a
// missing code, a value that does not marshal) are not failures: the span
// fails exactly when micro's endpoint stats count an error. A response
// sent after the handler has returned (from another goroutine) is not
// seen. A panicking handler ends its span with the panic
// recorded (error.type=panic) and the panic goes on, as with micro.
//
// Inside the handler, [ContextFromRequest](req) returns the context of the
// span, to parent the handler's own spans and calls. The handler receives
// a micro.Request of naq's that passes every call on to micro's request.
// The monitoring endpoints ($SRV.PING, $SRV.INFO, $SRV.STATS) and the
// Service methods Info, Stats, Reset, Stop and Stopped are micro's own,
// untraced.
//
// The endpoint subject is taken from micro.WithEndpointSubject when it is
// among the options (read from micro's option, a test guards it), else the
// endpoint name, prefixed by the groups' names as micro does. A [Filter]
// sees op "process" and that subject; a rejected endpoint (or noop
// providers) gets the handler unwrapped. Endpoint requests are never gated.
// Options default to the OpenTelemetry globals read now; errors are
// micro.AddService's, unchanged, and a nil nc panics in micro.AddService
// as it does without naq. The service is safe for concurrent use, like
// micro's.
func AddService(nc *nats.Conn, cfg micro.Config, opts ...Option) (micro.Service, error) {
	return addService(nc, newPipeline(nc, opts), cfg)
}

// AddService is [AddService] on the connection c wraps, with c's options:
// the one-line change for code that calls micro.AddService(c.Conn(), cfg).
func (c *Conn) AddService(cfg micro.Config) (micro.Service, error) {
	return addService(c.rawConn, c.p, cfg)
}

func addService(nc *nats.Conn, p *pipeline, cfg micro.Config) (micro.Service, error) {
	if cfg.Endpoint != nil && cfg.Endpoint.Handler != nil {
		ep := *cfg.Endpoint // never modify the caller's config
		// micro registers it as endpoint "default" on ep.Subject.
		subject := ep.Subject
		if subject == "" {
			subject = "default"
		}
		ep.Handler = p.wrapHandler(subject, ep.Handler)
		cfg.Endpoint = &ep
	}
	svc, err := micro.AddService(nc, cfg)
	if err != nil || svc == nil {
		return svc, err
	}
	return &service{Service: svc, p: p}, nil
}

// service is the instrumented micro.Service.
type service struct {
	micro.Service
	p *pipeline
}

var _ micro.Service = (*service)(nil)

// AddEndpoint is micro's AddEndpoint with handler run inside a SERVER span
// per request.
func (s *service) AddEndpoint(name string, handler micro.Handler, opts ...micro.EndpointOpt) error {
	return s.Service.AddEndpoint(name, s.p.wrapHandler(endpointSubject("", name, opts), handler), opts...)
}

// AddGroup is micro's AddGroup; the endpoints of the group returned (and of
// its subgroups) are traced too.
func (s *service) AddGroup(name string, opts ...micro.GroupOpt) micro.Group {
	return &group{Group: s.Service.AddGroup(name, opts...), p: s.p, prefix: name}
}

// group is the instrumented micro.Group.
type group struct {
	micro.Group
	p      *pipeline
	prefix string // as micro builds it: the group names joined by "."
}

var _ micro.Group = (*group)(nil)

// AddEndpoint is micro's AddEndpoint with handler run inside a SERVER span
// per request.
func (g *group) AddEndpoint(name string, handler micro.Handler, opts ...micro.EndpointOpt) error {
	return g.Group.AddEndpoint(name, g.p.wrapHandler(endpointSubject(g.prefix, name, opts), handler), opts...)
}

// AddGroup is micro's AddGroup; its endpoints are traced too.
func (g *group) AddGroup(name string, opts ...micro.GroupOpt) micro.Group {
	prefix := g.prefix
	switch {
	case prefix == "":
		prefix = name
	case name != "":
		prefix += "." + name
	}
	return &group{Group: g.Group.AddGroup(name, opts...), p: g.p, prefix: prefix}
}

// endpointSubject returns the subject micro registers an endpoint on:
// the WithEndpointSubject option's subject, else name, after the group
// prefix.
func endpointSubject(prefix, name string, opts []micro.EndpointOpt) string {
	subject := name
	if s := optSubject(opts); s != "" {
		subject = s
	}
	if prefix != "" {
		subject = prefix + "." + subject
	}
	return subject
}

// optSubject applies opts to a fresh micro endpoint options value (its type
// is unexported; newOptsFor names it by inference) and reads its subject
// field. micro's options are plain setters, so applying them twice (here
// and in micro) is harmless. "" when there is none or it cannot be read;
// a nil option is left for micro to fail on.
func optSubject(opts []micro.EndpointOpt) string {
	if len(opts) == 0 {
		return ""
	}
	target := newOptsFor(opts[0])
	for _, o := range opts {
		if o == nil {
			return ""
		}
		if err := o(target); err != nil {
			return "" // micro returns this error: there is no endpoint
		}
	}
	f := reflect.ValueOf(target).Elem().FieldByName("subject")
	if !f.IsValid() || f.Kind() != reflect.String {
		return ""
	}
	return f.String() // reading (not setting) an unexported string field
}

// newOptsFor returns a new value of the type an option function sets.
func newOptsFor[T any](func(*T) error) *T { return new(T) }

// wrapHandler returns h run inside a SERVER span per request of the
// endpoint registered on subject, or h itself when there is nothing to
// record (nil h, filtered, noop providers).
func (p *pipeline) wrapHandler(subject string, h micro.Handler) micro.Handler {
	if h == nil {
		return nil
	}
	s := p.spec(specConfig{
		Op: semconv.OpProcess, OpType: semconv.OpTypeProcess, Kind: trace.SpanKindServer,
		Dest: p.template(subject), FilterDest: subject,
	})
	if !s.active() {
		return h
	}
	return &endpointHandler{p: p, s: s, h: h}
}

// endpointHandler is the micro.Handler of one instrumented endpoint.
type endpointHandler struct {
	p *pipeline
	s *opSpec
	h micro.Handler
}

// Handle runs the endpoint's handler inside the request's SERVER span,
// ended in a defer (a panic is recorded and goes on).
func (e *endpointHandler) Handle(req micro.Request) {
	var c call
	ctx := e.p.beginProcess(context.Background(), e.s, nats.Header(req.Headers()), &c)
	r := &serviceRequest{Request: req, ctx: ctx}
	var outcome error
	defer c.finish(&outcome)
	e.h.Handle(r)
	outcome = r.outcome()
}

// serviceRequest is the micro.Request a traced handler receives: micro's,
// plus the span's context and the outcome of its responses.
type serviceRequest struct {
	micro.Request
	ctx context.Context

	mu     sync.Mutex // a handler may respond from another goroutine
	failed error
}

var _ micro.Request = (*serviceRequest)(nil)

// Respond is micro's Respond; a failure is recorded on the span.
func (r *serviceRequest) Respond(data []byte, opts ...micro.RespondOpt) error {
	err := r.Request.Respond(data, opts...)
	r.fail(err)
	return err
}

// RespondJSON is micro's RespondJSON; a failure is recorded on the span.
func (r *serviceRequest) RespondJSON(v any, opts ...micro.RespondOpt) error {
	err := r.Request.RespondJSON(v, opts...)
	r.fail(err)
	return err
}

// Error is micro's Error; the span gets error.type from code (see
// [AddService]), or the error of the call when it fails.
func (r *serviceRequest) Error(code, description string, data []byte, opts ...micro.RespondOpt) error {
	err := r.Request.Error(code, description, data, opts...)
	if err != nil {
		r.fail(err)
	} else {
		r.fail(serviceError(code))
	}
	return err
}

// fail records err as the request's outcome, the way micro's endpoint
// stats count errors: a response that could not be sent, or an error
// response; not a call micro refused before sending anything (a missing
// code or description, a value that does not marshal).
func (r *serviceRequest) fail(err error) {
	if err == nil || errors.Is(err, micro.ErrArgRequired) || errors.Is(err, micro.ErrMarshalResponse) {
		return
	}
	r.mu.Lock()
	r.failed = err
	r.mu.Unlock()
}

func (r *serviceRequest) outcome() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// ContextFromRequest returns, inside the handler of an endpoint of a
// service from [AddService] or [Conn.AddService], the context carrying the
// request's SERVER span (use it as the parent of the handler's work, e.g.
// [Conn.RequestWithContext] or a JetStream publish). micro.Handler takes no
// context, hence this helper. For any other request (an endpoint that is
// not traced, a nil req) it returns context.Background().
func ContextFromRequest(req micro.Request) context.Context {
	if r, ok := req.(*serviceRequest); ok && r != nil && r.ctx != nil {
		return r.ctx
	}
	return context.Background()
}

// errServiceOther is the recorded outcome of a req.Error whose code is not
// a number from 100 to 999: error.type "_OTHER" (its type says nothing, see
// semconv.ErrorType).
var errServiceOther = errors.New("micro: service error")

// serviceError returns the outcome the pipeline records for req.Error(code):
// error.type is the numeric code (100-999) as given, else "_OTHER". The
// pipeline names error types with semconv.ErrorType, which reads a
// JetStream-style API error's code; microCodeError carries the code that
// way (Code as well, so semconv.Classify reads 4xx as the caller's and 5xx
// as the server's). The error never leaves the pipeline: the caller gets
// micro's own return value.
func serviceError(code string) error {
	n, err := strconv.Atoi(code)
	if err != nil || n < 100 || n > 999 || strings.TrimSpace(code) != code || code[0] == '+' || code[0] == '0' {
		return errServiceOther
	}
	return &microCodeError{api: jetstream.APIError{Code: n, ErrorCode: jetstream.ErrorCode(n)}}
}

// microCodeError is the outcome of a req.Error with a numeric code.
type microCodeError struct{ api jetstream.APIError }

func (e *microCodeError) Error() string { return "micro: service error " + strconv.Itoa(e.api.Code) }

// APIError exposes the code to semconv.ErrorType (error.type) and
// semconv.Classify.
func (e *microCodeError) APIError() *jetstream.APIError { return &e.api }
