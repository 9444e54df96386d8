package dashboards_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/metrics"
	"github.com/naq-io/naq/telemetry"
)

// The live test proves the dashboards and alerts against a real Prometheus:
//
//  1. A library workload runs on an embedded nats-server: an instrumented
//     connection (instrument.NewConn) behind a circuit.Gate, dialled and
//     observed by a metrics.Recorder, publishing, requesting (including a few
//     requests nobody answers), serving requests, consuming, publishing to
//     and consuming from a JetStream stream with two durable consumers (one
//     acks everything; one NAKs every tenth message on its first delivery
//     and terms some of those on redelivery, with an in-progress before
//     some acks: redeliveries and every settle outcome; one acks everything
//     until its fault below), putting and getting
//     KeyValue entries, and feeding a deliberately slow subscription until
//     it drops messages (slow-consumer events); a probe connection is
//     dialled every second (connect duration, opened) and one dial to a dead
//     port fails. Metrics are exported by the telemetry package's Prometheus
//     /metrics handler on a loopback port.
//  2. The real `prometheus` binary scrapes it every second and evaluates a
//     test copy of alerts.yml (see scaledRules: every range, offset and
//     `for:` shrunk 30x, so 5m becomes 10s and 1h becomes 2m; the
//     expressions, thresholds and labels are the real ones).
//  3. Two consumer faults at once. A slow consumer: the acking consumer's
//     handler takes 250ms per message (4/s) while 50/s are published, so
//     its lag and pending grow: NATSClientConsumerLagGrowing must reach
//     "firing" for that consumer alone. A stuck consumer: the third
//     consumer's handler hangs on a message delivered while work was
//     waiting (pending > 0), so it delivers nothing more:
//     NATSClientConsumerStalled must reach "firing" for it alone (not for
//     the slow one, which still delivers), and LagGrowing must never see
//     it. Released, both drain their backlog and both alerts must leave
//     /api/v1/alerts.
//  4. The embedded server is stopped: NATSClientHighErrorRatio,
//     NATSClientCircuitBreakerOpen and NATSClientDisconnected must reach
//     "firing" in Prometheus' /api/v1/alerts. The server is restarted: all
//     three must leave /api/v1/alerts (resolved).
//  5. Every Prometheus query of every dashboard panel, with the template
//     variables substituted (liveVars), must return at least one finite
//     sample, and every variable's label_values query at least one value.
//
// The only panel not run is the overview's "Recent traces" table: it queries
// Jaeger, not Prometheus.

const (
	liveJob   = "naq-live"
	liveConn  = "live"
	ruleScale = 30 // alert windows and `for:` durations are divided by this
)

// liveVars substitutes the dashboards' template variables.
var liveVars = []struct{ from, to string }{
	{"$__rate_interval", "30s"},
	{"$__interval", "5s"},
	{"$__range", "5m"},
	{"${job}", liveJob}, {"$job", liveJob},
	{"${connection}", ".*"}, {"$connection", ".*"},
	{"${operation}", ".*"}, {"$operation", ".*"},
	{"${gate}", ".*"}, {"$gate", ".*"},
	{"${destination}", ".*"}, {"$destination", ".*"},
}

func substitute(expr string) string {
	for _, v := range liveVars {
		expr = strings.ReplaceAll(expr, v.from, v.to)
	}
	return expr
}

