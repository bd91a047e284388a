package ports

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAssignIsUniqueAndStable(t *testing.T) {
	a := New(Range{First: 20000, Last: 20009})
	a.Load(nil)
	seen := map[int32]string{}
	for i := range 3 {
		es := fmt.Sprintf("ns/es-%d", i)
		got, err := a.Assign(es, []Want{{PortName: "http"}, {PortName: "grpc"}})
		require.NoError(t, err)
		require.Len(t, got, 2)
		for name, p := range got {
			require.NotContains(t, seen, p, "port %d handed out twice", p)
			seen[p] = es + "/" + name
		}
		again, err := a.Assign(es, []Want{{PortName: "http", Current: got["http"]}, {PortName: "grpc", Current: got["grpc"]}})
		require.NoError(t, err)
		assert.Equal(t, got, again, "a second reconcile keeps the ports")
	}
	assert.Equal(t, 6, a.InUse())
}

func TestLoadSurvivesRestartAndResolvesDuplicates(t *testing.T) {
	a := New(Range{First: 20000, Last: 20009})
	a.Load([]Recorded{
		{ElastiService: "ns/old", Ports: map[string]int32{"http": 20003}},
		{ElastiService: "ns/dup", Ports: map[string]int32{"http": 20003}},   // same port, younger: loses it
		{ElastiService: "ns/moved", Ports: map[string]int32{"http": 40000}}, // out of range (range changed)
	})
	a.Load([]Recorded{{ElastiService: "ns/late", Ports: map[string]int32{"http": 20004}}}) // ignored: loaded once

	got, err := a.Assign("ns/old", []Want{{PortName: "http", Current: 20003}})
	require.NoError(t, err)
	assert.Equal(t, int32(20003), got["http"], "the oldest keeps its recorded port")

	got, err = a.Assign("ns/dup", []Want{{PortName: "http", Current: 20003}})
	require.NoError(t, err)
	assert.NotEqual(t, int32(20003), got["http"], "the younger duplicate gets a new port")
	assert.True(t, a.Range().Contains(got["http"]))

	got, err = a.Assign("ns/moved", []Want{{PortName: "http", Current: 40000}})
	require.NoError(t, err)
	assert.True(t, a.Range().Contains(got["http"]), "a port outside the range is re-allocated")

	o, ok := a.OwnerOf(20004)
	assert.False(t, ok, "a second Load does nothing, got owner %v", o)
}

func TestReleaseAndPortsThatComeAndGo(t *testing.T) {
	a := New(Range{First: 20000, Last: 20002})
	a.Load(nil)
	got, err := a.Assign("ns/a", []Want{{PortName: "http"}, {PortName: "admin"}})
	require.NoError(t, err)
	admin := got["admin"]

	// The Service loses a port while at zero: its sidecar port is freed.
	got, err = a.Assign("ns/a", []Want{{PortName: "http", Current: got["http"]}})
	require.NoError(t, err)
	assert.Len(t, got, 1)
	_, owned := a.OwnerOf(admin)
	assert.False(t, owned, "the dropped Service port's sidecar port is free again")

	// ...and gains one back.
	got, err = a.Assign("ns/a", []Want{{PortName: "http", Current: got["http"]}, {PortName: "metrics"}})
	require.NoError(t, err)
	assert.Len(t, got, 2)
	assert.NotEqual(t, got["http"], got["metrics"])

	a.Release("ns/a")
	assert.Equal(t, 0, a.InUse(), "delete frees every port")
}

func TestExhaustedIsAnErrorNotAClash(t *testing.T) {
	a := New(Range{First: 20000, Last: 20001})
	a.Load(nil)
	_, err := a.Assign("ns/a", []Want{{PortName: "http"}, {PortName: "grpc"}})
	require.NoError(t, err)

	got, err := a.Assign("ns/b", []Want{{PortName: "http"}})
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrExhausted))
	assert.ErrorContains(t, err, "20000-20001")
	assert.ErrorContains(t, err, "http")
	assert.Empty(t, got)

	// A port recorded by b but owned by a is not handed to b either.
	got, err = a.Assign("ns/b", []Want{{PortName: "http", Current: 20000}})
	require.ErrorIs(t, err, ErrExhausted)
	assert.Empty(t, got)
	o, _ := a.OwnerOf(20000)
	assert.Equal(t, "ns/a", o.ElastiService)

	a.Release("ns/a")
	got, err = a.Assign("ns/b", []Want{{PortName: "http"}})
	require.NoError(t, err)
	assert.Len(t, got, 1)
}

func TestJustReleasedPortIsNotReusedAtOnce(t *testing.T) {
	a := New(Range{First: 20000, Last: 20009})
	a.Load(nil)
	first, err := a.Assign("ns/a", []Want{{PortName: "http"}})
	require.NoError(t, err)
	a.Release("ns/a")
	second, err := a.Assign("ns/b", []Want{{PortName: "http"}})
	require.NoError(t, err)
	assert.NotEqual(t, first["http"], second["http"])
}

func TestShortIsRememberedUntilSatisfied(t *testing.T) {
	a := New(Range{First: 20000, Last: 20000})
	a.Load(nil)
	_, err := a.Assign("ns/a", []Want{{PortName: "http"}})
	require.NoError(t, err)
	_, err = a.Assign("ns/b", []Want{{PortName: "http"}})
	require.ErrorIs(t, err, ErrExhausted)
	assert.Equal(t, []string{"ns/b"}, a.Short())
	assert.Equal(t, 1, a.Release("ns/a"))
	_, err = a.Assign("ns/b", []Want{{PortName: "http"}})
	require.NoError(t, err)
	assert.Empty(t, a.Short())
	assert.Equal(t, 0, a.Release("ns/none"))
}
