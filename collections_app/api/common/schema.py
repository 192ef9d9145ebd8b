"""What drf-spectacular needs to document this API fully: the token scheme (so Swagger UI at
/api/v1/docs/ can authorise with `Token <key>`). Imported by api/common/auth.py, so the extension is
registered whenever the authentication class is."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "collections_app.api.common.auth.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An API client's token, prefixed with `Token `: `Token <key>` "
            "(`manage.py api_client_create NAME --scopes a,b` prints one).",
        }
