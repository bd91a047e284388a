package hold

import (
	"container/list"
	"errors"
	"sync"
)

var (
	// ErrServiceFull: the per-service bound is reached.
	ErrServiceFull = errors.New("too many requests held for this service")
	// ErrGlobalFull: the sidecar-wide bound is reached.
	ErrGlobalFull = errors.New("too many requests held by this sidecar")
	// ErrClosed: the queue no longer accepts requests (shutting down).
	ErrClosed = errors.New("sidecar is shutting down")
)

// Ticket is one held request's place in its service's queue.
type Ticket struct {
	key  string
	elem *list.Element
	// C receives a value when the ticket's service changed; the holder should check again.
	C chan struct{}
}

// Queue holds the per-service FIFO queues. Create it with New.
type Queue struct {
	perService int
	global     int

	mu       sync.Mutex
	total    int
	closed   bool
	services map[string]*list.List
}

// New returns a queue admitting at most perService tickets per service and global in total.
func New(perService, global int) *Queue {
	return &Queue{perService: perService, global: global, services: map[string]*list.List{}}
}

// Enter takes a ticket for service key, or fails with ErrServiceFull, ErrGlobalFull or
// ErrClosed. Every ticket must be returned with Leave.
func (q *Queue) Enter(key string) (*Ticket, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, ErrClosed
	}
	l := q.services[key]
	switch {
	case q.total >= q.global:
		return nil, ErrGlobalFull
	case l != nil && l.Len() >= q.perService:
		return nil, ErrServiceFull
	}
	if l == nil {
		l = list.New()
		q.services[key] = l
	}
	t := &Ticket{key: key, C: make(chan struct{}, 1)}
	t.elem = l.PushBack(t)
	q.total++
	return t, nil
}

// Leave gives the ticket's slot back. Calling it twice is harmless.
func (q *Queue) Leave(t *Ticket) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if t.elem == nil {
		return
	}
	l := q.services[t.key]
	l.Remove(t.elem)
	t.elem = nil
	q.total--
	if l.Len() == 0 {
		delete(q.services, t.key)
	}
}

// Wake signals every ticket of service key, oldest first. A ticket already signalled and not
// yet drained keeps its single pending signal.
func (q *Queue) Wake(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.services[key]
	if l == nil {
		return
	}
	for e := l.Front(); e != nil; e = e.Next() {
		select {
		case e.Value.(*Ticket).C <- struct{}{}:
		default:
		}
	}
}

// Waiting is the number of tickets held for service key.
func (q *Queue) Waiting(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if l := q.services[key]; l != nil {
		return l.Len()
	}
	return 0
}

// Total is the number of tickets held for all services.
func (q *Queue) Total() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

// Close stops admitting new tickets; tickets already held stay valid.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
}
