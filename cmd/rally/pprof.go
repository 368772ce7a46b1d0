package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
)

// startProfiler serves Go's profiler on addr when RALLY_PPROF_ADDR is set,
// for measuring Rally under load. It refuses anything but a loopback
// address: profiles reveal memory contents.
func startProfiler(addr string) {
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		slog.Error("RALLY_PPROF_ADDR must be a loopback address such as 127.0.0.1:6060", slog.String("addr", addr))
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		slog.Info("profiler listening", slog.String("addr", addr))
		if err := http.ListenAndServe(addr, mux); err != nil {
			slog.Error("profiler", slog.Any("error", err))
		}
	}()
}
