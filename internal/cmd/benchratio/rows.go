package main

// row is one line of the ratio table: an instrumented benchmark, its raw
// nats.go twin (optional) and the floor benchmarks whose sum is what the
// dependencies alone cost for the same work (see docs/benchmarks.md).
type row struct {
	path  string
	naq   string
	raw   string   // "" = no raw twin (the ratio column stays empty)
	floor []string // summed
	seq   string   // the sequence floor (one loop of the whole call); "" = none
}

// rows are the paths of instrument/bench_truth_test.go. Names are as go
// test prints them, without the -GOMAXPROCS suffix.
func rows() []row {
	var rs []row
	const pub = "BenchmarkPublish/"
	for _, srv := range []string{"embedded", "fake"} {
		p := pub + srv + "/"
		tp := p + "floor/publish_traceparent"
		rs = append(rs,
			row{"publish sampled, " + srv, p + "naq/sampled", p + "raw",
				[]string{tp, pub + "floor/span", pub + "floor/metrics_sampled", pub + "floor/inject"}, p + "floor/seq_sampled"},
			row{"publish unsampled, " + srv, p + "naq/unsampled", p + "raw",
				[]string{tp, pub + "floor/span_unsampled", pub + "floor/metrics", pub + "floor/clock", pub + "floor/inject"},
				p + "floor/seq_unsampled"},
			row{"publish metrics-only, " + srv, p + "naq/metrics_only", p + "raw",
				[]string{p + "raw", pub + "floor/metrics", pub + "floor/clock"}, p + "floor/seq_metrics"},
			row{"publish filtered, " + srv, p + "naq/filtered", p + "raw", []string{p + "raw"}, ""},
		)
	}
	const msg = "BenchmarkProcess/msg/"
	rs = append(rs,
		row{"process (ProcessMsg) sampled", msg + "naq/sampled", "",
			[]string{msg + "floor/extract", msg + "floor/span", msg + "floor/metrics_sampled"}, msg + "floor/seq_sampled"},
		row{"process (ProcessMsg) unsampled", msg + "naq/unsampled", "",
			[]string{msg + "floor/extract", msg + "floor/span_unsampled", msg + "floor/metrics", msg + "floor/clock"},
			msg + "floor/seq_unsampled"},
		row{"process (ProcessMsg) metrics-only", msg + "naq/metrics_only", "",
			// The delivered message carries a sampled traceparent and the
			// duration is recorded in the context extracted from it (the
			// handler gets it, so its own publishes stay in the trace), so
			// the SDK offers an exemplar: metrics_sampled, not metrics.
			[]string{msg + "floor/extract", msg + "floor/metrics_sampled", msg + "floor/clock"}, msg + "floor/seq_metrics"},
	)
	const proc, sub = "BenchmarkProcess/", "BenchmarkProcess/sub/"
	for _, srv := range []string{"embedded", "fake"} {
		p := proc + srv + "/"
		rs = append(rs,
			row{"process (Subscribe) sampled, " + srv, p + "naq/sampled", p + "raw",
				[]string{p + "raw", msg + "floor/extract", sub + "floor/span", sub + "floor/metrics_sampled"}, ""},
			row{"process (Subscribe) metrics-only, " + srv, p + "naq/metrics_only", p + "raw",
				[]string{p + "raw", msg + "floor/extract", sub + "floor/metrics_sampled", msg + "floor/clock"}, ""},
		)
	}
	for _, b := range []struct{ path, name, header string }{
		{"request", "BenchmarkRequest/", "floor/request_traceparent"},
		{"JetStream publish", "BenchmarkJSPublish/", "floor/publish_traceparent"},
	} {
		p := b.name
		rs = append(rs,
			row{b.path + " sampled", p + "naq/sampled", p + "raw",
				[]string{p + b.header, p + "floor/span", p + "floor/metrics_sampled", p + "floor/inject"}, p + "floor/seq_sampled"},
			row{b.path + " metrics-only", p + "naq/metrics_only", p + "raw",
				[]string{p + "raw", p + "floor/metrics", p + "floor/clock"}, p + "floor/seq_metrics"},
		)
	}
	for _, b := range []struct{ path, name string }{
		{"JetStream Consume sampled", "BenchmarkJSConsume/"},
		{"JetStream Fetch sampled", "BenchmarkJSFetch/"},
	} {
		p := b.name
		rs = append(rs, row{b.path, p + "naq/sampled", p + "raw",
			[]string{p + "raw", p + "floor/extract", p + "floor/span", p + "floor/metrics_sampled"}, ""})
	}
	for _, op := range []string{"put", "get"} {
		p := "BenchmarkKV/" + op + "/"
		rs = append(rs, row{"KV " + op + " sampled", p + "naq/sampled", p + "raw",
			[]string{p + "raw", p + "floor/span", p + "floor/metrics_sampled"}, p + "floor/seq_sampled"})
	}
	return rs
}
