package sample

func TestOnly() {}

type Ignored struct{ A int }
