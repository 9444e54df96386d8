package metrics_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/naq-io/naq/metrics"
)

// runExampleServer starts an embedded nats-server on a free loopback port.
func runExampleServer() *server.Server {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		panic("server not ready")
	}
	return s
}

func ExampleNewRecorder() {
	s := runExampleServer()
	defer s.Shutdown()

	// In an application the MeterProvider comes from the telemetry setup;
	// nil means the global one.
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	rec := metrics.NewRecorder(metrics.WithMeterProvider(mp))

	nc, err := rec.Dial(context.Background(), "orders", func(context.Context) (*nats.Conn, error) {
		return nats.Connect(s.ClientURL(), rec.ConnOptions()...)
	})
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer nc.Close()

	snap := rec.Snapshot()
	fmt.Println("active:", snap.Active)
	fmt.Println("opened:", snap.Opened, "failed:", snap.Failed)
	fmt.Println("connection:", snap.Connections[0].Name, "connected:", snap.Connections[0].Connected)
	// Output:
	// active: 1
	// opened: 1 failed: 0
	// connection: orders connected: true
}

func ExampleMeasure() {
	s := runExampleServer()
	defer s.Shutdown()

	rep, err := metrics.Measure(context.Background(),
		func(context.Context) (*nats.Conn, error) { return nats.Connect(s.ClientURL()) },
		metrics.WithConnects(5), metrics.WithRoundTrips(20), metrics.WithRequests(10))
	if err != nil {
		fmt.Println("measure:", err)
		return
	}
	for _, p := range rep.Phases() {
		fmt.Printf("%s: %d/%d ok, p50<=p99: %t\n", p.Name, p.Successes, p.Attempts, p.P50 <= p.P99)
	}
	fmt.Printf("success rate: %.0f%%\n", rep.SuccessRate*100)
	// Output:
	// connect: 5/5 ok, p50<=p99: true
	// rtt: 20/20 ok, p50<=p99: true
	// request: 10/10 ok, p50<=p99: true
	// success rate: 100%
}

func ExampleRecorder_Observe() {
	s := runExampleServer()
	defer s.Shutdown()

	rec := metrics.NewRecorder(metrics.WithMeterProvider(
		sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))))

	// A connection dialled elsewhere, with the user's own closed handler: it
	// keeps running after Observe chains the Recorder's handlers.
	userClosed := make(chan struct{})
	nc, err := nats.Connect(s.ClientURL(),
		nats.ClosedHandler(func(*nats.Conn) { close(userClosed) }))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	obs, err := rec.Observe(nc, "worker")
	if err != nil {
		fmt.Println("observe:", err)
		return
	}
	sub, err := nc.SubscribeSync("jobs.>")
	if err != nil {
		fmt.Println("subscribe:", err)
		return
	}
	untrack := obs.Track(sub, "jobs.>") // pending and dropped, per template
	defer untrack()

	fmt.Println("active:", rec.Snapshot().Active)
	nc.Close()
	<-userClosed
	fmt.Println("user's closed handler ran; active:", rec.Snapshot().Active)
	// Output:
	// active: 1
	// user's closed handler ran; active: 0
}
