package docs_test

import (
	"context"
	"errors"
	"go/ast"
	"go/token"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/meters"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/telemetry"
)

// The names tables of docs/observability.md are checked against the one
// source of names, internal/semconv, in both directions, and against what
// the instruments and the Prometheus exporter really produce. A name added to
// semconv fails these tests until the docs list it (and until the maps below
// name it, which the AST check enforces).

var semconvMetrics = map[string]string{
	"MetricOperationDuration": semconv.MetricOperationDuration,
	"MetricProcessDuration":   semconv.MetricProcessDuration,
	"MetricSentMessages":      semconv.MetricSentMessages,
	"MetricConsumedMessages":  semconv.MetricConsumedMessages,
	"MetricConnectionsActive": semconv.MetricConnectionsActive,
	"MetricConnectionsOpened": semconv.MetricConnectionsOpened,
	"MetricConnectionsFailed": semconv.MetricConnectionsFailed,
	"MetricConnectDuration":   semconv.MetricConnectDuration,
	"MetricReconnects":        semconv.MetricReconnects,
	"MetricDisconnects":       semconv.MetricDisconnects,
	"MetricConnected":         semconv.MetricConnected,
	"MetricRTT":               semconv.MetricRTT,
	"MetricSentBytes":         semconv.MetricSentBytes,
	"MetricReceivedBytes":     semconv.MetricReceivedBytes,
	"MetricSubPending":        semconv.MetricSubPending,
	"MetricSubDropped":        semconv.MetricSubDropped,
	"MetricCircuitState":      semconv.MetricCircuitState,
	"MetricCircuitTransition": semconv.MetricCircuitTransition,
	"MetricCircuitRejected":   semconv.MetricCircuitRejected,

	"MetricConsumerLag":         semconv.MetricConsumerLag,
	"MetricConsumerPending":     semconv.MetricConsumerPending,
	"MetricConsumerRedelivered": semconv.MetricConsumerRedelivered,
	"MetricSlowConsumers":       semconv.MetricSlowConsumers,
}

var semconvOps = map[string]string{
	"OpPublish": semconv.OpPublish, "OpRequest": semconv.OpRequest, "OpProcess": semconv.OpProcess,
	"OpReceive": semconv.OpReceive, "OpAck": semconv.OpAck, "OpNak": semconv.OpNak, "OpTerm": semconv.OpTerm,
	"OpInProgress": semconv.OpInProgress, "OpConnect": semconv.OpConnect,
	"OpKVGet": semconv.OpKVGet, "OpKVPut": semconv.OpKVPut, "OpKVCreate": semconv.OpKVCreate,
	"OpKVUpdate": semconv.OpKVUpdate, "OpKVDelete": semconv.OpKVDelete, "OpKVPurge": semconv.OpKVPurge,
	"OpKVKeys": semconv.OpKVKeys, "OpKVHistory": semconv.OpKVHistory, "OpKVWatch": semconv.OpKVWatch,
	"OpKVStatus": semconv.OpKVStatus,
	"OpObjPut":   semconv.OpObjPut, "OpObjGet": semconv.OpObjGet, "OpObjInfo": semconv.OpObjInfo,
	"OpObjUpdateMeta": semconv.OpObjUpdateMeta, "OpObjDelete": semconv.OpObjDelete, "OpObjLink": semconv.OpObjLink,
	"OpObjSeal": semconv.OpObjSeal, "OpObjList": semconv.OpObjList, "OpObjWatch": semconv.OpObjWatch,
	"OpObjStatus": semconv.OpObjStatus,
}

var semconvOpTypes = map[string]string{
	"OpTypeSend": semconv.OpTypeSend, "OpTypeReceive": semconv.OpTypeReceive,
	"OpTypeProcess": semconv.OpTypeProcess, "OpTypeSettle": semconv.OpTypeSettle,
}

