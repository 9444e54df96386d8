// Package benchutil is the test tooling behind naq's benchmarks (see
// docs/benchmarks.md): it is imported only by _test.go files and never
// linked into the library.
//
//   - [SnapshotProcessor]: a span processor that copies every ended span the
//     way an exporter does, so that "sampled" numbers include the real cost
//     of ending a span ([NewProviders] wires it).
//   - [FakeServer]: a discarding NATS server on loopback that speaks just
//     enough protocol for nats.go to connect, publish and receive pushed
//     messages, so client-only benchmarks leave the server's own work out.
//   - [Capture] and [Shape]: what one naq operation recorded (spans,
//     metric data points), replayed through the SDK alone as the dependency
//     floors ([Shape.SpanFloor], [Shape.MetricFloor], [InjectFloor],
//     [ExtractFloor]).
//
// Everything here uses only public APIs of nats.go and the OpenTelemetry
// SDK, so the benchmarks built on it can be copied onto an older commit of
// naq and compared there (make bench-diff).
package benchutil
