//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elasti-dev/elasti/test/e2e/framework"
)

// Helpers of the security group (security_test.go): sending many sign-ins and reading the
// operator's and the demo app's metrics.

// sendTokens posts body with each token (8 at a time, connections reused) and counts the answers.
func sendTokens(t *testing.T, f *fixture, url string, tokens []string, body []byte) map[int]int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 8}} //nolint:gosec // authentication is under test, not the certificate
	var mu sync.Mutex
	codes := map[int]int{}
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for tok := range work {
				req, err := http.NewRequestWithContext(f.ctx, http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					continue
				}
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
				code := -1
				if resp, err := c.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		})
	}
	for _, tok := range tokens {
		work <- tok
	}
	close(work)
	wg.Wait()
	return codes
}

// operatorMetrics sums the elasti_operator_* series of every operator replica.
func operatorMetrics(ctx context.Context) (map[string]float64, error) {
	pods, err := env.PodsBySelector(ctx, env.Config.SystemNamespace, "app.kubernetes.io/name="+framework.OperatorDeployment)
	if err != nil {
		return nil, err
	}
	sum := map[string]float64{}
	for _, p := range pods {
		if p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		series, err := scrape(ctx, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/metrics")
		if err != nil {
			return nil, fmt.Errorf("operator pod %s: %w", p.Name, err)
		}
		for k, v := range series {
			if strings.HasPrefix(k, "elasti_operator_") {
				sum[k] += v
			}
		}
	}
	if len(sum) == 0 {
		return nil, fmt.Errorf("no elasti_operator_* series from %d operator pods", len(pods))
	}
	return sum, nil
}

// scrape reads a Prometheus text exposition into series → value.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		var v float64
		if _, err := fmt.Sscanf(line[i+1:], "%g", &v); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}
