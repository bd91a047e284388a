// Package perkey runs at most one goroutine per key for as long as there is work for that key:
// the sidecar's probe loops and report loops (one per service while requests wait).
package perkey

import "sync"

// Loops tracks which keys have a goroutine running. The zero value is ready to use.
type Loops struct {
	running sync.Map // key -> struct{}
}

// Go runs loop in a new goroutine unless one runs for key already, and returns at once. loop
// returns when it finds nothing left to do; the key is then released. Work may arrive between
// that last look and the release, when a caller of Go still saw the key taken: so after the
// release more is asked, and when it says there is work the key is taken back and loop runs
// again (unless another Go took the key first). more must be cheap and must say false once
// the work should stop for good (e.g. its context is done).
func (l *Loops) Go(key string, loop func(), more func() bool) {
	if _, taken := l.running.LoadOrStore(key, struct{}{}); !taken {
		go l.run(key, loop, more)
	}
}

func (l *Loops) run(key string, loop func(), more func() bool) {
	for {
		loop()
		l.running.Delete(key)
		if !more() {
			return
		}
		if _, taken := l.running.LoadOrStore(key, struct{}{}); taken {
			return
		}
	}
}

// Running reports whether a goroutine runs for key.
func (l *Loops) Running(key string) bool {
	_, ok := l.running.Load(key)
	return ok
}
