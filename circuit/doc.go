// Package circuit is naq's circuit breaker: it stops calls to a NATS
// connection that is failing, lets a few probe calls through once it may have
// recovered, and reports all of it through OpenTelemetry.
//
// Create a [Breaker] with [New]; one breaker guards every call of one
// connection, whatever the result type. Guard a call in either of two
// styles:
//
//   - [Do] wraps a function: it asks the breaker, runs the function, reports
//     the outcome and returns the function's result and error unchanged;
//   - [Breaker.Allow] returns a done(err, duration) callback, for pipelines
//     that run the call themselves (naq's instrument package does).
//
// A rejected call gets an [*OpenError]; errors.Is(err, [ErrOpen]) holds.
//
// # States
//
// A breaker is [StateClosed], [StateOpen] or [StateHalfOpen]. A closed breaker
// opens on any of:
//
//   - consecutive failures ([WithConsecutiveFailures], default 5);
//   - the failure rate over a sliding window, count-based ([WithCountWindow],
//     default the last 100 calls) or time-based ([WithTimeWindow]), once the
//     window holds a minimum number of calls ([WithFailureRate], default 50%
//     of at least 20 calls; [WithMinimumCalls], [WithoutFailureRate]);
//   - the slow-call rate over the same window ([WithSlowCalls], off by
//     default): calls that took at least a threshold, whether or not they
//     failed.
//
// It then stays open for the open timeout ([WithOpenTimeout], default 60 s;
// [WithOpenBackoff] grows it on repeated trips), and becomes half-open: a
// limited number of concurrent probe calls go through ([WithHalfOpen],
// default one probe and one success). Enough successful probes close the
// breaker; a failed (or slow) probe opens it again.
//
// Which errors are failures is decided by a classifier: [DefaultClassifier]
// knows NATS' expected outcomes (key not found, wrong last sequence, the
// caller's own cancellation) from real failures (connection closed, no
// responders, timeouts, JetStream 5xx). Replace it with [WithClassifier].
//
// The state changes lazily, on the next call, but is reported as it is:
// [Breaker.State] and the state gauge show half-open as soon as the open
// timeout has passed. Every result carries the generation (state stay) it was
// allowed in; results from an earlier generation are ignored. State-change
// callbacks ([WithOnStateChange]) run after the breaker's lock is released,
// in order, and may call the breaker.
//
// # Telemetry
//
// Through the OpenTelemetry metric API on the MeterProvider of
// [WithMeterProvider] (default: the global one), with the breaker name in
// nats.circuit.name:
//
//   - nats.client.circuit.state, an observable gauge read at collection time:
//     one series per state (attribute state = closed, open or half_open),
//     1 for the current state and 0 for the others; [Breaker.Close]
//     unregisters it;
//   - nats.client.circuit.transitions, a counter with nats.circuit.from and
//     nats.circuit.to;
//   - nats.client.circuit.rejected, a counter of rejected calls, with state.
//
// A span event nats.circuit.state_change (with the reason) is added to the
// span of the call that changed the state, and nats.circuit.rejected to the
// span of every rejected call, both taken from the context given to
// [Breaker.Allow] or [Do].
//
// # Retry
//
// A retry loop should treat [ErrOpen] as final for the attempt: retrying an
// open breaker only collects more rejections. Wait for [Breaker.State] to
// leave [StateOpen] (the open timeout, or [OpenError.Remaining]) before
// trying again.
package circuit
