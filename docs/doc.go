// Package docs holds naq's documentation (Markdown under this directory) and
// the tests that keep it honest. It has no API; the tests run with
// `make test`:
//
//   - every ```go block in docs/**/*.md and README.md compiles against the
//     current API (see codeblocks_test.go for the block conventions);
//   - every relative link and #anchor in docs/ and README.md resolves, and
//     every alert's runbook anchor exists in troubleshooting.md;
//   - every exported symbol of the library packages has a doc comment;
//   - the names tables in observability.md match internal/semconv and what
//     the instruments and the Prometheus exporter actually produce.
package docs
