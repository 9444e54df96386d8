// Package sample is the input of apisurface's test.
package sample

import "io"

// Exported top level: 2 funcs, 5 types, 3 vars, 4 consts.

func F()            {}
func G[T any](T)    {}
func hidden()       {}
func (T) M()        {}
func (*T) N()       {}
func (T) m()        {}
func (g Gen[K]) P() {}
func (u unexp) Q()  {}

type T struct {
	A, B int
	c    int
	io.Reader
	*Gen[int]
	inner
	Nested struct {
		X int
		y int
	}
}

type Gen[K comparable] struct{ K K }

type I interface {
	io.Closer
	Do() error
	do()
	~int | ~string
}

type Alias = T

type Num int

type unexp struct{ Z int }

type inner struct{}

var V1, V2, v3 = 1, 2, 3

var (
	V4 int
	v5 int
)

const (
	C1 = iota
	C2
	c3
)

const C3, C4 = 1, 2
