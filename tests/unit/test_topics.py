"""The topic declaration: what `make up` creates."""

from eventing.topics import (
    DLQ_SUFFIX,
    OPERATOR_AUDIT,
    PRODUCTS,
    all_topics,
    dead_letter_topic,
    record_topics,
)


def test_every_primary_topic_has_a_dead_letter_topic():
    names = {spec.name for spec in all_topics()}
    records = {spec.name for spec in record_topics()}
    primaries = {name for name in names if not name.endswith(DLQ_SUFFIX)} - records
    assert primaries
    assert {dead_letter_topic(name) for name in primaries} <= names


def test_the_products_topic_is_compacted_so_it_keeps_every_products_latest_state():
    products = next(spec for spec in all_topics() if spec.name == PRODUCTS)
    assert products.config["cleanup.policy"] == "compact"


def test_topic_names_are_unique():
    names = [spec.name for spec in all_topics()]
    assert len(names) == len(set(names))


def test_the_audit_log_is_one_partition_kept_for_a_year_so_it_reads_in_order():
    [audit] = [spec for spec in all_topics() if spec.name == OPERATOR_AUDIT]
    assert audit.partitions == 1
    assert int(audit.config["retention.ms"]) == 365 * 24 * 60 * 60 * 1000
