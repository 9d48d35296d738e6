"""Each Metric the core counts maps to its own Prometheus counter (no lookup by attribute name)."""

from supernode.core.effects import Count, Metric
from supernode.metrics import SupernodeMetrics
from supernode.shell.service_metrics import MetricsRecorder, counters_of


def test_every_metric_has_the_counter_of_its_name():
    counters = counters_of(SupernodeMetrics())
    assert counters.keys() == set(Metric)
    for metric, counter in counters.items():
        assert counter._name.startswith(f"dragonfly_supernode_{metric.value}"), (metric, counter._name)
    assert len({id(c) for c in counters.values()}) == len(Metric)


def test_a_count_moves_only_its_own_series():
    metrics = SupernodeMetrics()
    MetricsRecorder(metrics).count(Count(Metric.PIECE_ERRORS, 2, labels=("unknown",)))
    sample = metrics.registry.get_sample_value
    assert sample("dragonfly_supernode_piece_errors_total", {"type": "unknown"}) == 2
    assert sample("dragonfly_supernode_reports_refused_total", {"report": "unknown"}) is None
