package instrument_test

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/instrument"
)

func ExampleAddService() {
	url, stop := runJetStreamServer()
	defer stop()
	spans := tracetest.NewSpanRecorder()
	opts := exampleOptions(spans)

	srvConn, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	defer srvConn.Close()
	// The one-line change: instrument.AddService instead of micro.AddService.
	svc, err := instrument.AddService(srvConn, micro.Config{Name: "calc", Version: "1.0.0"}, opts...)
	if err != nil {
		panic(err)
	}
	defer svc.Stop()
	_ = svc.AddGroup("calc").AddEndpoint("add", micro.HandlerFunc(func(req micro.Request) {
		ctx := instrument.ContextFromRequest(req) // carries the endpoint's span
		fmt.Println("handler in a trace:", trace.SpanContextFromContext(ctx).IsValid())
		_ = req.Respond([]byte("5"))
	}))
	_ = svc.AddEndpoint("div", micro.HandlerFunc(func(req micro.Request) {
		_ = req.Error("400", "division by zero", nil) // error.type=400
	}))
	_ = srvConn.Flush()

	nc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	client := instrument.NewConn(nc, opts...) // its requests carry the trace context
	reply, _ := client.Request("calc.add", []byte("2 3"), time.Second)
	fmt.Println("reply:", string(reply.Data))
	reply, _ = client.Request("div", []byte("1 0"), time.Second)
	fmt.Println("error code:", reply.Header.Get(micro.ErrorCodeHeader))

	for len(spans.Ended()) < 4 { // the endpoint span ends after the handler returns
		time.Sleep(time.Millisecond)
	}
	byName := map[string]trace.SpanContext{}
	parents := map[string]trace.SpanContext{}
	for _, s := range spans.Ended() {
		byName[s.Name()], parents[s.Name()] = s.SpanContext(), s.Parent()
	}
	fmt.Println("endpoint span is a child of the request span:",
		parents["process calc.add"].SpanID() == byName["request calc.add"].SpanID())
	var lines []string // sorted: client and server spans end concurrently
	for _, s := range spans.Ended() {
		errType := ""
		for _, kv := range s.Attributes() {
			if kv.Key == "error.type" {
				errType = " error.type=" + kv.Value.AsString()
			}
		}
		lines = append(lines, fmt.Sprint(s.SpanKind(), " ", s.Name(), errType))
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// handler in a trace: true
	// reply: 5
	// error code: 400
	// endpoint span is a child of the request span: true
	// client request calc.add
	// client request div
	// server process calc.add
	// server process div error.type=400
}
