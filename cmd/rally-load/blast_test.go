package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBlastSignFinishes runs -blast with -blast-sign as a user would: it
// signs alone, sends a blast, signs again while the blast is under way and
// ends once the blast and every signing's confirmation have reached the
// sink, each blast recipient once.
func TestBlastSignFinishes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts Rally")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := buildForTest(ctx, t)
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"-rally-bin", bin, "-blast", "600", "-smtp-conns", "2", "-blast-sign",
		"-duration", "1s", "-c", "4"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	if !regexp.MustCompile(`blast: 600 recipients sent in .*, status sent, 0 duplicates`).MatchString(text) {
		t.Errorf("the blast did not go to all 600 once:\n%s", text)
	}
	for _, name := range []string{"signing alone", "signing during the blast"} {
		m := regexp.MustCompile(`(?m)^` + name + ` \(4 connections\): (\d+) req/s, .* errors (\d+)`).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("no line for %s:\n%s", name, text)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n == 0 || m[2] != "0" {
			t.Errorf("%s: %s req/s with %s errors, want some and none", name, m[1], m[2])
		}
	}
	if !regexp.MustCompile(`the blast meanwhile: \d+ messages in those .*; 0 confirmations sent twice`).MatchString(text) {
		t.Errorf("no account of the blast during the signing:\n%s", text)
	}
}

// -sink serves only the SMTP sink, on loopback alone, and says what it got.
func TestSinkOnly(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-sink", "192.0.2.1:2525", "-duration", "100ms"}, &out, io.Discard); err == nil {
		t.Error("a sink on an address not this machine's loopback was started")
	}
	errc := make(chan error, 1)
	go func() {
		errc <- run(context.Background(), []string{"-sink", "127.0.0.1:0", "-duration", "300ms"}, &out, io.Discard)
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sink: 0 messages") {
		t.Errorf("the sink's report: %q", out.String())
	}
}
