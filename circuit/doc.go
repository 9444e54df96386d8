// Package circuit keeps NATS calls from waiting for answers that cannot come,
// without turning one caller's trouble into everybody's. It has two parts: the
// [Gate], which guards the calls of one connection in two layers, and the
// [Breaker], the state machine each of the gate's breakers is made of, usable
// on its own around any call. A refused call gets an [*OpenError];
// errors.Is(err, [ErrOpen]) holds.
//
// # The gate
//
// Create a [Gate] with [NewGate], one per connection (naq's scope package
// keeps one per connection configuration), and let it follow the
// connection's status events with [Gate.Watch] (naq's instrument wrappers
// do this for the connection they wrap). Each operation gets a [Guard] once,
// when it is declared ([Gate.Guard] with a family, a destination template and
// a [Policy]; [Gate.Dial] for connect attempts); each call asks
// [Guard.Allow] and reports its outcome to the done callback it returns.
//
//   - Connection health ([PolicyRequest]): when the connection has been
//     disconnected for longer than the grace ([WithGrace], default
//     [DefaultGrace], 250 ms), calls that wait for an answer fail fast with
//     an [*OpenError] whose Down is set, instead of waiting for their
//     timeout; on reconnect they pass at once. Driven by status events, never
//     by call outcomes. A closed connection is not gated (nats.go fails its
//     calls with nats.ErrConnectionClosed itself).
//   - Destination breakers: one [Breaker] per operation family and
//     destination template ("request svc.echo", "js.publish orders.*",
//     "js ORDERS", "kv status"), created on first use, up to
//     [DefaultMaxDestinations] ([WithMaxDestinations]). Each trips on the
//     failure rate of its own calls only, counting timeouts and server
//     errors ([DestinationClassifier]); one destination never blocks another.
//     Defaults: [DestinationDefaults] (half of at least 20 calls in 10 s;
//     open 1 s, doubling on repeated trips up to 30 s; 3 probes, 2 successes
//     close; probe timeout 10 s; slow calls off), changed with
//     [WithDestinationOptions].
//   - The connect breaker ([PolicyDial]) guards dials only and outlives the
//     connections ([DialDefaults], [WithDialOptions]).
//
// What the gate never guards is up to the caller: naq's instrument package
// never gates core publishes (nats.go buffers them while it reconnects),
// receives (long polls), settles or message processing.
//
// [Gate.State] returns a [GateState] for readiness checks: the connection
// layer's state and how long the connection has been down, the connect
// breaker's state, and a [DestinationState] for every destination breaker
// that is not closed. Readiness should follow the connection layer only; open
// destination breakers are detail. [WithOnGateStateChange] reports every
// change of every layer.
//
// # Which errors count
//
// naq classifies errors once (expected miss, caller mistake, no responders,
// connection, timeout, server, other). [DestinationClassifier] counts only
// timeouts (the caller's own context deadline included, through the failure
// rate of its destination) and server errors (JetStream 5xx, JetStream not
// enabled, server shutdown). It does not count caller mistakes (invalid
// subjects, names, keys, payload sizes, 4xx JetStream errors, the caller's
// cancellation), expected misses, no responders (the server answers at once,
// and during a JetStream leader election they clear by themselves) or
// connection errors (connection health's job). [DefaultClassifier], used by
// the connect breaker and by breakers made with [New], counts everything but
// expected misses and caller mistakes. Replace either with [WithClassifier].
//
// # The breaker
//
// Create a [Breaker] with [New]; it guards calls of any result type, in
// either of two styles:
//
//   - [Do] wraps a function: it asks the breaker, runs the function, reports
//     the outcome and returns the function's result and error unchanged;
//   - [Breaker.Allow] returns a done(err, duration) callback, for pipelines
//     that run the call themselves.
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
// It then stays open for the open timeout ([WithOpenTimeout], default 60 s
// for [New]; [WithOpenBackoff] grows it on repeated trips), and becomes
// half-open: a limited number of concurrent probe calls go through
// ([WithHalfOpen], default one probe and one success). Enough successful
// probes close the breaker; a failed (or slow) probe opens it again, and so do
// probe slots held for a whole probe timeout ([WithProbeTimeout]).
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
// [WithMeterProvider] (a [SharedOption] of [New] and [NewGate]; default: the
// global one), with nats.circuit.name (the gate's or breaker's name) and,
// for a gate, nats.circuit.destination ("connection" for connection health,
// "connect" for dials, "request svc.echo" and the like for destination
// breakers):
//
//   - nats.client.circuit.state, an observable gauge read at collection time:
//     one series per state (attribute state = closed, open or half_open),
//     1 for the current state and 0 for the others; [Gate.Close] and
//     [Breaker.Close] unregister it;
//   - nats.client.circuit.transitions, a counter with nats.circuit.from and
//     nats.circuit.to;
//   - nats.client.circuit.rejected, a counter of refused calls, with state;
//     calls refused because the connection is down count under "connection".
//
// A span event nats.circuit.state_change (with the reason) is added to the
// span of the call that changed a breaker's state, and nats.circuit.rejected
// to the span of every refused call, both with the name and destination and
// taken from the context given to [Guard.Allow], [Breaker.Allow] or [Do].
//
// # Retry
//
// A retry loop should treat [ErrOpen] as final for the attempt: retrying a
// refusal only collects more refusals. When [OpenError.Down] is set, the
// call can succeed once the connection is back; otherwise wait for the
// breaker's [OpenError.Remaining].
package circuit
