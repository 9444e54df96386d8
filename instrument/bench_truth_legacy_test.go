package instrument_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/internal/benchutil"
)

// Process/jsmsg/*: the process path of a JetStream message. Kept apart from
// bench_truth_test.go because it needs the legacy JetStream wrappers, which
// older commits lack; make bench-diff copies only that file onto them.
func init() { processJSCase = benchProcessJS }

func benchProcessJS(b *testing.B, p *benchutil.Providers, handle func(context.Context, *nats.Msg) error) {
	// A delivered JetStream message (legacy API, SubscribeSync) through
	// ProcessJS: the process path of a JetStream message, consumer-health
	// metrics from its metadata included.
	jnc, jraw := truthJetStream(b, "BPROC", "bproc", -1)
	if _, err := jraw.PublishMsg(context.Background(), &nats.Msg{Subject: "bproc.orders", Data: truthData, Header: truthHeader()}); err != nil {
		b.Fatal(err)
	}
	ljs, err := jnc.JetStream()
	if err != nil {
		b.Fatal(err)
	}
	jsub, err := ljs.SubscribeSync("bproc.>", nats.DeliverAll(), nats.AckNone())
	if err != nil {
		b.Fatal(err)
	}
	jmsg, err := jsub.NextMsg(5 * time.Second)
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []truthVariant{truthSampled, truthUnsampled, truthMetricsOnly} {
		w := instrument.NewJetStreamContext(ljs, v.opts(p)...)
		b.Run("jsmsg/naq/"+v.name, func(b *testing.B) {
			truthLoop(b, func() error { return instrument.ProcessJS(w, jmsg, handle) })
		})
	}
}
