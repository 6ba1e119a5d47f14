"""The parts of the configuration and the host profile the core's decisions depend on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo

from firmware.core.flows import FLOWS, Recovery
from firmware.core.model import Copy, Kind

__all__ = ["CoreSettings", "OfflineLimits", "Mtis", "OperatorRules", "default_recoveries"]


def default_recoveries() -> dict[Kind, Recovery]:
    """UnionPay's (cup's) recovery of each kind (``Flow.recovery``): what the core does without a profile
    to say otherwise (its own tests). The runner's comes from the host profile (``HostBridge.recoveries``)."""
    return {kind: flow.recovery for kind, flow in FLOWS.items()}


@dataclass(frozen=True)
class OfflineLimits:
    enabled: bool = True
    floor_limit: int = 50000
    max_count: int = 50
    max_amount: int = 500000
    max_age: timedelta = timedelta(hours=72)


@dataclass(frozen=True)
class Mtis:
    """Message types of the host profile that the core must know to match answers."""

    request: str = "0200"
    reversal: str = "0400"
    reversal_repeat: str = "0400"
    advice: str = "0220"
    advice_repeat: str = "0221"
    # the request MTI of each kind whose request is not ``request`` (cup: a refund is a 0220, a
    # pre-auth and its cancel 0100s); the runner fills it from the host profile
    by_kind: Mapping[Kind, str] = field(default_factory=lambda: {Kind.REFUND: "0220", Kind.PREAUTH: "0100",
                                                                 Kind.PREAUTH_VOID: "0100"})

    def request_for(self, kind: Kind) -> str:
        return self.by_kind.get(kind, self.request)


@dataclass(frozen=True)
class OperatorRules:
    """Sign-in and the supervisor's guard (``core/operators.py``); the defaults change nothing."""

    required: bool = False
    supervisor_for: frozenset[str] = frozenset()  # "void", "refund", "settle"
    max_tries: int = 3
    lockout_seconds: float = 60.0


