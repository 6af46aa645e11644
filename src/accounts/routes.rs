//! HTTP routes of accounts: register, login, logout, me, and admin user management.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{NewUser, Role, User};
use crate::App;
use crate::accounts;
use crate::accounts::Auth;
use crate::error::{Error, Result};
use crate::http::ErrorBody;
use crate::http::auth;
use crate::http::extract::{Json, Path, Query};

/// The routes of this module.
pub fn router() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me, update_me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user))
        .routes(routes!(reset_password))
        .routes(routes!(set_password))
}

/// `{user}`
#[derive(Serialize, ToSchema)]
pub struct UserEnvelope {
    pub user: User,
}

/// Login input.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Email address.
    pub email: String,
    pub password: String,
}

/// A successful login.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// The bearer token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    /// The signed-in user.
    pub user: User,
}

/// Create an account. New accounts are students.
#[utoipa::path(
    post, path = "/api/auth/register", tag = "accounts", request_body = NewUser,
    responses(
        (status = 201, body = UserEnvelope),
        (status = 409, description = "email_taken", body = ErrorBody),
        (status = 422, description = "invalid_input (email, password or full_name)", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody),
    )
)]
async fn register(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(input): Json<NewUser>,
) -> Result<(StatusCode, axum::Json<UserEnvelope>)> {
    app.limits.register.check(&peer.ip().to_string())?;
    // Hash before looking the email up: a taken address costs the same time as a free one.
    let prepared = crate::blocking(move || accounts::prepare(&input)).await?;
    let user = app
        .db
        .write(move |tx| accounts::register(tx, prepared))
        .await?;
    tracing::info!(user.id = user.id, "user registered");
    Ok((StatusCode::CREATED, axum::Json(UserEnvelope { user })))
}

/// Log in with email and password; returns a bearer token and sets it as an HttpOnly cookie for the web UI.
#[utoipa::path(
    post, path = "/api/auth/login", tag = "accounts", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "wrong email or password, or a disabled account", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody),
    )
)]
async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(input): Json<LoginRequest>,
) -> Result<Response> {
    accounts::login_allowed(&app, &input.email, peer.ip()).await?;
    let ttl = app.config.auth.token_ttl_secs;
    let (user, issued) = accounts::login(&app, &input.email, input.password, ttl).await?;
    let cookie = auth::token_cookie(&issued.token, ttl, app.config.auth.cookie_secure);
    let body = LoginResponse {
        access_token: issued.token,
        token_type: "bearer",
        expires_in: issued.expires_in,
        user,
    };
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(body)).into_response())
}

/// End this token's session (other sessions of the user stay signed in).
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "Logged out"), (status = 401, body = ErrorBody))
)]
async fn logout(State(app): State<Arc<App>>, user: Auth) -> Result<Response> {
    let me = user.0;
    app.db.write(move |tx| accounts::logout(tx, &me)).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, auth::clear_cookie())],
    )
        .into_response())
}

/// The caller's own account.
#[utoipa::path(
    get, path = "/api/users/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody))
)]
async fn me(State(app): State<Arc<App>>, user: Auth) -> Result<axum::Json<User>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db.read(move |c| accounts::me(c, &actor)).await?,
    ))
}

/// Your preferences.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Language for pages (`en`, `es`, `fr`, `pt`, `sw`) and messages (`en`, `es`); others fall back to English.
    #[schema(min_length = 2, max_length = 8)]
    pub language: Option<String>,
    /// Whether to get email (in-app notifications always arrive).
    pub email_notifications: Option<bool>,
}

/// Change your own preferences.
#[utoipa::path(
    patch, path = "/api/users/me", tag = "accounts", security(("bearer" = [])), request_body = Preferences,
    responses((status = 200, body = User), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody))
)]
async fn update_me(
    State(app): State<Arc<App>>,
    user: Auth,
    Json(p): Json<Preferences>,
) -> Result<axum::Json<User>> {
    let actor = user.actor();
    Ok(axum::Json(
        app.db
            .write(move |tx| {
                accounts::set_preferences(tx, &actor, p.language.as_deref(), p.email_notifications)
            })
            .await?,
    ))
}

/// Paging and search for the user list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Text to find in the email or name.
    pub q: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Users to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// A page of users.
#[derive(Serialize, ToSchema)]
pub struct UserPage {
    /// The users on this page, newest first.
    pub items: Vec<User>,
    /// Users matching in all.
    pub total: i64,
    /// The page size used.
    pub limit: i64,
    /// The offset used.
    pub offset: i64,
}

/// Checks `limit`/`offset` of a list request; returns them with defaults applied.
pub fn paging(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64)> {
    let limit = limit.unwrap_or(50);
    let offset = offset.unwrap_or(0);
    if !(1..=200).contains(&limit) {
        return Err(Error::invalid("limit", "limit must be between 1 and 200"));
    }
    if offset < 0 {
        return Err(Error::invalid("offset", "offset must not be negative"));
    }
    Ok((limit, offset))
}

/// List users (admins).
#[utoipa::path(
    get, path = "/api/users", tag = "accounts", security(("bearer" = [])), params(UserListQuery),
    responses(
        (status = 200, body = UserPage),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody),
    )
)]
async fn list_users(
    State(app): State<Arc<App>>,
    user: Auth,
    Query(query): Query<UserListQuery>,
) -> Result<axum::Json<UserPage>> {
    let actor = user.actor();
    let (limit, offset) = paging(query.limit, query.offset)?;
    let (items, total) = app
        .db
        .read(move |c| accounts::list_users(c, &actor, query.q.as_deref(), limit, offset))
        .await?;
    Ok(axum::Json(UserPage {
        items,
        total,
        limit,
        offset,
    }))
}

