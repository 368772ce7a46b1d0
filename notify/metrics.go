package notify

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	mailSent = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "rally_mail_sent_total",
		Help: "Messages handed to the mail server (or the dev outbox), by kind.",
	}, []string{"kind"})
	mailFailed = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "rally_mail_failed_total",
		Help: "Messages given up on: a permanent error, or every retry used, by kind.",
	}, []string{"kind"})
	outboxQueued = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "rally_outbox_queued",
		Help: "Messages in the outbox waiting for delivery, refreshed every 15 seconds.",
	})
)
