"""shopctl: operate the running shop (see `shopctl --help` and each command's `--help`).

Every command talks to the real stack, and on failure exits non-zero with one readable line.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from eventing.config import KafkaSettings
from eventing.errors import EventingError

# Piped output (grep, a file) gets wide rows instead of wrapped cells.
console = Console() if sys.stdout.isatty() else Console(width=240)


class ShopctlError(Exception):
    """A failure to report as one line."""


def parse_duration(text: str) -> timedelta:
    from shopctl.sagas import SagaOperationFailed
    from shopctl.sagas import parse_duration as parse

    try:
        return parse(text)
    except SagaOperationFailed as error:
        raise click.BadParameter(str(error)) from None


def parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def kafka() -> KafkaSettings:
    return KafkaSettings.from_env(client_id="shopctl", admin_timeout_s=10)


def audited(settings: KafkaSettings, action: str, target: str, detail: str = "") -> None:
    """Record an action of shopctl's own in the audit log (`shopctl audit`), as the operations
    shared with the console record theirs."""
    from shopctl import audit

    audit.record(settings, audit.cli_actor(), action, target, detail)


def audit_ready(settings: KafkaSettings) -> None:
    """Before an action: the audit log can take its entry (else nothing is done)."""
    from shopctl import audit

    audit.prepare(settings)


def table(*columns: str, title: str | None = None) -> Table:
    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        result.add_column(column)
    return result


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Operate the shop: its stack, topics, consumers, sagas, dead letters, outboxes, search.

    \b
    Example:
      shopctl status
      shopctl sagas list --state COMPENSATION_FAILED
    """


@cli.command()
def status() -> None:
    """Servers and services up or down, topics, consumer lag, sagas by state, DLQ sizes,
    parked outbox rows.

    \b
    Example:
      shopctl status
    """
    from shopctl import status as status_module

    status_module.show(console, kafka())


@cli.command()
@click.option(
    "--group",
    "groups",
    multiple=True,
    help="a consumer group to wait for (repeatable); default: every worker's group",
)
@click.option("--timeout", default=180.0, show_default=True, help="seconds to wait at most")
def wait(groups: tuple[str, ...], timeout: float) -> None:
    """Wait until the shop's workers have joined their consumer groups (each group STABLE).

    Exits 0 once they have, or 1 naming the groups still awaited.

    \b
    Example (in a script, before the first checkout):
      shopctl wait --timeout 120
    """
    from shopctl.readiness import GroupsNotReady, wait_for_groups
    from shopctl.workers import WORKERS

    awaited = list(groups) or [worker.group for worker in WORKERS]
    try:
        wait_for_groups(kafka(), awaited, timeout_s=timeout)
    except GroupsNotReady as error:
        raise ShopctlError(str(error)) from None
    console.print(f"ready: {', '.join(awaited)}")


