package certs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// WriteFiles writes tls.crt, tls.key and ca.crt from data into dir, each atomically (temp file
// and rename) and only when it changed, so certwatcher sees one change per rotation. The key is
// written before the certificate: certwatcher reloads on the certificate and must find a key
// that matches.
func WriteFiles(dir string, data map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating cert dir: %w", err)
	}
	for _, k := range []string{KeyCACert, KeyTLSKey, KeyTLSCert} {
		path := filepath.Join(dir, k)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data[k]) {
			continue
		}
		tmp, err := os.CreateTemp(dir, "."+k+"-*")
		if err != nil {
			return fmt.Errorf("writing %s: %w", k, err)
		}
		_, werr := tmp.Write(data[k])
		cerr := tmp.Close()
		if werr != nil || cerr != nil {
			_ = os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", k, firstErr(werr, cerr))
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("installing %s: %w", k, err)
		}
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// FileBundle holds the content of a CA bundle file and re-reads it periodically, so the webhook
// injects the current bundle after a rotation (the kubelet updates mounted Secrets in place;
// self-managed mode rewrites the file).
type FileBundle struct {
	Path     string
	Interval time.Duration
	Log      logr.Logger
	// OnChange, when set, is called after the content changed (not on the first read).
	OnChange func()
	pem      atomic.Value // string
}

// Load reads the file once; a missing file is an empty bundle (and a logged warning), so the
// webhook can start before the certificate exists.
func (f *FileBundle) Load() {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		if _, seen := f.pem.Load().(string); !seen {
			f.Log.Info("CA bundle file not readable; injecting without a CA bundle until it is", "path", f.Path, "error", err.Error())
		}
		b = nil
	}
	old, seen := f.pem.Load().(string)
	if seen && old == string(b) {
		return
	}
	f.pem.Store(string(b))
	if !seen {
		return
	}
	if old != "" {
		f.Log.Info("CA bundle changed", "path", f.Path)
	}
	if f.OnChange != nil {
		f.OnChange()
	}
}

// PEM returns the last content read.
func (f *FileBundle) PEM() string {
	s, _ := f.pem.Load().(string)
	return s
}

// Start re-reads the file every Interval (manager.Runnable, every replica).
func (f *FileBundle) Start(ctx context.Context) error {
	interval := f.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f.Load()
		}
	}
}

// NeedLeaderElection is false: every replica injects.
func (f *FileBundle) NeedLeaderElection() bool { return false }
