"""Import the filter's own modules (jwt_crypto, jwt_token, ...) into the test process, as
plain CPython modules: they are stdlib-only, so their logic can be checked directly."""

from __future__ import annotations

import sys

from ..conftest import PROJECT

FILTER_DIR = str(PROJECT / "filters" / "jwt_authn")
if FILTER_DIR not in sys.path:
    sys.path.insert(0, FILTER_DIR)

import jwt_crypto  # noqa: E402
import jwt_eddsa  # noqa: E402
import jwt_extract  # noqa: E402
import jwt_jwks  # noqa: E402
import jwt_json  # noqa: E402
import jwt_token  # noqa: E402
import jwt_x509  # noqa: E402

__all__ = ["jwt_crypto", "jwt_eddsa", "jwt_extract", "jwt_jwks", "jwt_json", "jwt_token",
           "jwt_x509"]