@cli.command()
@click.option("--topic", required=True, help="the topic to replay, e.g. inventory.products")
@click.option("--group", required=True, help="the consumer group to replay into")
@click.option("--from-offset", type=int, help="replay from this offset in every partition")
@click.option("--from-time", type=parse_time, help="replay from this ISO 8601 time")
@click.option("--from-beginning", is_flag=True, help="replay the whole retained topic")
@click.option("--to-offset", type=int, help="stop before this offset in every partition")
@click.option("--to-time", type=parse_time, help="stop at the first event of this ISO 8601 time")
@click.option("--dry-run", is_flag=True, help="show what would move, change nothing")
def replay(
    topic, group, from_offset, from_time, from_beginning, to_offset, to_time, dry_run
) -> None:
    """Re-run a topic's events into a consumer group's handlers.

    Without --to-…: moves the group's committed offsets back (the group's workers must be
    stopped); when they start again they re-apply everything from there on. With --to-offset or
    --to-time: runs the window's events through the group's own handler here, on its service's
    database (read from the same environment as the service), and leaves the group's offsets
    alone. Either way the consumers' inboxes make anything already applied a no-op, so a replay
    is safe to run twice.

    \b
    Example (rebuild the order service's catalogue after restoring its database):
      infra/services/ctl down order-worker
      shopctl replay --topic inventory.products --group order-service --from-beginning
      infra/services/ctl up order-worker
    Example (re-apply one hour of payment commands, the workers still running):
      shopctl replay --topic payment.commands --group payment-service \\
        --from-time 2026-11-22T09:00:00Z --to-time 2026-11-22T10:00:00Z
    """
    from eventing.kafka_replay import apply_replay, plan_replay

    chosen = [from_offset is not None, from_time is not None, from_beginning]
    if sum(chosen) != 1:
        raise ShopctlError("say exactly one of --from-offset, --from-time, --from-beginning")
    if to_offset is not None and to_time is not None:
        raise ShopctlError("say at most one of --to-offset, --to-time")
    settings = kafka()
    if to_offset is not None or to_time is not None:
        bounded_replay(
            settings,
            topic,
            group,
            {"from_offset": from_offset, "from_time": from_time, "from_beginning": from_beginning},
            {"to_offset": to_offset, "to_time": to_time},
            dry_run,
        )
        return
    plan = plan_replay(
        settings,
        settings.broker_name(topic),
        settings.broker_name(group),
        from_offset=from_offset,
        from_time=from_time,
        from_beginning=from_beginning,
    )
    view = table("partition", "committed", "replay from", title=f"{plan.topic} → {group}")
    for partition, offset in sorted(plan.new_offsets.items()):
        committed = plan.current.get(partition)
        view.add_row(str(partition), "-" if committed is None else str(committed), str(offset))
    console.print(view)
    if dry_run:
        console.print(f"dry run: {plan.messages} messages would be re-delivered")
        return
    audit_ready(settings)
    apply_replay(settings, plan)
    audited(
        settings,
        "replay",
        f"{topic} -> {group}",
        f"offsets moved back: {plan.messages} messages to re-deliver",
    )
    console.print(
        f"moved {group}'s offsets: {plan.messages} messages will be re-delivered "
        "when its workers start"
    )


def bounded_replay(settings, topic, group, start, stop, dry_run) -> None:
    from rich.progress import Progress

    from eventing.kafka_replay import plan_window, replay_window
    from eventing.registry import registry
    from shopctl.handlers import group_handler

    window = plan_window(settings, settings.broker_name(topic), **start, **stop)
    view = table("partition", "from", "to (not included)", title=f"{window.topic} → {group}")
    for partition in sorted(window.stop):
        view.add_row(
            str(partition), str(window.start.get(partition, 0)), str(window.stop[partition])
        )
    console.print(view)
    if dry_run:
        console.print(f"dry run: {window.messages} messages would be re-applied")
        return
    audit_ready(settings)
    with group_handler(group, settings) as handle, Progress(console=console) as progress:
        task = progress.add_task(f"replaying into {group}", total=window.messages)
        applied = replay_window(
            settings, window, handle, registry, lambda n: progress.advance(task, n)
        )
    audited(settings, "replay", f"{topic} -> {group}", f"window re-applied: {applied} messages")
    console.print(f"re-applied {applied} messages through {group}'s handler")


@cli.group()
def sagas() -> None:
    """List, inspect and retry sagas."""


def saga_filter_options(command):
    """--type, --state, --older-than, --order and --customer: the filter every saga command
    shares with the console's saga list."""
    for option in reversed(
        [
            click.option("--type", "saga_type", help="checkout or cancellation"),
            click.option(
                "--state",
                help="RUNNING, COMPENSATING, ABORTING, COMPLETED, ABORTED, COMPENSATION_FAILED",
            ),
            click.option(
                "--older-than", type=parse_duration, help="not changed for this long, e.g. 10m"
            ),
            click.option("--order", "order_id", help="the order id (the saga's key)"),
            click.option("--customer", "customer_id", help="the ordering customer's id"),
        ]
    ):
        command = option(command)
    return command


def saga_filter(saga_type, state, older_than, order_id, customer_id):
    from shopctl.sagas import SagaFilter

    return SagaFilter(saga_type, state, older_than, order_id, customer_id)


