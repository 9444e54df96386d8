//go:build plan9 && !linux && !darwin && !windows

package sample

func NotHere() {}
