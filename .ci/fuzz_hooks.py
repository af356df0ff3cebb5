"""Schemathesis hooks for `.ci/fuzz` (loaded through SCHEMATHESIS_HOOKS).

The run authenticates every request with one admin's bearer token. Of everything the fuzzer can
generate, only one request ends that token's session: `PATCH /users/{id}` on that admin with a
`password` (setting a password ends the user's sessions, as documented). Deleting, demoting or
disabling yourself is refused (409), `/auth/password` needs the current password and
`/auth/logout` a refresh token, neither of which the fuzzer has. So the `password` field is
dropped from that one request; the rest of it, and every other request, goes out as generated.
"""

import os

import schemathesis

FUZZ_ADMIN_ID = os.environ["FUZZ_ADMIN_ID"]


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if (
        case.operation.method.upper() == "PATCH"
        and case.operation.path == "/users/{id}"
        and (case.path_parameters or {}).get("id") == FUZZ_ADMIN_ID
        and isinstance(case.body, dict)
    ):
        case.body.pop("password", None)


# Resumable-upload bodies (`PATCH /uploads/{id}`, and `POST /uploads` with creation-with-upload)
# are raw bytes under tus's own media type: send them as generated, like any octet stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