@dataclass(frozen=True)
class CoreSettings:
    terminal_id: str = "12345678"
    merchant_id: str = "123456789012345"
    merchant_name: str = "POSTERM DEMO SHOP"
    operator: str = "01"
    currency: str = "156"
    currency_symbol: str = "CNY"
    exponent: int = 2
    max_amount: int = 99999999
    input_timeout: float = 60.0
    pin_required: bool = True
    response_timeout: float = 30.0
    reversal_retries: int = 3
    upload_interval: float = 60.0
    upload_window: int = 4  # offline sales in flight at once while the queue is forwarded (uplink.py)
    message_seconds: float = 5.0
    mac_required: bool = True  # the profile MACs its answers: an approval without a good MAC is reversed
    # what one batch may hold (cup's settlement counts in n3 and totals in n12): a transaction beyond
    # either is refused until the batch is settled, since a settlement that cannot carry its counts or
    # totals could never be sent (machine.py, ``_refused_start``)
    batch_capacity: int = 999
    batch_max_total: int = 10**12 - 1
    offline: OfflineLimits = field(default_factory=OfflineLimits)
    # the open batch's first transaction older than this: settle.overdue (overdue.py); None: never
    settle_max_age: timedelta | None = timedelta(hours=24)
    copies: tuple[Copy, ...] = (Copy.MERCHANT, Copy.CARDHOLDER)
    mtis: Mtis = field(default_factory=Mtis)
    response_texts: Mapping[str, str] = field(default_factory=dict)
    # each response text's display form, short enough to follow its code on the narrowest display
    # (``ProfileSpec.display_texts``, checked there): the screen's reason when the whole text does not fit
    display_texts: Mapping[str, str] = field(default_factory=dict)
    # the display's real width (its ``cols``, ``hal.display.MIN_COLS`` at least): every screen's choice of
    # what shares a line (screens.titled, _pair) is made with it, so nothing is cut by the display
    display_cols: int = 20
    # whether the display shows Chinese (the port's ``cjk``): a merchant name in Chinese is left out otherwise
    display_cjk: bool = True
    operators: OperatorRules = field(default_factory=OperatorRules)
    # what becomes of each kind's request left unanswered, as the host profile sends it (``HostBridge.recoveries``:
    # a kind sent as an advice is sent again, a reversible request reversed, an inquiry left): read through
    # ``recovery()``, the one place the core and the runner ask (cup's refund is a 0220 sent again; iso87's a
    # 0200 reversed as a sale is)
    recoveries: Mapping[Kind, Recovery] = field(default_factory=default_recoveries)
    # the host's civil time (host.time_zone; None: the terminal's own) and the terminal's, the zone of the core's
    # now (firmware.sysclock.system_zone; None: unknown, civil times are compared as they are): clock.py
    host_zone: tzinfo | None = None
    local_zone: tzinfo | None = None

    @classmethod
    def from_config(
        cls,
        config,
        *,
        mtis: Mtis | None = None,
        response_texts: Mapping[str, str] | None = None,
        mac_required: bool = True,
        batch_limits: tuple[int, int] = (999, 10**12 - 1),
        local_zone: tzinfo | None = None,
        recoveries: Mapping[Kind, Recovery] | None = None,
        display_texts: Mapping[str, str] | None = None,
        display_cols: int = 20,
        display_cjk: bool = True,
    ):
        """``local_zone``: the zone the system clock keeps (``firmware.sysclock.system_zone``), so that the
        host's time is compared with ours as an instant, across a change of summer time too."""
        t, o = config.terminal, config.offline
        host_zone = None
        if config.host.time_zone:
            from zoneinfo import ZoneInfo

            host_zone = ZoneInfo(config.host.time_zone)  # checked when the configuration was read
        return cls(
            terminal_id=t.terminal_id,
            merchant_id=t.merchant_id,
            merchant_name=t.merchant_name,
            operator=t.operator,
            currency=t.currency,
            currency_symbol=t.currency_symbol,
            exponent=t.currency_exponent,
            max_amount=config.sale.max_amount,
            input_timeout=config.sale.input_timeout,
            pin_required=config.sale.pin_required,
            message_seconds=config.sale.message_seconds,
            response_timeout=config.host.response_timeout,
            reversal_retries=config.host.reversal_retries,
            upload_interval=config.host.upload_interval,
            upload_window=config.host.upload_window,
            offline=OfflineLimits(o.enabled, o.floor_limit, o.max_count, o.max_amount, timedelta(hours=o.max_age_hours)),
            settle_max_age=timedelta(hours=config.settle.max_age_hours) if config.settle.max_age_hours else None,
            copies=tuple(Copy(c) for c in config.receipts.copies),
            mtis=mtis or Mtis(),
            response_texts=dict(response_texts or {}),
            display_texts=dict(display_texts or {}),
            display_cols=display_cols,
            display_cjk=display_cjk,
            mac_required=mac_required,
            batch_capacity=batch_limits[0],
            batch_max_total=batch_limits[1],
            operators=OperatorRules(config.operators.required, frozenset(config.operators.supervisor_for),
                                    config.operators.max_tries, config.operators.lockout_seconds),
            host_zone=host_zone,
            local_zone=local_zone,
            recoveries=dict(recoveries) if recoveries is not None else default_recoveries(),
        )

    def recovery(self, kind: Kind) -> Recovery:
        """What becomes of a request of ``kind`` the host may have seen but never answered usably."""
        found = self.recoveries.get(kind)
        return found if found is not None else FLOWS[kind].recovery

    def response_text(self, code: str | None) -> str:
        if not code:
            return "No response code"
        return self.response_texts.get(code, "Declined")

    def display_text(self, code: str | None) -> str:
        """The response text's display form (``display_texts``); the text itself where the profile has none."""
        if not code:
            return "NO CODE"
        return self.display_texts.get(code) or self.response_text(code)
