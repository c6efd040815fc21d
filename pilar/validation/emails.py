"""What an email address must be, for every place that takes one (API and CLI).

The rule is narrower than RFC 5322's grammar on purpose, and narrower than
both checks it replaces (marshmallow's ``Email`` for the API, a loose pattern
for the command line): an address must be one a mail server will deliver
to, as written.

- At most 320 characters, 64 of them before the ``@`` (RFC 5321's limits).
- The local part is a dot-atom: letters, digits (any script: RFC 6531) and
  ``!#$%&'*+-/=?^_`{|}~``, in runs that single dots join. No quoted local
  parts, which RFC 5321 (4.1.2) asks mailbox owners not to use.
- The domain is a host name of two labels or more: letters and digits of any
  script (IDN) and inner hyphens, 1 to 63 of them a label; the last label has
  2 or more and is not all digits. No ``localhost``, no address literal such
  as ``[192.0.2.1]``: neither reaches anyone from outside.
"""

from __future__ import annotations

import re

MAX_LENGTH = 320
MAX_LOCAL_PART_LENGTH = 64
MAX_LABEL_LENGTH = 63

# atext (RFC 5322 3.2.3) with \w's letters and digits of every script, in
# dot-separated runs: no leading, trailing or doubled dot.
_ATEXT = r"[-!#$%&'*+/=?^`{|}~\w]"
_LOCAL_PART_RE = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")


def within_limits(email: str) -> bool:
    """Tell whether ``email`` has at most 320 characters, 64 of them before the @."""
    local_part = email.rpartition("@")[0]
    return len(email) <= MAX_LENGTH and len(local_part) <= MAX_LOCAL_PART_LENGTH


def is_valid_email(email: str) -> bool:
    """Tell whether ``email`` is an address the API and the CLI accept.

    The module's docstring states the rule.
    """
    local_part, at, domain = email.partition("@")
    return (
        bool(at)
        and within_limits(email)
        and _LOCAL_PART_RE.fullmatch(local_part) is not None
        and _is_domain(domain)
    )


def _is_domain(domain: str) -> bool:
    labels = domain.split(".")
    top = labels[-1]
    return (
        len(labels) >= 2
        and all(_is_label(label) for label in labels)
        and len(top) >= 2
        and not top.isdigit()
    )


def _is_label(label: str) -> bool:
    # str.isalnum() is \w without the underscore: letters and digits of any
    # script, as an internationalized domain name has them.
    return (
        0 < len(label) <= MAX_LABEL_LENGTH
        and label[0] != "-"
        and label[-1] != "-"
        and label.replace("-", "").isalnum()
    )
