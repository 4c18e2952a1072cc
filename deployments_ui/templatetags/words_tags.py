"""The words console.js shows, in the reader's language: one JSON catalogue per page."""

from __future__ import annotations

from django import template
from django.utils.html import escape, json_script
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

register = template.Library()


@register.simple_tag(takes_context=True)
def script_words(context) -> SafeString:
    """`<script type="application/json" id="console-words">`: every message console.js writes;
    `%(name)s` placeholders are filled in by the script."""
    words = {
        "close": gettext("Close this message"),
        "open": gettext("Open"),
        "403": gettext("You do not have permission to do that."),
        "404": gettext("That page no longer exists."),
        "500": gettext("Something went wrong in the console. Please try again."),
        "error": gettext("Something went wrong (error %(status)s)."),
        "unreachable": gettext(
            "The console could not be reached. Check your connection and try again."
        ),
        "open_request": gettext("Open the change request"),
        "yes_enable": gettext("Yes, enable it"),
        "yes_disable": gettext("Yes, disable it"),
        "yes_schedule": gettext("Yes, schedule it"),
        "reason": gettext("Reason"),
        "reason_optional": gettext("Reason (optional)"),
        "active": gettext("(%(count)s active)"),
    }
    tag = json_script(words, "console-words")
    nonce = context.get("csp_nonce")
    if not nonce:
        return tag
    # Data, never run; it still carries the policy's nonce, like every script on the page.
    return mark_safe(tag.replace("<script ", f'<script nonce="{escape(nonce)}" ', 1))  # noqa: S308
