package instrument_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/naq-io/naq/instrument"
)

func ExampleNewObjectStore() {
	url, stop := runJetStreamServer()
	defer stop()
	spans := tracetest.NewSpanRecorder()

	nc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	raw, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "invoices"})
	if err != nil {
		panic(err)
	}
	// The one-line change; an instrumented JetStream's ObjectStore handles
	// come wrapped already.
	obs := instrument.NewObjectStore(raw, exampleOptions(spans)...)

	_, _ = obs.PutString(ctx, "2024/0042.pdf", "%PDF-1.7 ...") // the name is never recorded
	body, _ := obs.GetString(ctx, "2024/0042.pdf")
	_, err = obs.GetInfo(ctx, "2024/0043.pdf")
	fmt.Println(len(body), "bytes; missing object:", errors.Is(err, jetstream.ErrObjectNotFound))

	for _, s := range spans.Ended() {
		size := ""
		for _, kv := range s.Attributes() {
			if kv.Key == "messaging.message.body.size" {
				size = fmt.Sprint(" size=", kv.Value.AsInt64())
			}
		}
		fmt.Println(s.SpanKind(), s.Name()+size)
	}
	// Output:
	// 12 bytes; missing object: true
	// client obj.put invoices size=12
	// client obj.get invoices size=12
	// client obj.info invoices
}
