package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-io/naq/circuit"
)

// summaryLoop prints the live summary every interval until ctx ends.
func (d *demo) summaryLoop(ctx context.Context, interval time.Duration) {
	stats := newLiveStats(d.reader)
	t := time.NewTicker(interval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rows, _, err := stats.collect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				d.event("summary: %v", err)
				continue
			}
			secs := now.Sub(last).Seconds()
			last = now
			var b strings.Builder
			n, errs := totals(rows)
			fmt.Fprintf(&b, "%s  %s ops/s, %s | %s\n", d.elapsed(), roundRate(n, secs), plural(errs, "error"), d.stateLine())
			writeTable(&b, rows, secs)
			d.printf("%s\n", b.String())
		}
	}
}

// stateLine describes the connection and the gate.
func (d *demo) stateLine() string {
	conn := "connection -"
	if nc := d.nc.Load(); nc != nil {
		st := nc.Status()
		conn = fmt.Sprintf("connection %s", st)
		if st == nats.CONNECTED {
			conn += " to " + nc.ConnectedUrlRedacted()
			if rtt := d.lastRTT(); rtt > 0 {
				conn += ", rtt " + fmtDur(rtt)
			}
		}
		if r := nc.Stats().Reconnects; r > 0 {
			conn += " (" + plural(r, "reconnect") + ")"
		}
	}
	return conn + " | " + gateLine(d.gate.Load())
}

// finalSummary prints totals over the whole run, the connection metrics and
// the span summary.
func (d *demo) finalSummary(f *demoFlags) {
	stats := newLiveStats(d.reader)
	_, total, err := stats.collect(context.Background())
	if err != nil {
		d.printf("naq demo: final summary: %v\n", err)
		return
	}
	var b strings.Builder
	n, errs := totals(total)
	el := time.Since(d.start)
	fmt.Fprintf(&b, "naq demo: %s in %s (%s ops/s), %s\n", plural(n, "operation"), el.Round(time.Second), roundRate(n, el.Seconds()), plural(errs, "error"))
	writeTable(&b, total, 0)
	if d.recorder != nil {
		s := d.recorder.Snapshot()
		fmt.Fprintf(&b, "connections: opened %d, failed %d, disconnects %d, reconnects %d, avg connect %s\n",
			s.Opened, s.Failed, s.Disconnects, s.Reconnects, fmtDur(s.AvgConnectTime))
	}
	if g := d.gate.Load(); g != nil {
		fmt.Fprintf(&b, "gate %s at exit: %s\n", g.Name(), gateLine(g))
	}
	if d.spans != nil {
		b.WriteString("\n")
		_, _ = d.spans.WriteTo(&b)
	}
	d.printf("\n%s", b.String())
}

// lastRTT is the recorder's latest background RTT sample of the demo's
// connection (0 when none).
func (d *demo) lastRTT() time.Duration {
	if d.recorder == nil {
		return 0
	}
	for _, c := range d.recorder.Snapshot().Connections {
		if c.Connected && c.RTT > 0 {
			return c.RTT
		}
	}
	return 0
}

// plural formats "1 error", "2 errors".
func plural(n uint64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// gateLine describes a gate: its connection layer and the destinations
// whose breaker is not closed.
func gateLine(g *circuit.Gate) string {
	if g == nil {
		return "gate -"
	}
	st := g.State()
	line := "gate " + st.Connection.String()
	if st.Connection == circuit.StateOpen {
		line += " (connection down " + fmtDur(st.Down) + ")"
	}
	for _, ds := range st.Destinations {
		line += ", " + ds.Destination + " " + ds.State.String()
	}
	return line
}