var semconvKeys = map[string]string{
	"MessagingSystemKey":              string(semconv.MessagingSystemKey),
	"MessagingOperationTypeKey":       string(semconv.MessagingOperationTypeKey),
	"MessagingOperationNameKey":       string(semconv.MessagingOperationNameKey),
	"MessagingDestinationNameKey":     string(semconv.MessagingDestinationNameKey),
	"MessagingDestinationTemplateKey": string(semconv.MessagingDestinationTemplateKey),
	"MessagingConsumerGroupNameKey":   string(semconv.MessagingConsumerGroupNameKey),
	"MessagingBatchMessageCountKey":   string(semconv.MessagingBatchMessageCountKey),
	"ErrorTypeKey":                    string(semconv.ErrorTypeKey),
	"ServerAddressKey":                string(semconv.ServerAddressKey),
	"ServerPortKey":                   string(semconv.ServerPortKey),
	"ServiceNameKey":                  string(semconv.ServiceNameKey),
	"ServiceVersionKey":               string(semconv.ServiceVersionKey),
	"NATSStreamKey":                   string(semconv.NATSStreamKey),
	"NATSConsumerKey":                 string(semconv.NATSConsumerKey),
	"NATSDeliveryCountKey":            string(semconv.NATSDeliveryCountKey),
	"NATSStreamSequenceKey":           string(semconv.NATSStreamSequenceKey),
	"NATSKVBucketKey":                 string(semconv.NATSKVBucketKey),
	"NATSObjBucketKey":                string(semconv.NATSObjBucketKey),
	"MessagingMessageBodySizeKey":     string(semconv.MessagingMessageBodySizeKey),
	"NATSKVKeyKey":                    string(semconv.NATSKVKeyKey),
	"NATSConnectionKey":               string(semconv.NATSConnectionKey),
	"NATSCircuitStateKey":             string(semconv.NATSCircuitStateKey),
	"NATSCircuitNameKey":              string(semconv.NATSCircuitNameKey),
	"NATSCircuitFromKey":              string(semconv.NATSCircuitFromKey),
	"NATSCircuitToKey":                string(semconv.NATSCircuitToKey),
	"NATSCircuitReasonKey":            string(semconv.NATSCircuitReasonKey),
	"NATSCircuitDestinationKey":       string(semconv.NATSCircuitDestinationKey),
	"ExceptionTypeKey":                string(semconv.ExceptionTypeKey),
	"ExceptionMessageKey":             string(semconv.ExceptionMessageKey),
	"ExceptionStacktraceKey":          string(semconv.ExceptionStacktraceKey),
	"NATSPropagationReasonKey":        string(semconv.NATSPropagationReasonKey),
	"NATSServerNameKey":               string(semconv.NATSServerNameKey),
	"NATSServerIDKey":                 string(semconv.NATSServerIDKey),
	"NATSServerClusterKey":            string(semconv.NATSServerClusterKey),
	"NATSHopTypeKey":                  string(semconv.NATSHopTypeKey),
	"NATSHopIDKey":                    string(semconv.NATSHopIDKey),
	"NATSHopConnKindKey":              string(semconv.NATSHopConnKindKey),
	"NATSHopConnNameKey":              string(semconv.NATSHopConnNameKey),
	"NATSHopAccountKey":               string(semconv.NATSHopAccountKey),
	"NATSHopNoInterestKey":            string(semconv.NATSHopNoInterestKey),
}

var semconvEvents = map[string]string{
	"EventCircuitStateChange": semconv.EventCircuitStateChange,
	"EventCircuitRejected":    semconv.EventCircuitRejected,
	"EventException":          semconv.EventException,
	"EventPropagationSkipped": semconv.EventPropagationSkipped,
}

var semconvErrorTypes = map[string]string{
	"ErrorTypeCircuitOpen": semconv.ErrorTypeCircuitOpen,
	"ErrorTypeTimeout":     semconv.ErrorTypeTimeout,
	"ErrorTypeOther":       semconv.ErrorTypeOther,
	"ErrorTypePanic":       semconv.ErrorTypePanic,
}

// semconvConsts parses internal/semconv and returns its exported constant
// names.
func semconvConsts(t *testing.T) []string {
	_, pkgs := parseSources(t, filepath.Join(repoRoot(t), "internal", "semconv"), 0)
	var names []string
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
					for _, s := range g.Specs {
						for _, n := range s.(*ast.ValueSpec).Names {
							if n.IsExported() {
								names = append(names, n.Name)
							}
						}
					}
				}
			}
		}
	}
	return names
}

