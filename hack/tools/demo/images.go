package main

import (
	"fmt"
	"slices"
	"strings"
)

// imageIDs maps an Elasti image name (elasti/NAME:TAG) to the IDs the runtime has for its tag;
// as a flag.Value it reads NAME=ID, repeatable.
type imageIDs map[string][]string

func (m imageIDs) String() string { return fmt.Sprint(len(m), " images") }

func (m imageIDs) Set(v string) error {
	name, id, ok := strings.Cut(v, "=")
	if !ok || name == "" || id == "" {
		return fmt.Errorf("want NAME=ID, got %q", v)
	}
	if !slices.Contains(m[name], id) {
		m[name] = append(m[name], id)
	}
	return nil
}
