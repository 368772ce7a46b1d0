package campaigns

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	batchSizes = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "rally_write_batch_size",
		Help:    "Units of work committed per group-commit transaction.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
	})
	signings = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "rally_signings_total",
		Help: "Signings received, by outcome.",
	}, []string{"outcome"})
	confirmations = promauto.NewCounter(prometheus.CounterOpts{
		Name: "rally_confirmations_total",
		Help: "Signatures confirmed.",
	})
)
