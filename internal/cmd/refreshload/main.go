// Command refreshload measures refresh-token rotation under load: each of
// -c workers logs in once and then rotates its own refresh-token chain as
// fast as it can for -d, like clients keeping sessions alive. It prints
// rotations per second and latency percentiles. Loopback only.
//
//	go run ./internal/cmd/refreshload -url http://127.0.0.1:8080 -c 32 -d 10s
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "authd base URL")
	conns := flag.Int("c", 32, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "duration")
	email := flag.String("email", "bench@example.com", "user (must exist)")
	flag.Parse()
	pw := os.Getenv("BENCH_PASSWORD")
	if pw == "" {
		pw = "correct horse battery staple"
	}
	if !strings.HasPrefix(*base, "http://127.") && !strings.HasPrefix(*base, "http://localhost") {
		log.Fatal("refreshload only targets loopback addresses")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conns}, Timeout: 10 * time.Second}
	post := func(form url.Values) (string, time.Duration, error) {
		start := time.Now()
		resp, err := client.PostForm(*base+"/oauth2/token", form)
		if err != nil {
			return "", 0, err
		}
		defer resp.Body.Close()
		var tr struct {
			RefreshToken string `json:"refresh_token"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&tr) != nil {
			return "", 0, fmt.Errorf("status %s", resp.Status)
		}
		return tr.RefreshToken, time.Since(start), nil
	}
	tokens := make([]string, *conns)
	for i := range tokens {
		t, _, err := post(url.Values{"grant_type": {"password"}, "username": {*email}, "password": {pw}})
		if err != nil {
			log.Fatalf("login: %v", err)
		}
		tokens[i] = t
	}
	var mu sync.Mutex
	var lat []time.Duration
	errors := 0
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() {
			tok := tokens[i]
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) {
				next, d, err := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}})
				if err != nil {
					bad++
					break
				}
				tok = next
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			errors += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	fmt.Printf("%d rotations in %s with %d clients: %.0f/s, p50 %s, p99 %s, errors %d\n",
		len(lat), *dur, *conns, float64(len(lat))/dur.Seconds(), pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), errors)
}
