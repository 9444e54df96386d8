// Package metrics measures NATS connections: the connection [Recorder] and
// its [Observer]s, [Recorder.Snapshot] and [Recorder.Reset], and the
// performance measurement [Measure].
//
// # Instruments
//
// naq's instruments (the messaging durations and message counters, the
// nats.client.* connection and consumer-health instruments) are recorded for
// you: the instrument wrappers (and scope's pooled handles built on them)
// record the messaging and consumer-health instruments on every operation
// and delivered message, and a [Recorder] the connection instruments. Their
// names, units and explicit buckets come from naq's one names table; every
// data point carries the instrumentation scope [ScopeName] and [Version].
// Pass your MeterProvider to the wrappers (instrument.WithMeterProvider) and
// to the Recorder ([WithMeterProvider]) to export them.
//
// # Connection metrics: Recorder and Observer
//
// A [Recorder] (see [NewRecorder], options [WithMeterProvider],
// [WithRTTInterval], [WithRTTTimeout]) is the one source of truth for
// connection metrics: every event is counted at one place into both the
// OpenTelemetry instruments and the counters behind [Recorder.Snapshot].
//
//   - [Recorder.Dial] wraps a dial function: it times the connect
//     (nats.client.connect.duration), counts nats.client.connections.opened or
//     .failed (with error.type, see [ErrorType]) and observes the connection.
//     [Recorder.RecordDial] counts an attempt the caller dialled and timed
//     itself (a pool with its own retry and gate).
//   - [Recorder.Observe] observes a connection dialled elsewhere and returns
//     its [Observer]; [Recorder.Observer] finds the Observer of a connection.
//     The Observer chains (never replaces) the connection's disconnect,
//     reconnect, closed, async-error and discovered-servers handlers, counts
//     nats.client.reconnects and .disconnects, keeps
//     nats.client.connections.active, and registers observable instruments:
//     nats.client.connected (0/1), nats.client.sent.bytes and .received.bytes
//     (from nats.Statistics), and nats.client.rtt, sampled by a background
//     goroutine so that a collection never waits on the network.
//     [Observer.Track] adds a subscription's nats.client.subscription.pending
//     and .dropped, and the template its nats.client.slow_consumers events
//     are counted under (one event per slow episode of a subscription, from
//     nats.go's nats.ErrSlowConsumer async errors; "_OTHER" for an untracked
//     subscription). The Observer stops when the connection closes or on
//     [Observer.Close]: callbacks unregistered, goroutine ended.
//   - [Recorder.ConnOptions] returns nats.Options to append last to a connect
//     call, for the events nats.go only lets you hook at connect time
//     (lame-duck mode, reconnect errors).
//   - [Recorder.Snapshot] and [Recorder.Reset] are the seed's
//     get_connection_metrics and reset_connection_metrics: active, total and
//     failed connections, average/min/max connect time, reconnects,
//     disconnects, last error type, per-connection state. Reset only starts a
//     new Snapshot period; the OpenTelemetry counters stay monotonic.
//
// # Performance measurement
//
// [Measure] is the seed's measure_connection_performance: N connects, M round
// trips and optional publish, request and custom operation phases, each
// summarised as avg/min/max/p50/p90/p99 and a success rate in a [Report]
// (JSON field names documented on [Report] and [PhaseStats]). Options:
// [WithConnects], [WithRoundTrips], [WithPublishes], [WithRequests],
// [WithOperation], [WithPayloadSize], [WithSubject], [WithOpTimeout],
// [WithProgress], [WithRecorder].
//
// # Options
//
// The options form one family of two kinds, as in the scope package: an
// [Option] configures a Recorder ([NewRecorder]), a [MeasureOption] one
// measurement ([Measure]). No option applies to both, so each function takes
// only its kind and an option it would ignore does not compile there. A
// measurement counted in a Recorder's metrics dials through it
// ([WithRecorder]).
//
// The package imports only the OpenTelemetry API: pass an SDK MeterProvider to
// export, or leave it nil to use the global one. Every exported type is safe
// for concurrent use.
package metrics
