"""What the gateway and the CLI do, as plain functions of (engine, principal, input).

HTTP routes and CLI commands are thin wrappers over these, so both enforce the same rules and
return the same error codes. Every read or write of tenant data runs in `scoped(...)`: the
gateway's role checks come first, PostgreSQL row-level security underneath (a query that forgot
its tenant filter still sees only the caller's tenants).

One module per section: common (checks), accounts, tenancy, work (novels and requests), traces
(and artifacts), feedback; this package re-exports them as `service.<function>`.
"""

from nf_gateway.service.accounts import (
    change_password,
    create_api_token,
    list_api_tokens,
    login,
    logout,
    maintain,
    reset_password,
    revoke_api_token,
    set_user_disabled,
    whoami,
)
from nf_gateway.service.common import (
    authorize_project,
    check_email,
    clean_text,
    parse_uuid,
    require_project,
    utcnow,
)
from nf_gateway.service.feedback import FEEDBACK_TARGETS, post_feedback
from nf_gateway.service.tenancy import (
    INVITED_HASH,
    add_membership,
    create_project,
    create_tenant,
    create_user,
    list_memberships,
    list_projects,
    remove_membership,
)
from nf_gateway.service.traces import (
    ART_COLS,
    EVENT_COLS,
    JOB_COLS,
    RUN_COLS,
    get_artifact,
    get_trace,
)
from nf_gateway.service.work import (
    CHAPTER_MEDIA,
    cancel_request,
    list_chapters,
    list_novels,
    list_requests,
    request_status,
    submit_request,
    upload_novel,
)

__all__ = [
    "ART_COLS",
    "CHAPTER_MEDIA",
    "EVENT_COLS",
    "FEEDBACK_TARGETS",
    "INVITED_HASH",
    "JOB_COLS",
    "RUN_COLS",
    "add_membership",
    "authorize_project",
    "cancel_request",
    "change_password",
    "check_email",
    "clean_text",
    "create_api_token",
    "create_project",
    "create_tenant",
    "create_user",
    "get_artifact",
    "get_trace",
    "list_api_tokens",
    "list_chapters",
    "list_memberships",
    "list_novels",
    "list_projects",
    "list_requests",
    "login",
    "logout",
    "maintain",
    "parse_uuid",
    "post_feedback",
    "remove_membership",
    "request_status",
    "require_project",
    "reset_password",
    "revoke_api_token",
    "set_user_disabled",
    "submit_request",
    "upload_novel",
    "utcnow",
    "whoami",
]
