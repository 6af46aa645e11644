//! The parts of the OpenAPI document that no route declares: its header, the bearer scheme, and the error
//! answers every route can give. The routes' own parts come from their `#[utoipa::path]` annotations.

use utoipa::OpenApi;

use super::{ErrorBody, ErrorDetail};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SmartCourse API",
        description = "The HTTP API of SmartCourse, an offline learning platform. Errors are answered as \
                       `{\"error\": {\"code\", \"message\"}}` with a stable snake_case code.",
        license(name = "Apache-2.0"),
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "system", description = "Health, metrics and this document"),
        (name = "accounts", description = "Registration, login and user management"),
        (name = "courses", description = "Courses, modules, lessons and attachments"),
        (name = "jobs", description = "Workflows and background jobs"),
        (name = "enrollment", description = "Joining and leaving courses"),
        (name = "progress", description = "Completed lessons and course progress"),
        (name = "notifications", description = "The in-app inbox"),
        (name = "analytics", description = "Enrollment and completion reports"),
    ),
)]
struct ApiDoc;

/// Documents the answers every route can give besides its own: a malformed request (400), no or a bad token
/// on routes that need one (401), input out of range (422), the rate limit (429) and storage trouble (503,
/// 507).
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder};
        let error = |description: &str| -> RefOr<utoipa::openapi::Response> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in api.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut add = |code: &str, what: &str| {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(what));
                };
                add("400", "bad_request: the request is malformed");
                // Routes open to anonymous callers still refuse a token that is not valid (expired, revoked).
                add(
                    "401",
                    if secured {
                        "unauthorized: no token, or one that is not valid"
                    } else {
                        "unauthorized: the token sent is not valid (expired or revoked)"
                    },
                );
                add(
                    "422",
                    "invalid_input: a value is out of range (the field is named)",
                );
                add("429", "rate_limited: too many requests; see Retry-After");
                add(
                    "503",
                    "unavailable: storage is busy or a request took too long",
                );
                add("507", "storage_full: the server's disk is full");
            }
        }
    }
}

/// Declares the bearer-token security scheme that routes refer to as `bearer`.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document before any route is added.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Completes a document that has every route: this version, and the common error answers on each operation.
pub fn finish(api: &mut utoipa::openapi::OpenApi) {
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    utoipa::Modify::modify(&CommonResponses, api);
}
