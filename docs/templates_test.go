package docs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/tracing"
)

// TestSubjectTemplateTable checks the subject → template examples of
// docs/api/tracing.md against tracing.DefaultSubjectNamer.
func TestSubjectTemplateTable(t *testing.T) {
	doc := readMarkdown(t, "docs/api/tracing.md")
	tb, ok := doc.table("subject")
	require.True(t, ok, "docs/api/tracing.md: no table whose first column is \"subject\"")
	require.NotEmpty(t, tb.rows)
	for _, row := range tb.rows {
		subj, tmpl := codeSpans(row[0]), codeSpans(row[1])
		require.Len(t, subj, 1, "row %v", row)
		require.NotEmpty(t, tmpl, "row %v", row)
		if len(subj[0]) > 3 && subj[0][len(subj[0])-3:] == "..." {
			continue // an elided example
		}
		assert.Equal(t, tmpl[0], tracing.DefaultSubjectNamer(subj[0]), "docs/api/tracing.md: template of %s", subj[0])
	}
}
