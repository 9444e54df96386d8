package instrument_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/naq-io/naq/instrument"
)

// exampleServer starts an embedded server standing in for a NATS deployment.
func exampleServer() *natsserver.Server {
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(5 * time.Second) {
		panic("server not ready")
	}
	return srv
}

func ExampleNewConn() {
	srv := exampleServer()
	defer srv.Shutdown()

	// Usually the providers come from the otel globals; here they record in memory.
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	opts := []instrument.Option{
		instrument.WithTracerProvider(tp),
		instrument.WithMeterProvider(mp),
		instrument.WithPropagators(propagation.TraceContext{}),
	}

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	conn := instrument.NewConn(nc, opts...) // the one-line change

	done := make(chan struct{})
	_, _ = conn.SubscribeContext("orders.*", func(ctx context.Context, msg *nats.Msg) {
		// ctx carries the process span: a child of the publisher's span.
		close(done)
	})
	_ = conn.Flush()
	_ = conn.Publish("orders.1042", []byte(`{"sku":"A7"}`))
	<-done
	for len(spans.Ended()) < 2 { // the process span ends when the handler returns
		time.Sleep(time.Millisecond)
	}

	var lines []string
	for _, s := range spans.Ended() {
		lines = append(lines, fmt.Sprint(s.SpanKind(), " ", s.Name()))
	}
	sort.Strings(lines) // the two spans may end in either order
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// consumer process orders.*
	// producer publish orders.*
}

func ExampleConn_Request() {
	srv := exampleServer()
	defer srv.Shutdown()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	conn := instrument.NewConn(nc, instrument.WithTracerProvider(tp))

	// Errors come back exactly as nats.go returned them.
	_, err = conn.Request("billing.charge.1042", []byte("{}"), 5*time.Second)
	fmt.Println(errors.Is(err, nats.ErrNoResponders))

	s := spans.Ended()[0]
	fmt.Println(s.Name(), s.Status().Code, s.Status().Description)
	// Output:
	// true
	// request billing.charge.* Error no_responders
}

func ExampleWithFilter() {
	srv := exampleServer()
	defer srv.Shutdown()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()

	// Health pings go straight to nats.go: no span, no metric, no allocation.
	conn := instrument.NewConn(nc, instrument.WithTracerProvider(tp),
		instrument.WithFilter(func(op, destination string) bool {
			return !strings.HasPrefix(destination, "health.")
		}))
	_ = conn.Publish("health.ping", nil)
	_ = conn.Publish("orders.created", nil)

	for _, s := range spans.Ended() {
		fmt.Println(s.Name())
	}
	// Output:
	// publish orders.created
}