// TestSemconvMapsComplete makes sure the maps above name every constant of
// internal/semconv of the kinds the docs list, so a new name cannot slip
// past the docs checks.
func TestSemconvMapsComplete(t *testing.T) {
	for _, n := range semconvConsts(t) {
		var m map[string]string
		switch {
		case strings.HasPrefix(n, "OpType"):
			m = semconvOpTypes
		case strings.HasPrefix(n, "Op"):
			m = semconvOps
		case strings.HasPrefix(n, "Metric"):
			m = semconvMetrics
		case strings.HasSuffix(n, "Key"):
			m = semconvKeys
		case strings.HasPrefix(n, "Event"):
			m = semconvEvents
		case strings.HasPrefix(n, "ErrorType"):
			m = semconvErrorTypes
		default:
			continue // units, SchemaURL, SystemName: checked through the metrics
		}
		_, ok := m[n]
		assert.True(t, ok, "semconv.%s is new: add it to the maps of docs/names_test.go and to docs/observability.md", n)
	}
}

type instrumentInfo struct {
	kind, unit string
}

// liveInstruments creates every naq instrument, records one value on each
// and returns what a reader collects (kind and declared unit, from a plain
// SDK MeterProvider), plus the metric family names the Prometheus handler of
// telemetry.Setup (the SDK setup apps use) serves for the same instruments.
func liveInstruments(t *testing.T) (map[string]instrumentInfo, map[string]string) {
	ctx := context.Background()

	reader := sdkmetric.NewManualReader()
	plain := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { require.NoError(t, plain.Shutdown(ctx)) }()
	recordAll(t, plain)
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	got := map[string]instrumentInfo{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = instrumentInfo{kind: kindOf(m.Data), unit: m.Unit}
		}
	}

	tel, err := telemetry.Setup(ctx, telemetry.WithoutOTLP())
	require.NoError(t, err)
	defer func() { require.NoError(t, tel.Shutdown(ctx)) }()
	recordAll(t, tel.MeterProvider())
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	families := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`).FindAllStringSubmatch(rec.Body.String(), -1) {
		families[m[1]] = m[2]
	}
	return got, families
}

// recordAll creates the messaging, connection and circuit breaker
// instruments on mp and records a value on each. Its registrations end with
// the test.
func recordAll(t *testing.T, mp metric.MeterProvider) {
	ctx := context.Background()
	msg := meters.NewMessaging(mp)
	msg.OperationDuration.Record(ctx, 0.001)
	msg.ProcessDuration.Record(ctx, 0.001)
	msg.SentMessages.Add(ctx, 1)
	msg.ConsumedMessages.Add(ctx, 1)

	conn := meters.NewConnection(mp)
	conn.Active.Add(ctx, 1)
	conn.Opened.Add(ctx, 1)
	conn.Failed.Add(ctx, 1)
	conn.ConnectDuration.Record(ctx, 0.001)
	conn.Reconnects.Add(ctx, 1)
	conn.Disconnects.Add(ctx, 1)
	conn.SlowConsumers.Add(ctx, 1)

	health := meters.NewConsumerHealth(mp)
	health.Lag.Record(ctx, 0.001)
	health.Redelivered.Add(ctx, 1)
	health.Pending(attribute.NewSet(semconv.System)).Store(1)
	reg, err := meters.Meter(mp).RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(conn.SubscriptionDropped, 1)
		o.ObserveInt64(conn.SubscriptionPending, 1)
		o.ObserveInt64(conn.Connected, 1)
		o.ObserveFloat64(conn.RTT, 0.001)
		o.ObserveInt64(conn.SentBytes, 1)
		o.ObserveInt64(conn.ReceivedBytes, 1)
		return nil
	}, conn.SubscriptionDropped, conn.SubscriptionPending, conn.Connected, conn.RTT, conn.SentBytes, conn.ReceivedBytes)
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Unregister() })

	b, err := circuit.New("docs", circuit.WithMeterProvider(mp), circuit.WithConsecutiveFailures(1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	fail := errors.New("down")
	_, err = circuit.Do(ctx, b, func(context.Context) (int, error) { return 0, fail }) // closed -> open
	require.ErrorIs(t, err, fail)
	_, err = circuit.Do(ctx, b, func(context.Context) (int, error) { return 0, nil }) // rejected
	require.ErrorIs(t, err, circuit.ErrOpen)
}

func kindOf(d metricdata.Aggregation) string {
	switch d := d.(type) {
	case metricdata.Histogram[float64], metricdata.Histogram[int64]:
		return "histogram"
	case metricdata.Sum[int64]:
		if d.IsMonotonic {
			return "counter"
		}
		return "updowncounter"
	case metricdata.Sum[float64]:
		if d.IsMonotonic {
			return "counter"
		}
		return "updowncounter"
	case metricdata.Gauge[int64], metricdata.Gauge[float64]:
		return "gauge"
	}
	return "unknown"
}

// TestMetricsTable checks the metrics table of docs/observability.md: one
// row per semconv metric name, with the kind and unit the instruments really
// have and the Prometheus name the exporter really serves.
func TestMetricsTable(t *testing.T) {
	doc := readMarkdown(t, "docs/observability.md")
	table, ok := doc.table("OTel instrument")
	require.True(t, ok, "docs/observability.md: no table whose first column is \"OTel instrument\"")
	require.GreaterOrEqual(t, len(table.header), 4, "columns: OTel instrument | kind | unit | Prometheus | ...")

	live, families := liveInstruments(t)

	want := map[string]bool{}
	for _, v := range semconvMetrics {
		want[v] = true
	}
	for name := range live {
		assert.True(t, want[name], "instrument %s is not a semconv metric name", name)
	}

	documented := map[string]bool{}
	for _, row := range table.rows {
		require.GreaterOrEqual(t, len(row), 4, "docs/observability.md:%d: short row %v", table.line, row)
		names := codeSpans(row[0])
		require.Len(t, names, 1, "docs/observability.md: first cell %q must hold one `name`", row[0])
		name := names[0]
		documented[name] = true
		if !assert.True(t, want[name], "docs/observability.md lists %s, which is not a semconv metric name", name) {
			continue
		}
		info, ok := live[name]
		if !assert.True(t, ok, "%s was not collected from the instruments", name) {
			continue
		}
		assert.Equal(t, info.kind, strings.TrimSpace(row[1]), "kind of %s", name)
		units := codeSpans(row[2])
		if assert.Len(t, units, 1, "unit cell of %s must hold one `unit`", name) {
			assert.Equal(t, info.unit, units[0], "unit of %s", name)
		}
		proms := codeSpans(row[3])
		if assert.Len(t, proms, 1, "Prometheus cell of %s must hold one `name`", name) {
			typ, ok := families[proms[0]]
			assert.True(t, ok, "the Prometheus handler serves no %s (for %s); it serves %s", proms[0], name, familyList(families))
			assert.Equal(t, promType(info.kind), typ, "Prometheus type of %s", proms[0])
		}
	}
	for name := range want {
		assert.True(t, documented[name], "semconv metric %s is missing from the table of docs/observability.md", name)
	}
}

func promType(kind string) string {
	switch kind {
	case "updowncounter":
		return "gauge"
	default:
		return kind
	}
}

func familyList(f map[string]string) string {
	var out []string
	for k := range f {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// jsOps returns the js.<op> names the instrument package declares (calls of
// semconv.JSOp with a string literal).
func jsOps(t *testing.T) map[string]bool {
	_, pkgs := parseSources(t, filepath.Join(repoRoot(t), "instrument"), 0)
	ops := map[string]bool{}
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				c, ok := n.(*ast.CallExpr)
				if !ok || len(c.Args) != 1 {
					return true
				}
				sel, ok := c.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "JSOp" {
					return true
				}
				if lit, ok := c.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					ops[semconv.JSOp(s)] = true
				}
				return true
			})
		}
	}
	require.NotEmpty(t, ops, "no semconv.JSOp calls found in instrument")
	return ops
}

// TestOperationsTables checks that the operation tables of
// docs/observability.md (first column messaging.operation.name) list exactly
// the semconv operation names plus the js.<op> management operations the
// instrument package declares, with span names that start with the operation.
func TestOperationsTables(t *testing.T) {
	doc := readMarkdown(t, "docs/observability.md")
	want := jsOps(t)
	for _, v := range semconvOps {
		want[v] = true
	}
	opTypes := map[string]bool{"": true}
	for _, v := range semconvOpTypes {
		opTypes[v] = true
	}
	documented := map[string]bool{}
	found := 0
	for _, tb := range doc.tables() {
		if len(tb.header) == 0 || tb.header[0] != "messaging.operation.name" {
			continue
		}
		found++
		typeCol := -1
		for i, h := range tb.header {
			if h == "messaging.operation.type" {
				typeCol = i
			}
		}
		for _, row := range tb.rows {
			for _, op := range codeSpans(row[0]) {
				documented[op] = true
				assert.True(t, want[op], "docs/observability.md:%d lists operation %q, which naq does not produce", tb.line, op)
				if len(row) > 1 {
					for _, span := range codeSpans(row[1]) {
						assert.True(t, span == op || strings.HasPrefix(span, op+" "),
							"span name %q of operation %q must be \"<op> <destination>\"", span, op)
					}
				}
				if typeCol > 0 && typeCol < len(row) {
					for _, ty := range codeSpans(row[typeCol]) {
						assert.True(t, opTypes[ty], "operation type %q of %q is not a semconv OpType", ty, op)
					}
				}
			}
		}
	}
	require.Positive(t, found, "docs/observability.md: no table whose first column is messaging.operation.name")
	for op := range want {
		assert.True(t, documented[op], "operation %q is missing from the operation tables of docs/observability.md", op)
	}
}

// TestAttributesEventsErrorTypes checks the attribute, span event and
// error.type tables of docs/observability.md against semconv.
func TestAttributesEventsErrorTypes(t *testing.T) {
	doc := readMarkdown(t, "docs/observability.md")
	for _, c := range []struct {
		header string
		names  map[string]string
	}{
		{"attribute", semconvKeys},
		{"span event", semconvEvents},
		{"error.type", errorTypeVocabulary(t)},
	} {
		tb, ok := doc.table(c.header)
		if !assert.True(t, ok, "docs/observability.md: no table whose first column is %q", c.header) {
			continue
		}
		want := map[string]bool{}
		for _, v := range c.names {
			want[v] = true
		}
		documented := map[string]bool{}
		for _, row := range tb.rows {
			for _, n := range codeSpans(row[0]) {
				documented[n] = true
				if c.header == "error.type" && (strings.Contains(n, "...") || strings.HasPrefix(n, "*") || isDigits(n)) {
					continue // examples of JetStream codes and Go type names
				}
				assert.True(t, want[n], "docs/observability.md: %s %q is not a semconv name", c.header, n)
			}
		}
		for n := range want {
			assert.True(t, documented[n], "semconv %s %q is missing from docs/observability.md", c.header, n)
		}
	}
}

// errorTypeVocabulary returns every error.type name internal/semconv
// produces: the exported ErrorType* constants and the string constants of
// its error type table (errortype.go), found by parsing the package.
func errorTypeVocabulary(t *testing.T) map[string]string {
	out := map[string]string{}
	for k, v := range semconvErrorTypes {
		out[k] = v
	}
	fset, pkgs := parseSources(t, filepath.Join(repoRoot(t), "internal", "semconv"), 0)
	for _, p := range pkgs {
		for _, f := range p.Files {
			if !strings.HasSuffix(fset.Position(f.Pos()).Filename, "errortype.go") {
				continue
			}
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST {
					continue
				}
				for _, sp := range g.Specs {
					vs := sp.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i >= len(vs.Values) {
							continue
						}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, err := strconv.Unquote(lit.Value)
							require.NoError(t, err)
							if !strings.Contains(v, "/") { // not an import path
								out[n.Name] = v
							}
						}
					}
				}
			}
		}
	}
	return out
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// TestDurationBuckets checks that the bucket boundaries quoted in
// docs/observability.md are semconv.DurationBuckets.
func TestDurationBuckets(t *testing.T) {
	var parts []string
	for _, b := range semconv.DurationBuckets() {
		parts = append(parts, strconv.FormatFloat(b, 'f', -1, 64))
	}
	want := "`" + strings.Join(parts, ", ") + "`"
	doc := readMarkdown(t, "docs/observability.md")
	for _, p := range doc.prose {
		if strings.Contains(p.raw, want) {
			return
		}
	}
	t.Errorf("docs/observability.md does not quote the duration buckets as %s", want)
}