func TestLive(t *testing.T) {
	if testing.Short() {
		t.Skip("live Prometheus test skipped in -short mode")
	}
	promBin := requireTool(t, "prometheus")

	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.WithoutOTLP(), telemetry.WithServiceName(liveJob))
	require.NoError(t, err)
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := &http.Server{Handler: tel.MetricsHandler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close(); <-served })

	srv := natstest.RunServer(t)
	w := startWorkload(t, srv.URL(), tel.MeterProvider())

	prom := startPrometheus(t, promBin, ln.Addr().String())

	// Wait until Prometheus has scraped the workload long enough for the
	// rate windows of the rules (10s) to hold data.
	prom.waitFor(t, "scraped workload", 45*time.Second, func() (bool, string) {
		res, err := prom.query(fmt.Sprintf(`sum(rate(messaging_client_operation_duration_seconds_count{job=%q}[10s])) > 1`, liveJob))
		return err == nil && len(res) > 0, fmt.Sprint(err)
	})
	prom.requireNotFiring(t, "NATSClientHighErrorRatio", "NATSClientCircuitBreakerOpen", "NATSClientDisconnected",
		"NATSClientConsumerLagGrowing", "NATSClientConsumerStalled")

	// Consumer faults, at the same time. Slow: lag and pending grow until
	// the lag alert fires for the slow consumer (and only for it). Stuck:
	// the stalled alert fires for the stuck consumer (and only for it),
	// which the lag alert cannot see. Released, both catch up and both
	// alerts resolve.
	t.Log("consumer faults: LIVE/live handles 4 messages/s while 50/s are published; LIVE/live-stuck hangs once work is waiting")
	faultStart := time.Now()
	w.stalled.Store(true)
	w.wedged.Store(true)
	stuckAlert := map[string]string{"messaging_nats_stream": "LIVE", "messaging_consumer_group_name": "live-stuck"}
	prom.waitFor(t, "NATSClientConsumerStalled firing", 120*time.Second, func() (bool, string) {
		st, err := prom.alertState("NATSClientConsumerStalled", stuckAlert)
		return st == "firing", fmt.Sprintf("state %q, err %v", st, err)
	})
	t.Logf("NATSClientConsumerStalled fired %v after the stuck consumer's fault began", time.Since(faultStart).Round(100*time.Millisecond))
	lagAlert := map[string]string{"messaging_nats_stream": "LIVE", "messaging_consumer_group_name": "live"}
	prom.waitFor(t, "NATSClientConsumerLagGrowing firing", 120*time.Second, func() (bool, string) {
		st, err := prom.alertState("NATSClientConsumerLagGrowing", lagAlert)
		return st == "firing", fmt.Sprintf("state %q, err %v", st, err)
	})
	t.Logf("NATSClientConsumerLagGrowing fired %v after the slow consumer's fault began", time.Since(faultStart).Round(100*time.Millisecond))
	for q, floor := range map[string]float64{
		// The alert's own terms, by value: the median delivery is more than
		// 10s old and the backlog grew.
		fmt.Sprintf(`histogram_quantile(0.5, sum by (le) (rate(nats_client_consumer_lag_seconds_bucket{job=%q, messaging_consumer_group_name="live"}[10s])))`, liveJob): 10,
		fmt.Sprintf(`max(nats_client_consumer_pending{job=%q, messaging_consumer_group_name="live"})`, liveJob):                                                         100,
	} {
		res, err := prom.query(q)
		require.NoError(t, err)
		require.Len(t, res, 1, q)
		t.Logf("stalled: %s = %.1f", q, res[0].value)
		require.Greater(t, res[0].value, floor, q)
	}
	st, err := prom.alertState("NATSClientConsumerLagGrowing", map[string]string{"messaging_consumer_group_name": "live-naks"})
	require.NoError(t, err)
	require.Empty(t, st, "the consumer that keeps up must not fire")
	// The stalled alert's terms, by value: the stuck consumer's last
	// delivery saw work waiting, and it delivered nothing over the window
	// (10m scaled to 20s), while its series are still exported.
	for q, check := range map[string]func(float64) bool{
		fmt.Sprintf(`max(nats_client_consumer_pending{job=%q, messaging_consumer_group_name="live-stuck"})`, liveJob):                          func(v float64) bool { return v > 0 },
		fmt.Sprintf(`sum(increase(nats_client_consumer_lag_seconds_count{job=%q, messaging_consumer_group_name="live-stuck"}[20s]))`, liveJob): func(v float64) bool { return v == 0 },
		fmt.Sprintf(`sum(increase(nats_client_consumer_lag_seconds_count{job=%q, messaging_consumer_group_name="live"}[20s]))`, liveJob):       func(v float64) bool { return v > 0 },
	} {
		res, err := prom.query(q)
		require.NoError(t, err)
		require.Len(t, res, 1, q)
		t.Logf("stuck: %s = %.1f", q, res[0].value)
		require.True(t, check(res[0].value), "%s = %v", q, res[0].value)
	}
	// Over the whole fault, as Prometheus recorded the rule states (ALERTS,
	// pending or firing): the stalled alert was never even pending for
	// another consumer (the slow one delivers), and the lag alert never
	// for the stuck one (no deliveries, no lag samples).
	window := fmt.Sprintf("%ds", int(time.Since(faultStart).Seconds())+5)
	for q, what := range map[string]string{
		`ALERTS{alertname="NATSClientConsumerStalled", messaging_consumer_group_name!="live-stuck"}`:   "NATSClientConsumerStalled was active for a consumer that delivers",
		`ALERTS{alertname="NATSClientConsumerLagGrowing", messaging_consumer_group_name="live-stuck"}`: "NATSClientConsumerLagGrowing was active for the stuck consumer",
	} {
		res, err := prom.query(fmt.Sprintf(`max_over_time(%s[%s])`, q, window))
		require.NoError(t, err)
		require.Empty(t, res, "%s: %v", what, res)
	}

	// Still active at release time (firing; pending again only if a failed
	// scrape just left the pending gauge stale for one evaluation), so that
	// what resolves it is the release.
	st, err = prom.alertState("NATSClientConsumerStalled", stuckAlert)
	require.NoError(t, err)
	require.NotEmpty(t, st, "NATSClientConsumerStalled for the stuck consumer resolved before its release")

	t.Log("consumer faults: back to full speed, the stuck handler released")
	released := time.Now()
	w.stalled.Store(false)
	w.release()
	prom.waitFor(t, "NATSClientConsumerStalled resolved", 60*time.Second, func() (bool, string) {
		st, err := prom.alertState("NATSClientConsumerStalled", nil)
		return err == nil && st == "", fmt.Sprintf("state %q, err %v", st, err)
	})
	prom.waitFor(t, "NATSClientConsumerLagGrowing resolved", 60*time.Second, func() (bool, string) {
		st, err := prom.alertState("NATSClientConsumerLagGrowing", nil)
		return err == nil && st == "", fmt.Sprintf("state %q, err %v", st, err)
	})
	t.Logf("consumer alerts resolved %v after the release", time.Since(released).Round(100*time.Millisecond))

	// Outage.
	t.Log("outage: stopping the NATS server")
	srv.Stop()
	for _, a := range []string{"NATSClientCircuitBreakerOpen", "NATSClientDisconnected", "NATSClientHighErrorRatio"} {
		prom.waitFor(t, a+" firing", 60*time.Second, func() (bool, string) {
			st, err := prom.alertState(a, nil)
			return st == "firing", fmt.Sprintf("state %q, err %v", st, err)
		})
	}
	require.Positive(t, w.errors.Load(), "the outage produced no errors in the workload")

	// Recovery.
	t.Log("recovery: restarting the NATS server")
	srv.Restart()
	for _, a := range []string{"NATSClientCircuitBreakerOpen", "NATSClientDisconnected", "NATSClientHighErrorRatio"} {
		prom.waitFor(t, a+" resolved", 60*time.Second, func() (bool, string) {
			st, err := prom.alertState(a, nil)
			return err == nil && st == "", fmt.Sprintf("state %q, err %v", st, err)
		})
	}
	// Let a few post-recovery scrapes in, so rate windows see traffic again.
	prom.waitFor(t, "traffic after recovery", 30*time.Second, func() (bool, string) {
		res, err := prom.query(fmt.Sprintf(`sum(rate(messaging_client_operation_duration_seconds_count{job=%q, error_type=""}[5s])) > 1`, liveJob))
		return err == nil && len(res) > 0, fmt.Sprint(err)
	})

	// The slow subscription really dropped messages and was reported as a
	// slow consumer; the NAKing consumer really redelivered, and settled
	// with every outcome.
	for q, what := range map[string]string{
		`sum(nats_client_subscription_dropped_total{job=%q}) > 0`:                                            "the slow subscription dropped nothing",
		`sum(nats_client_slow_consumers_total{job=%q, messaging_destination_name="slow.events"}) > 0`:        "no slow-consumer event for slow.events",
		`sum(nats_client_consumer_redelivered_total{job=%q, messaging_consumer_group_name="live-naks"}) > 0`: "the NAKing consumer got no redelivery",
	} {
		res, err := prom.query(fmt.Sprintf(q, liveJob))
		require.NoError(t, err)
		require.NotEmpty(t, res, what)
	}
	res, err := prom.query(fmt.Sprintf(`sum by (messaging_operation_name) (messaging_client_operation_duration_seconds_count{job=%q, messaging_consumer_group_name="live-naks"}) > 0`, liveJob))
	require.NoError(t, err)
	ops := map[string]bool{}
	for _, r := range res {
		ops[r.labels["messaging_operation_name"]] = true
	}
	for _, op := range []string{"ack", "nak", "term", "in_progress"} {
		assert(t, ops[op], "the NAKing consumer recorded no %s: %v", op, ops)
	}

	t.Run("panels", func(t *testing.T) {
		queries := promQueries(t)
		require.NotEmpty(t, queries)
		for _, q := range queries {
			expr := substitute(q.expr)
			name := fmt.Sprintf("%s/%s/%s", q.dashboard, q.panel, q.refID)
			res, err := prom.query(expr)
			if !assert(t, err == nil, "%s: %v\n%s", name, err, expr) {
				continue
			}
			finite := 0
			for _, r := range res {
				if !math.IsNaN(r.value) && !math.IsInf(r.value, 0) {
					finite++
				}
			}
			assert(t, finite > 0, "%s: no finite sample (%d series)\n%s", name, len(res), expr)
		}
		t.Logf("ran %d panel queries", len(queries))
	})

	t.Run("variables", func(t *testing.T) {
		for _, d := range loadDashboards(t) {
			for _, v := range variablesOf(d.raw) {
				def, _ := v["definition"].(string)
				m := regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`).FindStringSubmatch(def)
				if m == nil {
					continue
				}
				vals, err := prom.labelValues(m[2], substitute(m[1]))
				require.NoError(t, err)
				assert(t, len(vals) > 0, "%s variable %v: label_values returned nothing", filepath.Base(d.path), v["name"])
				if v["name"] == "job" {
					assert(t, contains(vals, liveJob), "job values %v lack %s", vals, liveJob)
				}
			}
		}
	})
}

// ---- workload -----------------------------------------------------------

type workload struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errors  atomic.Int64
	stalled atomic.Bool // the LIVE/live consumer's handler crawls

	// The LIVE/live-stuck consumer's handler hangs, once wedged, on the
	// first message delivered with work waiting, until release.
	wedged    atomic.Bool
	unwedge   chan struct{}
	unwedgeMu sync.Once
}

// release frees the LIVE/live-stuck handler and stops it from hanging again.
func (w *workload) release() {
	w.wedged.Store(false)
	w.unwedgeMu.Do(func() { close(w.unwedge) })
}

func startWorkload(t *testing.T, serverURL string, mp metric.MeterProvider) *workload {
	t.Helper()
	rec := metrics.NewRecorder(metrics.WithMeterProvider(mp), metrics.WithRTTInterval(250*time.Millisecond))
	gate, err := circuit.NewGate(liveConn, circuit.WithMeterProvider(mp))
	require.NoError(t, err)
	t.Cleanup(func() { _ = gate.Close() })

	dial := func(name string, url string) func(context.Context) (*nats.Conn, error) {
		return func(context.Context) (*nats.Conn, error) {
			return nats.Connect(url, nats.Name(name), nats.Timeout(2*time.Second),
				nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
				nats.ReconnectJitter(0, 0), nats.ReconnectBufSize(-1),
				nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		}
	}
	ctx := context.Background()
	nc, err := rec.Dial(ctx, liveConn, dial(liveConn, serverURL))
	require.NoError(t, err)
	// One connect attempt that fails: nats.client.connections.failed.
	_, err = rec.Dial(ctx, "live-dead", func(context.Context) (*nats.Conn, error) {
		return nats.Connect("nats://127.0.0.1:1", nats.Timeout(200*time.Millisecond), nats.NoReconnect())
	})
	require.Error(t, err)
	obs, ok := rec.Observer(nc)
	require.True(t, ok)
	gate.Watch(nc)

	conn := instrument.NewConn(nc, instrument.WithMeterProvider(mp),
		instrument.WithConnectionName(liveConn), instrument.WithGate(gate))

	var subs []*nats.Subscription
	track := func(dest string, cb nats.MsgHandler) *nats.Subscription {
		t.Helper()
		sub, err := conn.Subscribe(dest, cb)
		require.NoError(t, err)
		subs = append(subs, sub)
		obs.Track(sub, dest)
		return sub
	}
	track("svc.price", func(m *nats.Msg) { _ = m.Respond([]byte("42")) })
	track("orders.created", func(*nats.Msg) {})
	slow := track("slow.events", func(*nats.Msg) { time.Sleep(5 * time.Millisecond) })
	require.NoError(t, slow.SetPendingLimits(5, 1<<20))
	require.NoError(t, nc.Flush())

	// JetStream and KeyValue through the same pipeline and gate. File
	// storage, so the stream and the bucket survive the server restart.
	js := instrument.NewJetStream(jsRaw(t, nc), instrument.WithMeterProvider(mp),
		instrument.WithConnectionName(liveConn), instrument.WithGate(gate))
	setupCtx, setupCancel := context.WithTimeout(ctx, 10*time.Second)
	defer setupCancel()
	stream, err := js.CreateStream(setupCtx, jetstream.StreamConfig{Name: "LIVE", Subjects: []string{"live.orders.>"}})
	require.NoError(t, err)
	w := &workload{unwedge: make(chan struct{})}
	cons, err := stream.CreateOrUpdateConsumer(setupCtx, jetstream.ConsumerConfig{Durable: "live", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	// A small client-side buffer (PullMaxMessages), so the pending count
	// each delivery carries is the server's backlog of the moment rather
	// than that of 500 prefetched messages ago.
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if w.stalled.Load() {
			time.Sleep(250 * time.Millisecond)
		}
		_ = m.Ack()
	}, jetstream.PullMaxMessages(10), jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) {}))
	require.NoError(t, err)
	// The NAKing consumer: every tenth message is NAKed on its first
	// delivery (redelivered at once), and half of those are termed on the
	// redelivery; every seventh gets an in-progress before its ack. Under
	// the redelivery (10%) and NAK/term (25%) alert thresholds.
	naks, err := stream.CreateOrUpdateConsumer(setupCtx, jetstream.ConsumerConfig{Durable: "live-naks", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	nakCC, err := naks.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		switch {
		case err != nil:
			_ = m.Ack()
		case md.NumDelivered == 1 && md.Sequence.Stream%10 == 0:
			_ = m.Nak()
		case md.NumDelivered > 1 && md.Sequence.Stream%20 == 0:
			_ = m.Term()
		case md.Sequence.Stream%7 == 0:
			_ = m.InProgress()
			_ = m.Ack()
		default:
			_ = m.Ack()
		}
	}, jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) {}))
	require.NoError(t, err)
	// The consumer that gets stuck: acks everything until wedged; then it
	// falls behind (100ms per message) until a message arrives with work
	// waiting behind it, and hangs on that one. A handler that hangs while
	// its consumer is caught up leaves a last pending count of 0, which no
	// client-side signal can tell from an idle consumer (see the runbook
	// of NATSClientConsumerStalled).
	stuck, err := stream.CreateOrUpdateConsumer(setupCtx, jetstream.ConsumerConfig{Durable: "live-stuck", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	stuckCC, err := stuck.Consume(func(m jetstream.Msg) {
		if w.wedged.Load() {
			if md, err := m.Metadata(); err == nil && md.NumPending > 0 {
				<-w.unwedge
			} else {
				time.Sleep(100 * time.Millisecond)
			}
		}
		_ = m.Ack()
	}, jetstream.PullMaxMessages(10), jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) {}))
	require.NoError(t, err)
	kv, err := js.CreateKeyValue(setupCtx, jetstream.KeyValueConfig{Bucket: "live"})
	require.NoError(t, err)

	wctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	w.wg.Add(2)
	go func() { // operations
		defer w.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		payload := []byte(`{"id":1}`)
		for i := 0; ; i++ {
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
			}
			if err := conn.Publish("orders.created", payload); err != nil {
				w.errors.Add(1)
			}
			if _, err := conn.Request("svc.price", nil, 500*time.Millisecond); err != nil {
				w.errors.Add(1)
			}
			opCtx, opCancel := context.WithTimeout(wctx, 500*time.Millisecond)
			if _, err := js.Publish(opCtx, "live.orders.new", payload); err != nil {
				w.errors.Add(1)
			}
			key := "k" + strconv.Itoa(i%10)
			if _, err := kv.Put(opCtx, key, payload); err != nil {
				w.errors.Add(1)
			}
			if _, err := kv.Get(opCtx, key); err != nil {
				w.errors.Add(1)
			}
			opCancel()
			if i%50 == 0 { // nobody answers: error_type set, below every threshold
				_, _ = conn.Request("svc.nobody", nil, 100*time.Millisecond)
			}
			if i%10 == 0 { // a burst the slow subscription cannot keep up with
				for j := 0; j < 30; j++ {
					_ = conn.Publish("slow.events", payload)
				}
			}
		}
	}()
	go func() { // a short-lived probe connection every second
		defer w.wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
			}
			if pc, err := rec.Dial(wctx, "live-probe", dial("live-probe", serverURL)); err == nil {
				pc.Close()
			}
		}
	}()

	t.Cleanup(func() {
		w.cancel()
		w.wg.Wait()
		w.stalled.Store(false)
		w.release()
		cc.Stop()
		nakCC.Stop()
		stuckCC.Stop()
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		nc.Close()
	})
	return w
}

func jsRaw(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// ---- Prometheus ---------------------------------------------------------

type promServer struct {
	base   string
	client *http.Client
}

// scaledRules returns alerts.yml with every range selector, every offset
// and every `for:` duration divided by ruleScale (rounded up to whole
// seconds), so the real expressions fire and resolve within seconds.
func scaledRules(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("prometheus", "alerts.yml"))
	require.NoError(t, err)
	scale := func(n string, unit string) string {
		v, err := strconv.Atoi(n)
		require.NoError(t, err)
		d := time.Duration(v) * map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
		s := int(math.Ceil(d.Seconds() / ruleScale))
		if s < 1 {
			s = 1
		}
		return strconv.Itoa(s) + "s"
	}
	out := regexp.MustCompile(`\[(\d+)([smh])\]`).ReplaceAllStringFunc(string(b), func(m string) string {
		p := regexp.MustCompile(`\[(\d+)([smh])\]`).FindStringSubmatch(m)
		return "[" + scale(p[1], p[2]) + "]"
	})
	out = regexp.MustCompile(`(?m)^(\s+for: )(\d+)([smh])$`).ReplaceAllStringFunc(out, func(m string) string {
		p := regexp.MustCompile(`(?m)^(\s+for: )(\d+)([smh])$`).FindStringSubmatch(m)
		return p[1] + scale(p[2], p[3])
	})
	offset := regexp.MustCompile(`\boffset (\d+)([smh])\b`)
	out = offset.ReplaceAllStringFunc(out, func(m string) string {
		p := offset.FindStringSubmatch(m)
		return "offset " + scale(p[1], p[2])
	})
	require.NotContains(t, out, "[5m]")
	require.NotContains(t, out, "offset 10m")
	return []byte(out)
}

func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alerts.yml"), scaledRules(t), 0o644))
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: %s
    static_configs:
      - targets: [%q]
`, liveJob, target)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	var logs bytes.Buffer
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})

	p := &promServer{base: "http://" + addr, client: &http.Client{Timeout: 5 * time.Second}}
	p.waitFor(t, "prometheus ready", 30*time.Second, func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", logs.String())
		default:
		}
		resp, err := p.client.Get(p.base + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

// waitFor polls cond every 250ms until it holds or timeout passes.
func (p *promServer) waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	last := ""
	for {
		ok, info := cond()
		if ok {
			t.Logf("%s after %v", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		last = info
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v (last: %s)", what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (p *promServer) get(path string, params url.Values, v any) error {
	resp, err := p.client.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, v)
}

type sample struct {
	labels map[string]string
	value  float64
}

// query runs an instant query; it accepts vector and scalar results.
func (p *promServer) query(q string) ([]sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {q}}, &data); err != nil {
		return nil, err
	}
	parse := func(v []any) float64 {
		s, _ := v[1].(string)
		f, _ := strconv.ParseFloat(s, 64)
		return f
	}
	switch data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &vec); err != nil {
			return nil, err
		}
		out := make([]sample, 0, len(vec))
		for _, s := range vec {
			out = append(out, sample{labels: s.Metric, value: parse(s.Value)})
		}
		return out, nil
	case "scalar":
		var v []any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, err
		}
		return []sample{{value: parse(v)}}, nil
	}
	return nil, fmt.Errorf("unexpected result type %q", data.ResultType)
}

func (p *promServer) labelValues(label, match string) ([]string, error) {
	var vals []string
	err := p.get("/api/v1/label/"+label+"/values", url.Values{"match[]": {match}}, &vals)
	return vals, err
}

// alertState returns the state of the named alert in /api/v1/alerts
// ("firing" wins over "pending"), or "" when it is not active. With match,
// only the alerts carrying those label values count.
func (p *promServer) alertState(name string, match map[string]string) (string, error) {
	var data struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := p.get("/api/v1/alerts", nil, &data); err != nil {
		return "", err
	}
	state := ""
	for _, a := range data.Alerts {
		if a.Labels["alertname"] != name {
			continue
		}
		matches := true
		for k, v := range match {
			matches = matches && a.Labels[k] == v
		}
		if !matches {
			continue
		}
		if a.State == "firing" || state == "" {
			state = a.State
		}
	}
	return state, nil
}

func (p *promServer) requireNotFiring(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		st, err := p.alertState(n, nil)
		require.NoError(t, err)
		require.NotEqual(t, "firing", st, "%s fires before the faults", n)
	}
}
