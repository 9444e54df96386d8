package metrics_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

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

// NewMessaging creates the messaging instruments once; every duration
// histogram uses the explicit buckets that resolve loopback latency (a 1.5 ms
// publish lands in the 2.5 ms bucket, not in the first one).
func ExampleNewMessaging() {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	m := metrics.NewMessaging(mp)
	m.OperationDuration.Record(context.Background(), 0.0015)
	m.SentMessages.Add(context.Background(), 1)

	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		fmt.Println("collect:", err)
		return
	}
	for _, x := range rm.ScopeMetrics[0].Metrics {
		if h, ok := x.Data.(metricdata.Histogram[float64]); ok {
			p := h.DataPoints[0]
			fmt.Println(x.Name, x.Unit, p.Bounds)
			for i, n := range p.BucketCounts {
				if n > 0 {
					fmt.Println("in bucket <=", p.Bounds[i])
				}
			}
		} else {
			fmt.Println(x.Name, x.Unit)
		}
	}
	// Output:
	// messaging.client.operation.duration s [5e-05 0.0001 0.00025 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10]
	// in bucket <= 0.0025
	// messaging.client.sent.messages {message}
}

// NewConnection creates the nats.client.* connection instruments; a
// [metrics.Recorder] records them for you (NewRecorder), this is for
// custom wiring.
func ExampleNewConnection() {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	c := metrics.NewConnection(mp)
	c.Active.Add(context.Background(), 1)
	c.ConnectDuration.Record(context.Background(), 0.0004)

	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		fmt.Println("collect:", err)
		return
	}
	for _, x := range rm.ScopeMetrics[0].Metrics {
		fmt.Println(x.Name, x.Unit)
	}
	// Output:
	// nats.client.connections.active {connection}
	// nats.client.connect.duration s
}
