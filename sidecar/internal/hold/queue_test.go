package hold

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBounds(t *testing.T) {
	q := New(2, 3)
	a1, err := q.Enter("a")
	require.NoError(t, err)
	_, err = q.Enter("a")
	require.NoError(t, err)
	_, err = q.Enter("a")
	assert.ErrorIs(t, err, ErrServiceFull)
	_, err = q.Enter("b")
	require.NoError(t, err)
	_, err = q.Enter("c")
	assert.ErrorIs(t, err, ErrGlobalFull)
	assert.Equal(t, 3, q.Total())

	q.Leave(a1)
	q.Leave(a1)
	assert.Equal(t, 1, q.Waiting("a"))
	assert.Equal(t, 2, q.Total())
	_, err = q.Enter("c")
	require.NoError(t, err)

	q.Close()
	_, err = q.Enter("d")
	assert.ErrorIs(t, err, ErrClosed)
}

func TestWakeSignalsEveryTicketOnce(t *testing.T) {
	q := New(10, 10)
	a, _ := q.Enter("a")
	b, _ := q.Enter("a")
	other, _ := q.Enter("o")
	q.Wake("a")
	q.Wake("a") // coalesced: one pending signal per ticket
	for _, tk := range []*Ticket{a, b} {
		require.Len(t, tk.C, 1)
		<-tk.C
	}
	assert.Len(t, other.C, 0)
	q.Leave(a)
	q.Leave(b)
	assert.Equal(t, 0, q.Waiting("a"))
	q.Wake("a") // no queue left: no panic
}

// TestEnterRefusals: which bound refuses a ticket, when both could.
func TestEnterRefusals(t *testing.T) {
	tests := []struct {
		name       string
		perService int
		global     int
		held       []string // keys entered first
		key        string
		want       error
	}{
		{"room", 2, 4, []string{"a"}, "a", nil},
		{"service full", 1, 4, []string{"a"}, "a", ErrServiceFull},
		{"other service still has room", 1, 4, []string{"a"}, "b", nil},
		{"global full", 4, 2, []string{"a", "b"}, "c", ErrGlobalFull},
		{"both full: global first", 1, 1, []string{"a"}, "a", ErrGlobalFull},
		{"zero bounds admit nothing", 0, 0, nil, "a", ErrGlobalFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := New(tt.perService, tt.global)
			for _, k := range tt.held {
				_, err := q.Enter(k)
				require.NoError(t, err)
			}
			tk, err := q.Enter(tt.key)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
				assert.Nil(t, tk)
				assert.Equal(t, len(tt.held), q.Total(), "a refusal takes no slot")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, len(tt.held)+1, q.Total())
		})
	}
}

// TestCloseKeepsHeldTickets: after Close, tickets already held can still be woken and left.
func TestCloseKeepsHeldTickets(t *testing.T) {
	q := New(2, 2)
	a, err := q.Enter("a")
	require.NoError(t, err)
	q.Close()
	q.Close() // harmless
	q.Wake("a")
	require.Len(t, a.C, 1)
	q.Leave(a)
	assert.Equal(t, 0, q.Total())
	assert.Equal(t, 0, q.Waiting("a"))
	_, err = q.Enter("a")
	assert.ErrorIs(t, err, ErrClosed, "closed stays closed after the last ticket left")
}

// TestWakeOnlyTheService: a wake-up reaches the tickets of its service, including ones that
// entered after an earlier wake-up, and a left ticket is never signalled.
func TestWakeOnlyTheService(t *testing.T) {
	q := New(10, 10)
	a, _ := q.Enter("a")
	left, _ := q.Enter("a")
	q.Leave(left)
	q.Wake("a")
	<-a.C
	late, _ := q.Enter("a")
	q.Wake("a")
	assert.Len(t, a.C, 1)
	assert.Len(t, late.C, 1)
	assert.Len(t, left.C, 0)
}

// TestConcurrentUse: under concurrent Enter, Wake and Leave (run with -race) the bounds always
// hold and every slot comes back.
func TestConcurrentUse(t *testing.T) {
	const perService, global, workers, rounds = 3, 5, 16, 200
	q := New(perService, global)
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("svc-%d", w%3)
			for range rounds {
				tk, err := q.Enter(key)
				if err != nil {
					refused.Add(1)
					continue
				}
				admitted.Add(1)
				if n, total := q.Waiting(key), q.Total(); n > perService || total > global {
					t.Errorf("bounds exceeded: %d waiting for %s, %d in total", n, key, total)
				}
				q.Wake(key)
				q.Leave(tk)
				q.Leave(tk)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(workers*rounds), admitted.Load()+refused.Load())
	assert.Positive(t, admitted.Load())
	assert.Equal(t, 0, q.Total())
	for i := range 3 {
		assert.Equal(t, 0, q.Waiting(fmt.Sprintf("svc-%d", i)))
	}
}
