"""Alerts that reach people: findings of the MON rules become alerts (open -> acknowledged ->
resolved, one per rule and source, with a cool-down), delivered by webhook and e-mail."""

from pitfalls.alerts.delivery import Delivery, EmailChannel, WebhookChannel, notify
from pitfalls.alerts.state import Alert, AlertManager, AlertStore, MemoryAlertStore

__all__ = ["Alert", "AlertManager", "AlertStore", "Delivery", "EmailChannel",
           "MemoryAlertStore", "WebhookChannel", "notify"]
