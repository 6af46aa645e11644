//! The page of a one-time password link: the owner of an account an admin made or opened again chooses
//! their password here, and is signed in.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderName, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::context;
use serde::Deserialize;

use super::{Viewer, render};
use crate::App;
use crate::accounts;

/// The link's token is in the page's URL: no cache keeps the page and no `Referer` carries the URL on.
pub(super) const PRIVATE: [(HeaderName, &str); 2] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
];

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/reset-password", get(page).post(choose))
}

#[derive(Deserialize)]
struct LinkQuery {
    #[serde(default)]
    token: String,
}

async fn page(State(app): State<Arc<App>>, viewer: Viewer, Query(q): Query<LinkQuery>) -> Response {
    let (keys, token) = (app.tokens.clone(), q.token.clone());
    let found = app
        .db
        .read(move |c| accounts::reset::account(c, &keys, &token))
        .await;
    let (status, account, error) = match found {
        Ok(user) => (axum::http::StatusCode::OK, Some(user), None),
        Err(e) => (e.status(), None, Some(e.to_string())),
    };
    (
        status,
        PRIVATE,
        render(
            "reset_password.html",
            &viewer,
            "Choose your password",
            context! { account, error, token => q.token },
        ),
    )
        .into_response()
}

#[derive(Deserialize)]
struct ChooseForm {
    token: String,
    password: String,
}

async fn choose(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Form(f): Form<ChooseForm>,
) -> Response {
    let attempt = async {
        let user =
            accounts::routes::choose_password(&app, f.token.clone(), f.password.clone()).await?;
        super::pages::sign_in(&app, user.email, f.password.clone(), "/").await
    };
    match attempt.await {
        Ok(r) => r,
        Err(e) => {
            let (keys, token) = (app.tokens.clone(), f.token.clone());
            let account = app
                .db
                .read(move |c| accounts::reset::account(c, &keys, &token))
                .await
                .ok();
            (
                e.status(),
                PRIVATE,
                render(
                    "reset_password.html",
                    &viewer,
                    "Choose your password",
                    context! { account, error => e.to_string(), token => f.token },
                ),
            )
                .into_response()
        }
    }
}
