package tracing_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/naq-io/naq/tracing"
)

// runExampleServer starts an embedded nats-server standing in for your
// NATS deployment (2.11 or later traces messages).
func runExampleServer() (url string, stop func()) {
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(5 * time.Second) {
		panic("server not ready")
	}
	return srv.ClientURL(), func() { srv.Shutdown(); srv.WaitForShutdown() }
}

func ExampleNewHopCollector() {
	url, stop := runExampleServer()
	defer stop()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	prop := propagation.TraceContext{}

	nc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("orders.*")
	if err != nil {
		panic(err)
	}
	defer sub.Unsubscribe()

	ctx := context.Background()
	hops, err := tracing.NewHopCollector(ctx, nc, "naq.trace.hops",
		tracing.WithTracerProvider(tp), tracing.WithPropagators(prop))
	if err != nil {
		panic(err)
	}
	defer hops.Close()

	// A publisher without the instrument package: a span, its context in
	// the header, and the header that asks the servers for their hops.
	pctx, span := tp.Tracer("example").Start(ctx, "checkout")
	msg := &nats.Msg{Subject: "orders.1042", Data: []byte(`{"sku":"A7"}`), Header: nats.Header{}}
	tracing.Inject(pctx, msg, tracing.WithPropagators(prop))
	msg.Header.Set(tracing.TraceDestHeader, "naq.trace.hops")
	_ = nc.PublishMsg(msg)
	span.End()

	for deadline := time.Now().Add(5 * time.Second); hops.Stats().Received == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	var names []string
	for _, s := range spans.Ended() {
		names = append(names, s.Name())
	}
	slices.Sort(names)
	fmt.Println(names)
	fmt.Println("dropped:", hops.Stats().Dropped())
	// Output:
	// [checkout egress orders.* ingress orders.*]
	// dropped: 0
}
