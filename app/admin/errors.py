"""What the admin side refuses.

NodeError
├── Unauthorized
│   └── AdminUnauthorized        (no or a wrong admin credential, or an expired session)
│       └── AdminNotConfigured   (no admin password set and no ADMIN_TOKEN)
├── LoginThrottled               (too many failed logins from one address: wait)
└── CrossOriginRefused           (a state-changing admin request from another origin)
"""

from app.errors import NodeError, Unauthorized


class AdminUnauthorized(Unauthorized):
    default_message = "admin login required"


class AdminNotConfigured(AdminUnauthorized):
    default_message = (
        "no admin credential is set: run `python -m app admin set-password` or set ADMIN_TOKEN, then log in"
    )


class LoginThrottled(NodeError):
    default_message = "too many failed admin logins from this address; try again later"


class CrossOriginRefused(NodeError):
    default_message = "admin requests that change state must come from the node's own origin"
