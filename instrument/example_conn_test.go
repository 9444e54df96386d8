package instrument_test

import (
	"context"
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

func ExampleNewConn() {
	// An embedded server stands in for your NATS deployment.
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(5 * time.Second) {
		panic("server not ready")
	}

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
