// Package dashboards holds naq's operational assets and the tests that prove
// them; it has no Go API.
//
//   - grafana/dashboards: the "naq / NATS client overview" dashboard and the
//     "naq / NATS connection and gate" drill-down (Grafana JSON).
//   - grafana/provisioning: the Prometheus (uid "prometheus") and Jaeger (uid
//     "jaeger") datasources and the dashboard provider used by the compose
//     stack.
//   - prometheus/prometheus.yml: the compose stack's Prometheus configuration
//     (scrapes the demo on demo:9464 as job "naq-demo").
//   - prometheus/alerts.yml: client-side alert rules with their promtool unit
//     tests in prometheus/alerts_test.yml.
//
// Every metric name the dashboards and rules use is a name of the names table
// in internal/semconv as the OpenTelemetry Prometheus exporter translates it
// (strategy UnderscoreEscapingWithSuffixes, unit "1" dropped, as the
// telemetry package sets up). The tests in this directory check that
// statically, run promtool and docker-compose on the files, and run every
// dashboard query and the key alerts against a real Prometheus scraping a
// library workload.
package dashboards
