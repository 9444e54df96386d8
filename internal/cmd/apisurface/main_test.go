package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCount(t *testing.T) {
	s, err := Count(filepath.Join("testdata", "sample"))
	require.NoError(t, err)
	assert.Equal(t, Surface{
		Funcs:        2, // F, G (tests and other-OS files left out)
		Types:        5, // T, Gen, I, Alias, Num
		Vars:         3, // V1, V2, V4
		Consts:       4, // C1, C2, C3, C4
		Methods:      3, // T.M, *T.N, Gen.P (not unexp.Q, not T.m)
		IfaceMethods: 1, // I.Do
		Fields:       7, // T: A, B, Reader, Gen, Nested, Nested.X; Gen: K
	}, s)
	assert.Equal(t, 14, s.TopLevel())
}

func TestCountMissingDir(t *testing.T) {
	_, err := Count(filepath.Join("testdata", "missing"))
	assert.Error(t, err)
}

func TestWrite(t *testing.T) {
	rows := []Surface{
		{Package: "a", Funcs: 1, Types: 2, Vars: 3, Consts: 4, Methods: 5, IfaceMethods: 6, Fields: 7},
		{Package: "b", Funcs: 1},
	}
	var md bytes.Buffer
	require.NoError(t, write(&md, rows, true))
	assert.Equal(t, "| package | funcs | types | vars | consts | top-level | methods | iface methods | fields |\n"+
		"|---|---|---|---|---|---|---|---|---|\n"+
		"| a | 1 | 2 | 3 | 4 | 10 | 5 | 6 | 7 |\n"+
		"| b | 1 | 0 | 0 | 0 | 1 | 0 | 0 | 0 |\n"+
		"| total | 2 | 2 | 3 | 4 | 11 | 5 | 6 | 7 |\n", md.String())

	var text bytes.Buffer
	require.NoError(t, write(&text, rows, false))
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	require.Len(t, lines, 4)
	assert.Equal(t, []string{"total", "2", "2", "3", "4", "11", "5", "6", "7"}, strings.Fields(lines[3]))
}

// The library packages of this tree exist and each has some exported
// surface.
func TestLibraryPackages(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	for _, p := range strings.Split(libraryPackages, ",") {
		_, err := os.Stat(filepath.Join(root, p))
		require.NoError(t, err, p)
		s, err := Count(filepath.Join(root, p))
		require.NoError(t, err, p)
		assert.Positive(t, s.TopLevel(), p)
	}
}