@sagas.command("list")
@saga_filter_options
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--offset", type=int, default=0, help="skip this many (the next page)")
def sagas_list(saga_type, state, older_than, order_id, customer_id, limit, offset) -> None:
    """Sagas, newest change first.

    \b
    Example:
      shopctl sagas list --state RUNNING --older-than 5m
      shopctl sagas list --customer alice --type checkout
    """
    from shopctl import sagas as sagas_module

    page = sagas_module.list_sagas(
        saga_filter(saga_type, state, older_than, order_id, customer_id),
        limit=limit,
        offset=offset,
    )
    view = table("saga id", "type", "key", "state", "step", "reason", "updated")
    for row in page.rows:
        view.add_row(
            row.saga_id,
            row.saga_type,
            row.saga_key,
            row.state,
            row.current_step or "-",
            row.failure_reason or "-",
            row.updated_at.isoformat(timespec="seconds"),
        )
    console.print(view)
    shown = f"{offset + 1}-{offset + len(page.rows)} of " if page.rows else ""
    console.print(f"{shown}{page.total} saga(s)")


@sagas.command("show")
@click.argument("saga_id")
def sagas_show(saga_id) -> None:
    """One saga: its definition's steps (done, in flight, to come), compensations, step log.

    \b
    Example:
      shopctl sagas show 3f1c2a9e-6d0b-4c1e-9d43-0c5c2f1b7a10
    """
    from shopctl import sagas as sagas_module
    from shopctl.timeline import build_timeline

    instance = sagas_module.show(saga_id)
    console.print(
        f"[bold]{instance.saga_type}[/] {instance.saga_id} for {instance.key}: "
        f"[bold]{instance.state}[/] (step {instance.current_step or '-'}, "
        f"reason {instance.failure_reason or '-'})"
    )
    timeline = build_timeline(sagas_module.definition(instance.saga_type), instance)
    steps = table("step", "phase", "started", "took", "deadline", "attempts", title="steps")
    sections = [("", timeline.steps), ("undo ", timeline.compensations)]
    if timeline.on_abort:
        sections.append(("on abort ", (timeline.on_abort,)))
    for prefix, entries in sections:
        for entry in entries:
            steps.add_row(
                prefix + entry.name,
                entry.phase.value,
                entry.started_at.isoformat(timespec="milliseconds") if entry.started_at else "-",
                f"{entry.duration.total_seconds() * 1000:.0f} ms" if entry.duration else "-",
                entry.deadline.isoformat(timespec="seconds") if entry.deadline else "-",
                str(entry.attempts or "-"),
            )
    console.print(steps)
    view = table("at", "step", "status", "detail", title="step log")
    for log_entry in instance.log:
        view.add_row(
            log_entry.at.isoformat(timespec="milliseconds"),
            log_entry.step,
            log_entry.status,
            log_entry.detail,
        )
    console.print(view)


@sagas.command("retry")
@click.argument("saga_id", required=False)
@saga_filter_options
@click.option("--dry-run", is_flag=True, help="say which sagas would be retried, change nothing")
@click.option("--yes", is_flag=True, help="retry every match without asking")
def sagas_retry(saga_id, saga_type, state, older_than, order_id, customer_id, dry_run, yes) -> None:
    """Send a stuck or parked saga's awaited command again: one saga by id, or every saga in a
    retriable state (RUNNING, COMPENSATING, ABORTING, COMPENSATION_FAILED) a filter matches.

    Each retry is recorded in the audit log (as SHOPCTL_OPERATOR, else user@host).

    \b
    Example:
      shopctl sagas retry 3f1c2a9e-6d0b-4c1e-9d43-0c5c2f1b7a10
      shopctl sagas retry --state COMPENSATION_FAILED --dry-run
      shopctl sagas retry --state RUNNING --older-than 10m --yes
    """
    from shopctl import sagas as sagas_module
    from shopctl.audit import cli_actor

    chosen = saga_filter(saga_type, state, older_than, order_id, customer_id)
    if saga_id:
        if chosen.describe() != "all sagas" or dry_run:
            raise ShopctlError("give a saga id or a filter (with --dry-run), not both")
        instance = sagas_module.retry(saga_id, actor=cli_actor())
        console.print(
            f"saga {instance.saga_id} is {instance.state}: "
            f"resent {sagas_module.awaited_command(instance)}"
        )
        return
    if chosen.describe() == "all sagas":
        raise ShopctlError("give a saga id or at least one of --type, --state, --older-than, …")
    plan = sagas_module.retry_matching(chosen, actor=cli_actor(), dry_run=True)
    for row in plan.matched:
        console.print(f"{row.saga_id}  {row.saga_type}  {row.saga_key}  {row.state}")
    if dry_run:
        console.print(f"dry run: {len(plan.matched)} saga(s) would be retried")
        return
    if not plan.matched:
        console.print(f"no retriable saga matches {chosen.describe()}")
        return
    if not yes:
        click.confirm(f"retry these {len(plan.matched)} saga(s)?", abort=True)
    report = sagas_module.retry_matching(chosen, actor=cli_actor(), expected=len(plan.matched))
    for failed, why in sorted(report.failed.items()):
        console.print(f"[yellow]not retried[/] {failed}: {why}")
    console.print(f"retried {len(report.retried)} of {len(report.matched)} saga(s)")


