package hold

import (
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