/// Changes to a user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// New role.
    pub role: Option<Role>,
    /// Disable (true) or re-enable (false). Disabling ends every session of the user at once.
    pub disabled: Option<bool>,
}

/// Change a user's role or disable them (admins). The last active admin cannot be demoted or disabled.
#[utoipa::path(
    patch, path = "/api/users/{id}", tag = "accounts", security(("bearer" = [])), request_body = UserUpdate,
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, body = User),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "last_admin", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn update_user(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
    Json(change): Json<UserUpdate>,
) -> Result<axum::Json<User>> {
    if change.role.is_none() && change.disabled.is_none() {
        return Err(Error::invalid("body", "give a role or disabled"));
    }
    let actor = user.actor();
    let updated = app
        .db
        .write(move |tx| accounts::update_user(tx, &actor, id, change.role, change.disabled))
        .await?;
    tracing::info!(user.id = id, by = user.0.id, "user updated");
    Ok(axum::Json(updated))
}

/// A new account, made by an admin.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminNewUser {
    /// Email address (the login).
    #[schema(max_length = 254, pattern = "^[^@\\s]+@[^@\\s]+$")]
    pub email: String,
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub full_name: String,
    pub role: Role,
}

/// A one-time link on which a user chooses their password.
#[derive(Serialize, ToSchema)]
pub struct PasswordLink {
    pub user: User,
    /// The link's path on this server (`/reset-password?token=…`); it works once.
    pub reset_path: String,
    /// The token in the link, for clients that call `POST /api/auth/password`.
    pub token: String,
    /// Seconds the link works if unused.
    pub expires_in: i64,
}

/// Create an account with any role (admins). It has no usable password: hand its owner the link in the
/// answer, on which they choose one.
#[utoipa::path(
    post, path = "/api/users", tag = "accounts", security(("bearer" = [])), request_body = AdminNewUser,
    responses(
        (status = 201, body = PasswordLink),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody),
        (status = 409, description = "email_taken", body = ErrorBody),
        (status = 422, description = "invalid_input (email or full_name)", body = ErrorBody),
    )
)]
async fn create_user(
    State(app): State<Arc<App>>,
    user: Auth,
    Json(input): Json<AdminNewUser>,
) -> Result<(StatusCode, axum::Json<PasswordLink>)> {
    let actor = user.actor();
    actor.require_admin()?;
    let link = add_user(&app, actor, input.email, input.full_name, input.role).await?;
    Ok((StatusCode::CREATED, axum::Json(link)))
}

/// Creates an account for an admin and makes its password link (the API's and the admin page's way).
pub async fn add_user(
    app: &App,
    actor: accounts::Actor,
    email: String,
    full_name: String,
    role: Role,
) -> Result<PasswordLink> {
    let prepared =
        crate::blocking(move || accounts::reset::prepare_account(&email, &full_name)).await?;
    let keys = app.tokens.clone();
    let (user, token) = app
        .db
        .write(move |tx| accounts::reset::create(tx, &actor, &keys, prepared, role))
        .await?;
    Ok(link(user, token))
}

fn link(user: User, token: String) -> PasswordLink {
    PasswordLink {
        user,
        reset_path: accounts::reset::link_path(&token),
        token,
        expires_in: accounts::reset::LINK_TTL_SECS,
    }
}

/// Make a user's password unusable, end their sessions, and get a one-time link on which they choose a new
/// one (admins).
#[utoipa::path(
    post, path = "/api/users/{id}/password-reset", tag = "accounts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, body = PasswordLink),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
async fn reset_password(
    State(app): State<Arc<App>>,
    user: Auth,
    Path(id): Path<i64>,
) -> Result<axum::Json<PasswordLink>> {
    Ok(axum::Json(start_reset(&app, user.actor(), id).await?))
}

/// Opens a user's password link (the API's and the admin page's way).
pub async fn start_reset(app: &App, actor: accounts::Actor, id: i64) -> Result<PasswordLink> {
    let keys = app.tokens.clone();
    let (user, token) = app
        .db
        .write(move |tx| {
            let token = accounts::reset::start(tx, &actor, &keys, id)?;
            Ok((
                accounts::user(tx, &actor, id)?.ok_or(Error::NotFound)?,
                token,
            ))
        })
        .await?;
    tracing::info!(user.id = id, "password link made");
    Ok(link(user, token))
}

/// A password chosen on a one-time link.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// The token of the link.
    pub token: String,
    /// 8 to 128 characters, not one of the most common, not the email address.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// Choose a password with a one-time link from an admin; the link then stops working. Log in afterwards.
#[utoipa::path(
    post, path = "/api/auth/password", tag = "accounts", request_body = NewPassword,
    responses(
        (status = 204, description = "The password is set"),
        (status = 422, description = "invalid_input: on `token` when the link expired or was used, on `password` when the policy refuses it", body = ErrorBody),
    )
)]
async fn set_password(
    State(app): State<Arc<App>>,
    Json(input): Json<NewPassword>,
) -> Result<StatusCode> {
    choose_password(&app, input.token, input.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the password chosen on a link (the API's and the page's way); returns the account.
pub async fn choose_password(app: &App, token: String, password: String) -> Result<User> {
    let (keys, check) = (app.tokens.clone(), token.clone());
    let user = app
        .db
        .read(move |c| accounts::reset::account(c, &keys, &check))
        .await?;
    let email = user.email;
    let hash = crate::blocking(move || accounts::reset::hash_new(&password, &email)).await?;
    let keys = app.tokens.clone();
    app.db
        .write(move |tx| accounts::reset::finish(tx, &keys, &token, &hash))
        .await
}