@cli.group()
def contracts() -> None:
    """The message contracts as documents: JSON Schema and AsyncAPI."""


@contracts.command("export")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="the folder to write asyncapi.json and schemas/<Type>.v<N>.json into",
)
def contracts_export(out: Path) -> None:
    """Write every event and command as JSON Schema, and an AsyncAPI 3.0 document of the topics.

    Generated from the code (`contracts/`, `eventing/topics.py` and the workers' subscriptions).
    Refuses, changing nothing, when a (type, version) already in the folder would change
    incompatibly (a removed or retyped field, a new required field) or vanish: that needs a
    new schema_version.

    \b
    Example (refresh the committed snapshot after changing a contract):
      shopctl contracts export --out contracts
    """
    from shopctl.contract_documents import ContractsExportError, write_documents

    try:
        written = write_documents(out)
    except ContractsExportError as error:
        raise ShopctlError(str(error)) from error
    console.print(f"wrote {len(written)} documents to {out}")


@cli.group()
def search() -> None:
    """Operate product search."""


@search.command("rebuild")
def search_rebuild() -> None:
    """Rebuild the search index from Kafka into a new index, then swap the alias.

    Searches keep answering from the old index until the alias moves in one atomic step;
    events that arrive meanwhile are applied after the swap.

    \b
    Example (after the index was lost or its mapping changed):
      shopctl search rebuild
    """
    from rich.progress import Progress

    from search_indexer.config import load_settings
    from search_indexer.index import ProductIndex, client
    from search_indexer.rebuild import rebuild

    settings = load_settings()
    index = ProductIndex(client(settings.elasticsearch_url), settings.index_alias)
    audit_ready(kafka())
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying products", total=None)
        report = rebuild(
            kafka(),
            index,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    audited(kafka(), "search.rebuild", settings.index_alias, f"new index {report.new_index}")
    console.print(
        f"rebuilt {report.new_index} from {report.events} events: "
        f"{report.documents} products; replaced "
        f"{', '.join(report.old_indices) or 'no index'}"
        + (f"; {report.skipped_poison} undecodable events skipped" if report.skipped_poison else "")
    )


@cli.group()
def dlq() -> None:
    """Inspect, redrive and discard dead letters (and what each holds back)."""


@dlq.command("list")
@click.option("--topic", help="one dead-letter topic, e.g. orders.commands.dlq")
def dlq_list(topic) -> None:
    """Dead-letter topics, how many letters each holds and how many later messages their keys
    hold back (or one topic's letters, each with what waits behind it).

    A dead letter holds back its key in the group that dead-lettered it: later messages of that
    key wait, in order, until the letter is redriven and applied or discarded.

    \b
    Example:
      shopctl dlq list
      shopctl dlq list --topic inventory.commands.dlq
    """
    from eventing.kafka_admin import admin_client
    from eventing.kafka_dead_letters import dead_letter_topics, read_dead_letters
    from eventing.kafka_offsets import topic_extent
    from shopctl.dead_letters import held_behind, held_per_topic
    from shopctl.holds import hold_stores

    settings = kafka()
    with hold_stores(settings) as stores:
        if topic:
            view = table(
                "partition@offset", "key", "original", "group", "attempts", "reason", "held behind"
            )
            for letter, _ in read_dead_letters(settings, settings.broker_name(topic)):
                view.add_row(
                    f"{letter.partition}@{letter.offset}",
                    (letter.key or b"").decode(errors="replace"),
                    f"{letter.original_topic}@{_or_unknown(letter.original_offset)}",
                    letter.group or "?",
                    _or_unknown(letter.attempts),
                    letter.reason[:120],
                    held_behind(stores, letter),
                )
            console.print(view)
            return
        admin = admin_client(settings)
        held = held_per_topic(stores)
        view = table("dead-letter topic", "letters", "held behind them")
        for name in dead_letter_topics(settings):
            view.add_row(name, str(topic_extent(admin, name).retained), held.get(name, "0"))
        console.print(view)


@dlq.command("show")
@click.argument("topic")
@click.argument("position", metavar="PARTITION@OFFSET")
def dlq_show(topic, position) -> None:
    """One dead letter: its headers (why it failed, where from) and its value.

    \b
    Example:
      shopctl dlq show inventory.commands.dlq 0@12
    """
    from eventing.kafka_dead_letters import read_dead_letters

    partition, offset = _position(position)
    settings = kafka()
    for letter, _ in read_dead_letters(settings, settings.broker_name(topic)):
        if (letter.partition, letter.offset) == (partition, offset):
            for name, value in sorted(letter.headers.items()):
                console.print(f"[bold]{name}[/]: {value}")
            console.print((letter.value or b"").decode(errors="replace"))
            return
    raise ShopctlError(f"no dead letter at {position} in {topic}")


@dlq.command("redrive")
@click.option("--topic", required=True, help="the dead-letter topic to redrive")
@click.option(
    "--at", "positions", multiple=True, metavar="PARTITION@OFFSET", help="one letter (repeatable)"
)
@click.option("--key", "keys", multiple=True, help="the letters of this message key (repeatable)")
@click.option("--reason", help="every letter of this reason, as `dlq list --topic` shows it")
def dlq_redrive(topic, positions, keys, reason) -> None:
    """Send dead letters back to their original topic, keeping their attempt count.

    Without a selection, each letter not yet redriven is redriven once (a consumer group
    remembers where redriving stopped); with --at, --key or --reason, the letters selected.
    The consumers' inboxes make a letter that was in fact applied a no-op. When the group that
    dead-lettered a letter applies its copy, it releases what the letter held back, in order.
    A discarded letter's copy is skipped. Recorded in the audit log.

    \b
    Example (after fixing what poisoned them):
      shopctl dlq redrive --topic inventory.commands.dlq
      shopctl dlq redrive --topic inventory.commands.dlq --at 0@12 --at 0@14
      shopctl dlq redrive --topic orders.commands.dlq --reason "ValidationError: ..."
    """
    from rich.progress import Progress

    from shopctl import dead_letters
    from shopctl.audit import cli_actor

    settings = kafka()
    if positions or keys or reason:
        chosen = dead_letters.redrive_selected(
            settings, topic, actor=cli_actor(), positions=positions, keys=keys, reason=reason
        )
        for letter in chosen:
            console.print(f"redrove {dead_letters.position(letter)} to {letter.original_topic}")
        console.print(f"redrove {len(chosen)} dead letter(s) from {topic}")
        return
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("redriving", total=None)
        count = dead_letters.redrive_unredriven(
            settings, topic, actor=cli_actor(), on_each=lambda _letter: progress.advance(task)
        )
    console.print(f"redrove {count} dead letter(s) from {topic}")


@dlq.command("discard")
@click.option("--topic", required=True, help="the dead-letter topic, e.g. orders.commands.dlq")
@click.argument("position", metavar="PARTITION@OFFSET")
@click.option("--reason", required=True, help="why it is never to be applied (kept on record)")
def dlq_discard(topic, position, reason) -> None:
    """Discard a dead letter: never apply it, and release what it holds back.

    The group that dead-lettered it applies the messages held behind it, in order, within
    seconds; a copy of it redriven later is skipped. The letter stays in its topic for the
    record. Recorded in the audit log.

    \b
    Example (a command for an order that no longer exists):
      shopctl dlq discard --topic inventory.commands.dlq 0@12 --reason "order deleted"
    """
    from shopctl import dead_letters
    from shopctl.audit import cli_actor

    _position(position)
    if not reason.strip():
        raise ShopctlError("say why with --reason")
    settings = kafka()
    outcome = dead_letters.discard(settings, topic, position, reason=reason, actor=cli_actor())
    letter = outcome.letter
    if outcome.released is None:
        console.print(f"discarded {letter.name} ({letter.group}); it held nothing back")
    else:
        console.print(
            f"discarded {letter.name} ({letter.group}): released {outcome.released} held "
            "message(s), applied in order by the group's consumer"
        )


def _or_unknown(value: int | None) -> str:
    return "?" if value is None else str(value)


def _position(position: str) -> tuple[int, int]:
    try:
        partition, offset = (int(part) for part in position.split("@"))
    except ValueError:
        raise ShopctlError(f"{position!r} is not PARTITION@OFFSET") from None
    return partition, offset


@cli.command("audit")
@click.option("--limit", type=int, default=50, show_default=True)
def audit_log(limit) -> None:
    """What operators and admins did, newest first: saga retries, redrives and discards (from
    shopctl or the console), replays, outbox retries and discards, search rebuilds, and the
    inventory API's product writes.

    \b
    Example:
      shopctl audit --limit 20
    """
    from shopctl.audit import recent

    view = table("at", "who", "action", "target", "detail")
    for entry in recent(kafka(), limit):
        view.add_row(
            entry.at.isoformat(timespec="seconds"),
            entry.actor,
            entry.action,
            entry.target,
            entry.detail,
        )
    console.print(view)


@cli.group()
def token() -> None:
    """Tokens for the local stack: a customer's, signed with its dev key, and the admin's."""


@token.command("customer")
@click.argument("customer_id")
@click.option("--ttl", type=parse_duration, default="1h", show_default=True, help="valid for")
def token_customer(customer_id: str, ttl: timedelta) -> None:
    """Print a customer token for CUSTOMER_ID, signed with the dev key `make up` created
    (CUSTOMER_TOKEN_SIGNING_KEY_FILE, CUSTOMER_TOKEN_ISSUER and CUSTOMER_TOKEN_AUDIENCE
    change what signs it and what it claims).

    \b
    Example:
      curl -H "Authorization: Bearer $(shopctl token customer demo-customer)" \\
        http://127.0.0.1:8000/orders
    """
    from servicekit.customer_tokens import CustomerTokenSettings, TokenSigner

    try:
        signer = TokenSigner.from_settings(CustomerTokenSettings())
    except ValueError as error:
        raise ShopctlError(str(error)) from None
    click.echo(signer.customer_token(customer_id, ttl))


@token.command("admin")
def token_admin() -> None:
    """Print the admin token the services use (ADMIN_TOKEN, or the local default).

    \b
    Example:
      curl -H "Authorization: Bearer $(shopctl token admin)" \\
        "http://127.0.0.1:8000/orders?customer_id=demo-customer"
    """
    from servicekit.settings import DEV_ADMIN_TOKEN

    click.echo(os.environ.get("ADMIN_TOKEN", DEV_ADMIN_TOKEN))


@cli.group()
def outbox() -> None:
    """Outbox rows the relays parked because the broker can never take them."""


@outbox.command("list")
@click.option("--service", help="one service: order-service, inventory-service, ...")
@click.option("--limit", type=int, default=100, show_default=True, help="rows per service")
def outbox_list(service, limit) -> None:
    """Parked outbox rows of every service, oldest first, with their reason and how many later
    rows of the same key wait behind each.

    \b
    Example:
      shopctl outbox list
      shopctl outbox list --service inventory-service
    """
    from eventing.outbox_admin import parked_rows
    from shopctl.outbox import OutboxUnreadable, service_outbox, services

    view = table(
        "service", "event id", "type", "topic", "key", "bytes", "parked", "held behind", "reason"
    )
    count = 0
    unreadable = []
    for name in services(service):
        try:
            with service_outbox(name) as box:
                rows = parked_rows(box.engine, box.table, limit=limit)
        except OutboxUnreadable as error:
            unreadable.append(str(error))
            continue
        for row in rows:
            count += 1
            view.add_row(
                name,
                str(row.event_id),
                row.event_type,
                row.topic,
                row.message_key[:40],
                str(row.size_bytes),
                row.parked_at.isoformat(timespec="seconds"),
                str(row.held_behind),
                row.reason[:120],
            )
    console.print(view)
    console.print(f"{count} parked outbox row(s)")
    if unreadable:
        raise ShopctlError(f"not read: {'; '.join(unreadable)}")


@outbox.command("retry")
@click.argument("event_id")
@click.option("--service", help="the service whose outbox holds it (default: look in each)")
def outbox_retry(event_id, service) -> None:
    """Publish a parked row again (after a fix), then the rows held behind it, in order.

    If the broker still refuses it, the relay parks it again.

    \b
    Example (after raising the topic's max.message.bytes):
      shopctl outbox retry 3f1c2a9e-6d0b-4c1e-9d43-0c5c2f1b7a10
    """
    from eventing.outbox_admin import retry_parked
    from shopctl.outbox import service_outbox

    name, box_id = _parked_outbox(event_id, service)
    audit_ready(kafka())
    with service_outbox(name) as box:
        released = retry_parked(box.engine, box.table, box_id, box.channel)
    audited(kafka(), "outbox.retry", f"{name} {box_id}", f"{released} held row(s) to follow")
    console.print(f"{name}: event {box_id} is pending again; {released} row(s) will follow")


@outbox.command("discard")
@click.argument("event_id")
@click.option("--reason", required=True, help="why it is given up (kept on the row)")
@click.option("--service", help="the service whose outbox holds it (default: look in each)")
def outbox_discard(event_id, reason, service) -> None:
    """Give a parked row up for good, with a reason; the rows held behind it are published.

    The row stays in the outbox (with its reason) until the relay prunes old rows.

    \b
    Example:
      shopctl outbox discard 3f1c2a9e-6d0b-4c1e-9d43-0c5c2f1b7a10 --reason "superseded by v8"
    """
    from eventing.outbox_admin import discard_parked
    from shopctl.outbox import service_outbox

    name, box_id = _parked_outbox(event_id, service)
    audit_ready(kafka())
    with service_outbox(name) as box:
        released = discard_parked(box.engine, box.table, box_id, reason, box.channel)
    audited(kafka(), "outbox.discard", f"{name} {box_id}", reason)
    console.print(f"{name}: event {box_id} discarded; {released} held row(s) released")


def _parked_outbox(event_id: str, service: str | None):
    """The service whose outbox holds the event's parked row."""
    from eventing.outbox_admin import find_parked, parse_event_id
    from shopctl.outbox import OutboxUnreadable, service_outbox, services

    parsed = parse_event_id(event_id)
    unreachable = []
    for name in services(service):
        try:
            with service_outbox(name) as box:
                if find_parked(box.engine, box.table, parsed):
                    return name, parsed
        except OutboxUnreadable as error:
            if service is not None:
                raise
            unreachable.append(str(error))
    where = f"; not searched: {', '.join(unreachable)}" if unreachable else ""
    raise ShopctlError(f"no parked outbox row for event {parsed}{where}")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("shopctl: aborted", err=True)
        sys.exit(1)
    except click.ClickException as error:
        click.echo(f"shopctl: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except (ShopctlError, EventingError, KeyError, LookupError) as error:
        click.echo(f"shopctl: {error}", err=True)
        sys.exit(1)
    except Exception as error:  # a driver's error: one line, no traceback
        click.echo(f"shopctl: {type(error).__name__}: {error}", err=True)
        sys.exit(1)
